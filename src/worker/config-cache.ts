// The isolate's cached copy of the `rollout` KV document. Module-global: one per isolate.
//
// Fail-safe defaults (decided here):
// | situation                         | behaviour                                                      |
// |-----------------------------------|----------------------------------------------------------------|
// | warm isolate, copy younger than TTL | no KV read at all                                            |
// | warm isolate, copy older than TTL | serve the copy; one background refresh in ctx.waitUntil         |
// | cold isolate (no copy yet)        | await one KV read, at most COLD_READ_TIMEOUT_MS; concurrent     |
// |                                   | cold requests share it                                          |
// | KV read fails or times out        | keep the last good copy; none yet → all stable (ALL_STABLE)     |
// | key missing                       | valid: everyone on stable (percent 0), fingerprint "none"       |
// | document invalid                  | keep the last good copy (none → all stable); log ONE structured |
// |                                   | JSON error per bad version (by fingerprint); state.lastError    |
// | document over MAX_TEXT_BYTES      | read as a stream and cancelled past 256 KiB: invalid without    |
// | (256 KiB; KV takes 25 MiB)        | parsing, named by the fingerprint of what was read; the         |
// |                                   | controller's status names the field that makes it large         |
// | CONFIG_TTL_SECONDS unset/invalid  | 3 s                                                             |
// Why a stream: a whole-value get(…, "text") transfers, decodes and (to fingerprint it) hashes
// every byte, so a 25 MiB bad version cost each isolate 25 MiB of download, ~50 MB of string and a
// full hash every TTL until someone fixed it. The stream is pulled chunk by chunk (KV hands the
// value over as a body, like a fetch); cancelling it stops the transfer, so an oversized version
// costs at most 256 KiB plus one chunk per refresh. KV metadata could name a version without
// reading it, but an operator's `wrangler kv key put` writes none, so it cannot be relied on.
// KV is eventually consistent (up to ~60 s between locations); the TTL only bounds how stale this
// isolate's copy is relative to what its location's KV serves.
import type { Env } from "../env";
import { ROLLOUT_KEY } from "../model/names";
import { parseRollout, type ConfigProblem } from "../model/parse";
import { ALL_STABLE, type Rollout } from "../model/rollout";
import { withTimeout } from "../lib/timeout";
import { NO_DOCUMENT, fingerprintOf } from "../model/fingerprint";
import { MAX_TEXT_BYTES, oversizedText } from "../model/limits";
import { readTextUpTo, type BoundedText } from "../lib/bounded-read";

export const DEFAULT_TTL_SECONDS = 3;
export const COLD_READ_TIMEOUT_MS = 1500;

export interface CachedConfig {
  doc: Rollout;
  fingerprint: string;
}

export interface ConfigState {
  /** The document this isolate routes by (before the controller's view is applied). */
  doc: Rollout;
  fingerprint: string;
  /** ms since epoch of the last successful KV read, null if none yet. */
  fetchedAt: number | null;
  /** The last invalid document seen (cleared when a valid one is read). */
  lastError: { at: string; fingerprint: string; summary: string; problems: ConfigProblem[] } | null;
  /** The last KV read failure (cleared on the next successful read). */
  lastReadError: { at: string; message: string } | null;
}

let current: CachedConfig | null = null;
let fetchedAt: number | null = null;
/** When the copy is considered stale (ms since epoch). */
let staleAt = 0;
let refreshing: Promise<CachedConfig> | null = null;
let lastError: ConfigState["lastError"] = null;
/** The text of the current good document, to skip re-parsing an unchanged value. */
let lastText: string | null = null;
let lastReadError: ConfigState["lastReadError"] = null;
/** Bad versions already logged: one log line per version, not one per refresh. Bounded. */
const loggedBad = new Set<string>();
let ttlSource: string | undefined = "\u0000";
let ttlMs = DEFAULT_TTL_SECONDS * 1000;

/** The config to route by. Warm: synchronous value, no KV. Cold: a promise of one bounded read. */
export function getConfig(env: Env, ctx: ExecutionContext): CachedConfig | Promise<CachedConfig> {
  const now = Date.now();
  if (current !== null) {
    if (now >= staleAt && refreshing === null) ctx.waitUntil(refresh(env));
    return current;
  }
  return refreshing ?? refresh(env, COLD_READ_TIMEOUT_MS);
}

/** For the admin API and the status page. */
export function getConfigState(): ConfigState {
  const c = current ?? { doc: ALL_STABLE, fingerprint: NO_DOCUMENT };
  return { doc: c.doc, fingerprint: c.fingerprint, fetchedAt, lastError, lastReadError };
}

/**
 * Forget everything, as in a fresh isolate. For tests: the cache is module-global by design (one
 * per isolate) and the workers test pool runs many cases in one isolate.
 */
export function resetConfigCache(): void {
  current = null;
  fetchedAt = null;
  staleAt = 0;
  refreshing = null;
  lastError = null;
  lastReadError = null;
  lastText = null;
  loggedBad.clear();
}

/**
 * Make the next request start a refresh, as if the TTL had passed. Does not block. For tests: waiting
 * out CONFIG_TTL_SECONDS instead would make them slow and timing-dependent.
 */
export function expireConfigCache(): void {
  staleAt = 0;
}

function ttlOf(env: Env): number {
  if (env.CONFIG_TTL_SECONDS !== ttlSource) {
    ttlSource = env.CONFIG_TTL_SECONDS;
    const n = Number(ttlSource);
    ttlMs =
      ttlSource !== undefined && ttlSource !== "" && Number.isFinite(n) && n >= 0
        ? n * 1000
        : DEFAULT_TTL_SECONDS * 1000;
  }
  return ttlMs;
}

function refresh(env: Env, timeoutMs?: number): Promise<CachedConfig> {
  const p = load(env, timeoutMs).finally(() => {
    if (refreshing === p) refreshing = null;
  });
  refreshing = p;
  return p;
}

async function load(env: Env, timeoutMs: number | undefined): Promise<CachedConfig> {
  const started = Date.now();
  let text: string | null;
  try {
    const read = readBounded(env);
    const got =
      timeoutMs === undefined ? await read : await withTimeout(read, timeoutMs, `KV read of "${ROLLOUT_KEY}"`);
    if (got !== null && !got.whole) return oversized(env, got.text);
    text = got === null ? null : got.text;
  } catch (e) {
    lastReadError = { at: new Date().toISOString(), message: (e as Error)?.message ?? String(e) };
    console.error(
      JSON.stringify({
        level: "error",
        event: "config-read-failed",
        key: ROLLOUT_KEY,
        message: lastReadError.message,
        keeping: current?.fingerprint ?? "all-stable",
      }),
    );
    // Try again after one TTL rather than on every request.
    staleAt = started + ttlOf(env);
    return (current ??= { doc: ALL_STABLE, fingerprint: NO_DOCUMENT });
  }
  readDone(env);
  if (current !== null && text !== null && current.fingerprint !== NO_DOCUMENT && lastText === text) {
    // Unchanged (or reverted to the same good text after a bad version): no re-parse.
    lastError = null;
    return current;
  }
  // The same bad version again (every TTL until it is fixed): its problems are known, and a
  // large one is not worth parsing again in every isolate.
  if (lastError !== null && text !== null && fingerprintOf(text) === lastError.fingerprint)
    return (current ??= { doc: ALL_STABLE, fingerprint: NO_DOCUMENT });
  const r = parseRollout(text);
  if (r.ok) {
    lastText = text;
    lastError = null;
    current = { doc: r.doc, fingerprint: r.fingerprint };
    return current;
  }
  return rejected(r.fingerprint, r.problems, r.summary);
}

/** The value as text, at most MAX_TEXT_BYTES of it (module head: why a stream); null if missing. */
async function readBounded(env: Env): Promise<BoundedText | null> {
  const body = await env.ROLLOUT_CONFIG.get(ROLLOUT_KEY, { type: "stream" });
  return body === null ? null : readTextUpTo(body, MAX_TEXT_BYTES);
}

function readDone(env: Env): void {
  lastReadError = null;
  fetchedAt = Date.now();
  staleAt = fetchedAt + ttlOf(env);
}

/**
 * A value past the text limit: invalid unread. Its version is named by the fingerprint of the part
 * read (two such versions alike in their first 256 KiB share it: one log line for both, harmless).
 */
function oversized(env: Env, head: string): CachedConfig {
  readDone(env);
  const fingerprint = fingerprintOf(head);
  if (lastError !== null && lastError.fingerprint === fingerprint)
    return (current ??= { doc: ALL_STABLE, fingerprint: NO_DOCUMENT });
  const problem = oversizedText(`over ${MAX_TEXT_BYTES / 1024} KiB (the read stopped there)`);
  const message = problem.message + "; the controller's status (`edgeshift status`) names the field";
  return rejected(fingerprint, [{ path: "", message }], message);
}

function rejected(fingerprint: string, problems: ConfigProblem[], summary: string): CachedConfig {
  lastError = { at: new Date(fetchedAt ?? Date.now()).toISOString(), fingerprint, summary, problems };
  if (!loggedBad.has(fingerprint)) {
    if (loggedBad.size >= 64) loggedBad.clear();
    loggedBad.add(fingerprint);
    console.error(
      JSON.stringify({
        level: "error",
        event: "config-invalid",
        key: ROLLOUT_KEY,
        fingerprint,
        problems,
        summary,
        keeping: current?.fingerprint ?? "all-stable",
        fix: `correct the fields above and write the document again: wrangler kv key put --binding ROLLOUT_CONFIG ${ROLLOUT_KEY} '<json>'`,
      }),
    );
  }
  return (current ??= { doc: ALL_STABLE, fingerprint: NO_DOCUMENT });
}
