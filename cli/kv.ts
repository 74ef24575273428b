// Reads and writes the KV documents (`rollout`, `flags`) the way the design intends an operator to:
// through `wrangler kv key get/put --binding ROLLOUT_CONFIG <key>`, remote by default, `--local` for
// `wrangler dev`. Nothing here talks to KV any other way, so the CLI needs no extra credentials.
import path from "node:path";
import { runWrangler } from "./wrangler";
import { CliError, EXIT } from "./args";
import { shellWord } from "./shell-word";

export interface KvTarget {
  local: boolean;
  /** Local state directory (as given to `wrangler dev --persist-to`); only with `local`. */
  persistTo?: string;
  /** wrangler config file; default: wrangler.toml of this project. */
  config?: string;
  /** wrangler environment (`[env.NAME]`). */
  env?: string;
  /** Ends a wrangler command under way, and refuses new ones (the demo stopping: cli/wrangler.ts). */
  signal?: AbortSignal;
}

export function describeKv(t: KvTarget): string {
  const base = t.local
    ? `local KV${t.persistTo ? ` in ${t.persistTo}` : " (.wrangler/state)"}`
    : "remote KV (Cloudflare)";
  return base + (t.env ? `, env ${t.env}` : "") + (t.config ? `, config ${t.config}` : "");
}

/**
 * The wrangler flags that reach `t` (null: the controller's KV, whatever it is), shell-quoted, for a
 * command a person copies from a hint: --remote or --local, and --persist-to, --config, --env as the
 * command used them. wrangler 4's `kv key` commands default to local storage, so a hint without
 * `--remote` would change a file on the operator's machine and leave production as it was; one
 * without `--env` would write the top-level namespace instead of the environment's.
 */
export function kvFlagsFor(t: KvTarget | null): string {
  if (t === null) return "--remote (--local against wrangler dev)";
  return kvArgs(t).slice(2).map(shellWord).join(" ");
}

function kvArgs(t: KvTarget): string[] {
  const a = ["--binding", "ROLLOUT_CONFIG"];
  if (t.local) a.push("--local");
  else a.push("--remote");
  // wrangler runs from the project root; resolve the operator's relative paths against their cwd.
  if (t.persistTo) a.push("--persist-to", path.resolve(t.persistTo));
  if (t.config) a.push("--config", path.resolve(t.config));
  if (t.env) a.push("--env", t.env);
  return a;
}

/** The document's text, or null when the key does not exist (`rollout`: everyone on stable; `flags`: none). */
export async function readDocText(t: KvTarget, key: string): Promise<string | null> {
  let out: string;
  try {
    out = (await runWrangler(["kv", "key", "get", key, "--text", ...kvArgs(t)], { signal: t.signal })).stdout;
  } catch (e) {
    throw unreachable(`read the ${key} document`, t, e);
  }
  // wrangler prints this (exit 0) for a missing key.
  if (out.trim() === "Value not found") return null;
  return out.replace(/\n$/, "");
}

export async function writeDocText(t: KvTarget, key: string, text: string): Promise<void> {
  try {
    await runWrangler(["kv", "key", "put", key, text, ...kvArgs(t)], { signal: t.signal });
  } catch (e) {
    throw unreachable(`write the ${key} document`, t, e);
  }
}

/**
 * When the Worker serves document `key`, just written to `t`. Each document
 * has its own TTL (src/worker/config-cache.ts, wrangler.toml): `flags` is read less often because every
 * read is billed. A key that was missing is read again only after FLAGS_MISSING_TTL_SECONDS, but the
 * CLI never writes a first flags document (it edits existing flags), so the note leaves that out.
 */
export function pickupNote(t: KvTarget, key: "rollout" | "flags"): string {
  const ttl = key === "flags" ? "FLAGS_TTL_SECONDS (15 s by default)" : "CONFIG_TTL_SECONDS (3 s by default)";
  return t.local
    ? `wrangler dev picks it up within ${ttl}`
    : `isolates pick it up within ${ttl} once KV has propagated (up to ~60 s worldwide)`;
}

function unreachable(what: string, t: KvTarget, e: unknown): CliError {
  // wrangler colours its errors even with NO_COLOR and adds banners and log-file notes: keep the words.
  const detail = String((e as { stderr?: string }).stderr || (e as Error).message)
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .map((l) => l.replace(/^✘\s*\[ERROR\]\s*/, "").trim())
    .filter((l) => l && !/^[▲⛅─🪵]|^-+$/u.test(l))
    .slice(0, 4)
    .join(" ");
  const fix = t.local
    ? "check --persist-to (same directory as wrangler dev's)"
    : "run `wrangler login` (or set CLOUDFLARE_API_TOKEN) and put the namespace id in wrangler.toml, or use --local";
  return new CliError(`cannot ${what} in ${describeKv(t)}: ${detail || "wrangler failed"} — ${fix}`, EXIT.UNREACHABLE);
}
