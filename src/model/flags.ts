// The `flags` KV document: feature flags evaluated at the edge (src/flags). Pure module, shared by
// the Worker and the CLI's `flags validate`. Every field is documented in docs/storage-schema.md.
//
// Why a key of its own and not a field of `rollout`: any change to `rollout` is a new attempt of
// the canary (its health window starts again), and a flag is switched far more often than a
// release ships; a flag document with a typo must not hold back a rollback's document, nor the
// other way round; and OFREP's bulk ETag is then simply this document's fingerprint.
//
// Shape (a boolean flag needs only what differs from the defaults):
//   {"flags": {"new-checkout": {"rollout": {"percent": 10}}}}
// is "new-checkout" on for 10 % of visitors: variations {"off": false, "on": true}, served "off"
// when switched off or outside the 10 %.
import * as z from "../lib/zod";
import { hasCondition, label, list, percent, rollbackSchema, ruleConditions, ruleName } from "./rollout";
import { utf8Bytes } from "../lib/utf8";
import { asciiJson } from "../lib/ascii-json";
import { goalsSchema } from "./goals";
import { fingerprintOf } from "./fingerprint";

/** Far above real use, and small enough that every isolate evaluates all of them per request cheaply. */
export const FLAG_LIMITS = {
  flags: 200,
  variations: 20,
  rules: 20,
  /** A string variation's characters; JSON variations: compact JSON bytes. */
  stringChars: 1024,
  jsonBytes: 4096,
  /**
   * x-edgeshift-flags at its longest. The origin's limits bind before Cloudflare's (128 KB of request
   * headers, developers.cloudflare.com/workers/platform/limits/): Node's HTTP server takes 16 KiB
   * of headers in all (`--max-http-header-size`), nginx 8 KiB per header line
   * (`large_client_header_buffers`), gunicorn and Apache 8,190 bytes per line. 4 KiB leaves the
   * app's own headers and cookies their room under all of them; a header a default origin refuses
   * would fail every request with a 4xx no guard counts.
   */
  originHeaderBytes: 4 * 1024,
  /**
   * Guarded flags: each adds two arms of counters and contributors to every isolate's report and a
   * window and ledgers to the controller, so a report stays small and one object keeps up.
   */
  guarded: 5,
} as const;

/** Flag and variation names: they travel in a header (x-edgeshift-flags) and in OFREP URLs. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const nameError = (what: string, example: string) =>
  `${what} must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit, e.g. "${example}"`;
export const flagKeySchema = z.string().check(z.regex(NAME, nameError("a flag's key", "new-checkout")));
const variationName = z.string().check(z.regex(NAME, nameError("a variation's name", "on")));

export type FlagValue = boolean | string | number | Record<string, unknown> | unknown[];

const value = z.unknown().check(
  z.superRefine((v, ctx) => {
    const problem = valueProblem(v);
    if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
  }),
);

/** Why `v` cannot be a variation's value, or null. */
function valueProblem(v: unknown): string | null {
  if (typeof v === "boolean") return null;
  if (typeof v === "number") return Number.isFinite(v) ? null : "a number variation must be finite";
  if (typeof v === "string")
    return v.length <= FLAG_LIMITS.stringChars
      ? null
      : `a string variation may be at most ${FLAG_LIMITS.stringChars} characters: keep large content in your app and name it here`;
  if (v !== null && typeof v === "object") {
    const bytes = utf8Bytes(JSON.stringify(v));
    return bytes <= FLAG_LIMITS.jsonBytes
      ? null
      : `a JSON variation may be at most ${FLAG_LIMITS.jsonBytes} bytes as compact JSON (got ${bytes}): it is sent with requests`;
  }
  return "a variation's value must be true/false, a string, a number, or a JSON object or array (not null)";
}

/** The type OpenFeature resolves a value as (a flag's variations all share one). */
export function typeOfValue(v: FlagValue): "boolean" | "string" | "number" | "object" {
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  return typeof v === "number" ? "number" : "object";
}

const weight = z
  .number({ error: "a split weight must be a number above 0, e.g. 50 (weights are relative: 50 and 50 is half each)" })
  .check(z.positive("a split weight must be above 0, e.g. 50 (weights are relative: 50 and 50 is half each)"));

const flagRule = z
  .strictObject({
    name: ruleName,
    /** The variation a matching request gets. */
    variation: variationName,
    ...ruleConditions,
  })
  .check(hasCondition);

export const flagSchema = z
  .strictObject({
    description: z.optional(z.string().check(z.maxLength(500, "description may be at most 500 characters"))),
    /** The kill switch: false serves `off` to everyone, whatever the rules and rollout say. */
    on: z._default(z.boolean({ error: "on must be true or false (false serves the off variation to everyone)" }), true),
    variations: z._default(
      z.record(variationName, value).check(
        z.refine(
          (v) => Object.keys(v).length >= 1,
          'variations needs at least one entry, e.g. {"off": false, "on": true}',
        ),
        z.refine(
          (v) => Object.keys(v).length <= FLAG_LIMITS.variations,
          `a flag may have at most ${FLAG_LIMITS.variations} variations`,
        ),
      ),
      { off: false, on: true },
    ),
    /** Served while `on` is false. Default: "off" if there is one, else the first variation. */
    off: z.optional(variationName),
    /** Served while on when no rule matches and the visitor is outside the rollout. Default: `off`'s. */
    default: z.optional(variationName),
    /**
     * Share of visitors (by the same sticky key as the split, hashed with this flag's salt) who get
     * a variation of `split` instead of `default`. Raising `percent` only adds visitors.
     */
    rollout: z.optional(
      z.strictObject({
        percent: percent("rollout.percent"),
        /** Relative weights of the variations served inside the rollout. Default: the one non-default variation. */
        split: z.optional(z.record(variationName, weight)),
      }),
    ),
    rules: z._default(list(flagRule, "rules", FLAG_LIMITS.rules, "put several values in one rule's list instead"), []),
    /** Bucketing salt. Default: the flag's key, so one flag's bucket says nothing about another's. */
    salt: z.optional(label("salt", 128, "checkout-2026", "is a label")),
    /** Sent to the origin in x-edgeshift-flags. */
    origin: z._default(z.boolean(), true),
    /** Served to unauthenticated OFREP callers (browsers). Off by default: a flag can name unreleased work. */
    browser: z._default(z.boolean(), false),
    /**
     * Guarded: the rollout's variations (treatment) are judged against `default` (control) by the
     * canary's rules (src/health), on the requests of visitors bucketed into either, and the flag
     * is switched off on a regression. `true` takes the rollback rules' defaults.
     */
    guard: z._default(
      z.union(
        [
          z.literal(false),
          z.pipe(
            z.literal(true),
            z.transform(() => rollbackSchema.parse({})),
          ),
          rollbackSchema,
        ],
        {
          error:
            'guard must be false, true (the rollback rules\' defaults) or rollback rules such as {"maxErrorRate": 0.02}',
        },
      ),
      false,
    ),
  })
  .check(
    z.superRefine((f, ctx) => {
      const names = Object.keys(f.variations);
      const known = (n: string) => names.includes(n);
      const miss = (path: PropertyKey[], n: string, what: string) =>
        ctx.addIssue({
          code: "custom",
          path,
          message: `${what} "${n}" is not one of this flag's variations (${names.join(", ")})`,
        });
      const types = new Set(Object.values(f.variations).map((v) => typeOfValue(v as FlagValue)));
      if (types.size > 1)
        ctx.addIssue({
          code: "custom",
          path: ["variations"],
          message: `a flag's variations must all be of one type, so an SDK can read them as one (got ${[...types].join(" and ")})`,
        });
      if (f.off !== undefined && !known(f.off)) miss(["off"], f.off, "off");
      else if (f.off === undefined && !known("off") && names.length > 1 && f.default === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["off"],
          message: `name the variation served when the flag is off (no variation is called "off"), e.g. "off": "${names[0]}"`,
        });
      if (f.default !== undefined && !known(f.default)) miss(["default"], f.default, "default");
      f.rules.forEach((r, i) => {
        if (!known(r.variation)) miss(["rules", i, "variation"], r.variation, "variation");
      });
      if (f.guard !== false && f.rollout === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["guard"],
          message:
            'a guard judges the rollout\'s variations against the default: give the flag a rollout, e.g. "rollout": {"percent": 10}',
        });
      const split = f.rollout?.split;
      if (split !== undefined) {
        for (const n of Object.keys(split)) if (!known(n)) miss(["rollout", "split", n], n, "split entry");
        if (Object.keys(split).length === 0)
          ctx.addIssue({
            code: "custom",
            path: ["rollout", "split"],
            message: 'split needs at least one variation, e.g. {"on": 1}',
          });
      } else if (f.rollout !== undefined) {
        const fallback = defaultOf(f);
        const others = names.filter((n) => n !== fallback);
        if (others.length !== 1)
          ctx.addIssue({
            code: "custom",
            path: ["rollout", "split"],
            message: `with ${others.length} variations besides the default "${fallback}", say how the rollout splits them, e.g. "split": {${others
              .slice(0, 2)
              .map((n) => `"${n}": 50`)
              .join(", ")}}`,
          });
      }
    }),
  );

export type FlagInput = z.input<typeof flagSchema>;
export type Flag = z.output<typeof flagSchema>;

export const flagsDocumentSchema = z.strictObject({
  flags: z._default(
    z.record(flagKeySchema, flagSchema).check(
      z.refine(
        (f) => Object.keys(f).length <= FLAG_LIMITS.flags,
        `at most ${FLAG_LIMITS.flags} flags: remove flags that are fully rolled out (and their checks in the app)`,
      ),
      z.refine(
        (f) => Object.values(f).filter((x) => x.guard !== false).length <= FLAG_LIMITS.guarded,
        `at most ${FLAG_LIMITS.guarded} guarded flags: each adds to every isolate's report; keep guards for the flags under rollout now`,
      ),
      z.superRefine((f, ctx) => {
        const bytes = largestOriginHeader(f);
        if (bytes > FLAG_LIMITS.originHeaderBytes)
          ctx.addIssue({
            code: "custom",
            message: `the flags sent to the origin could make x-edgeshift-flags ${bytes} bytes, over ${FLAG_LIMITS.originHeaderBytes}: set "origin": false on flags the origin does not read, or make JSON variations smaller (origins refuse long headers: nginx 8 KiB a line, Node 16 KiB in all)`,
          });
      }),
    ),
    {},
  ),
  /** What counts as a conversion for experiments (./goals.ts): here, so a goal costs no KV read of its own. */
  goals: goalsSchema,
});

/** The longest x-edgeshift-flags value the flags could produce (each flag at its longest variation). */
export function largestOriginHeader(flags: Record<string, Flag>): number {
  let n = 2;
  for (const [key, f] of Object.entries(flags)) {
    if (!f.origin) continue;
    let longest = 0;
    for (const v of Object.values(f.variations)) longest = Math.max(longest, asciiJson(v).length);
    n += asciiJson(key).length + 1 + longest + 1;
  }
  return n;
}
export type FlagsDocument = z.output<typeof flagsDocumentSchema>;

/** No `flags` key: no flags, nothing sent, nothing evaluated. */
export const NO_FLAGS: FlagsDocument = { flags: {}, goals: {} };

/** The variation served while the flag is off. */
export function offOf(f: Pick<Flag, "off" | "variations" | "default">): string {
  if (f.off !== undefined) return f.off;
  if ("off" in f.variations) return "off";
  return f.default ?? Object.keys(f.variations)[0];
}

/** The variation served while on and nothing else decides. */
export function defaultOf(f: Pick<Flag, "off" | "variations" | "default">): string {
  return f.default ?? offOf(f);
}

/**
 * What a guard judges of a flag, hashed: its variations, rollout, rules, salt and guard rules — not
 * `on`, `description`, `browser` or `origin`, which change neither arm. A guard's comparison, and a
 * kill, hold for exactly one definition (src/flags/guard.ts, src/worker/flags.ts).
 */
export function definitionOf(f: Flag): string {
  return fingerprintOf(
    JSON.stringify({ ...f, on: undefined, description: undefined, browser: undefined, origin: undefined }),
  );
}
