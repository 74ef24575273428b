// token: mint a tester override token (HMAC with OVERRIDE_SECRET, with an expiry) that forces its
// holder onto a slot, e.g. a QA engineer onto the canary at 0 %, and/or onto flag variations.
// Offline: no KV, no API.
import { z } from "zod";
import {
  MAX_FLAG_OVERRIDES,
  OVERRIDE_COOKIE,
  OVERRIDE_HEADER,
  mintOverride,
  type OverrideTarget,
} from "../../src/routing/override";
import { EXIT, check, durationArg, usageError } from "../args";
import type { Command } from "../command";

const targetArg = z.enum(["canary", "stable", "blue", "green"], {
  error: 'must be "canary", "stable", "blue" or "green"',
});

export const token: Command = {
  name: "token",
  usage: "token [--target <slot>] [--flag <key>=<variation>]… [--ttl <duration>] [--sub <name>]",
  summary:
    "Mint a tester override token that sends its holder to a slot (even at 0 %) and/or flag variations, signed with OVERRIDE_SECRET, with an expiry.",
  details: [
    `Testers send it as the ${OVERRIDE_HEADER} header or the ${OVERRIDE_COOKIE} cookie. An unsigned, tampered or expired`,
    "token is ignored. A rolled-back canary is never reachable, token or not. The token goes to stdout, the",
    "explanation to stderr, so `$(edgeshift token …)` captures just the token.",
    "",
    "Examples:",
    "  OVERRIDE_SECRET=… edgeshift token --target canary --ttl 8h --sub alice",
    "  OVERRIDE_SECRET=… edgeshift token --flag new-checkout=on --flag theme=dark --sub qa   (flags only: the slot as usual)",
    `  curl -H "${OVERRIDE_HEADER}: $(edgeshift token --target canary)" https://app.example.com/`,
  ].join("\n"),
  options: {
    target: {
      type: "string",
      value: "<slot>",
      help: "canary | stable | blue | green (canary/stable follow the roles at request time; default canary unless --flag is given)",
    },
    flag: {
      type: "string",
      multiple: true,
      value: "<key>=<variation>",
      help: `serve this flag's variation to the holder (repeat, at most ${MAX_FLAG_OVERRIDES}); a variation the flag lacks is ignored`,
    },
    ttl: { type: "string", value: "<duration>", help: "how long it is valid: 30m, 8h, 7d (default 8h, at most 30d)" },
    sub: { type: "string", value: "<name>", help: "who it is for (shown in explain headers and logs)" },
    secret: {
      type: "string",
      value: "<secret>",
      help: "the Worker's OVERRIDE_SECRET (env OVERRIDE_SECRET; prefer the env: flags land in shell history)",
    },
  },
  async run(a, io) {
    if (a.positionals.length)
      throw usageError(`token takes no positional argument (got "${a.positionals[0]}"); use --target canary`);
    const flags = flagsOf((a.values.flag as string[] | undefined) ?? []);
    const target =
      a.values.target === undefined && flags !== undefined
        ? undefined
        : (check(targetArg, a.values.target ?? "canary", "--target") as OverrideTarget);
    const ttlSeconds = check(durationArg, a.values.ttl ?? "8h", "--ttl");
    const sub = a.values.sub as string | undefined;
    const secret = (a.values.secret as string | undefined) ?? io.env.OVERRIDE_SECRET;
    if (!secret)
      throw usageError(
        "no secret: set OVERRIDE_SECRET in the environment (the value given to `wrangler secret put OVERRIDE_SECRET`) or pass --secret",
      );
    let tok: string;
    try {
      tok = await mintOverride(secret, {
        ...(target !== undefined ? { target } : {}),
        ...(flags !== undefined ? { flags } : {}),
        ttlSeconds,
        ...(sub !== undefined ? { sub } : {}),
      });
    } catch (e) {
      // The minting module names the field and the fix (secret length, sub characters, lifetime).
      throw usageError((e as Error).message);
    }
    io.out(tok);
    io.err(
      `override → ${[target, ...Object.entries(flags ?? {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(", ")}${sub ? ` for ${sub}` : ""}, valid until ${new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000).toISOString()}`,
    );
    io.err(`send it as the header "${OVERRIDE_HEADER}: <token>" or the cookie ${OVERRIDE_COOKIE}=<token>`);
    return EXIT.OK;
  },
};

/** `--flag key=variation`, repeated → the token's flags claim (names checked by mintOverride). */
function flagsOf(given: string[]): Record<string, string> | undefined {
  if (given.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const g of given) {
    const i = g.indexOf("=");
    if (i <= 0 || i === g.length - 1)
      throw usageError(`--flag ${JSON.stringify(g)}: write <flag key>=<variation>, e.g. --flag new-checkout=on`);
    out[g.slice(0, i)] = g.slice(i + 1);
  }
  return out;
}
