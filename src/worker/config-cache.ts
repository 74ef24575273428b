// The isolate's cached copies of the KV documents (`rollout`, and `flags`: src/model/flags.ts).
// Module-global: one per document per isolate. Both follow the table below; `flags` has no
// controller (its fingerprint "none" means no flags, and a failed read keeps the last good flags).
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
// | CONFIG_TTL_SECONDS unset/invalid  | 3 s (`rollout`); FLAGS_TTL_SECONDS unset/invalid: 15 s (`flags`)|
// | no `flags` key                    | read again after FLAGS_MISSING_TTL_SECONDS (60 s), not per TTL   |
// Why a stream: a whole-value get(…, "text") transfers, decodes and (to fingerprint it) hashes
// every byte, so a 25 MiB bad version cost each isolate 25 MiB of download, ~50 MB of string and a
// full hash every TTL until someone fixed it. The stream is pulled chunk by chunk (KV hands the
// value over as a body, like a fetch); cancelling it stops the transfer, so an oversized version
// costs at most 256 KiB plus one chunk per refresh. KV metadata could name a version without
// reading it, but an operator's `wrangler kv key put` writes none, so it cannot be relied on.
// KV is eventually consistent (up to ~60 s between locations); the TTL only bounds how stale this
// isolate's copy is relative to what its location's KV serves.
import type { Env } from "../env";
import { FLAGS_KEY, ROLLOUT_KEY } from "../model/names";
import { parseFlags, parseRollout, type ConfigProblem, type DocumentResult } from "../model/parse";
import { ALL_STABLE, type Rollout } from "../model/rollout";
import { NO_FLAGS, type FlagsDocument } from "../model/flags";
import { withTimeout } from "../lib/timeout";
import { NO_DOCUMENT, fingerprintOf } from "../model/fingerprint";
import { MAX_TEXT_BYTES, oversizedText } from "../model/limits";
import { readTextUpTo, type BoundedText } from "../lib/bounded-read";

export const DEFAULT_TTL_SECONDS = 3;
/**
 * `flags` is re-read less often than `rollout`: every isolate with traffic reads each key once per
 * TTL, and KV bills every read, a missing key's too ($0.50 per million,
 * developers.cloudflare.com/kv/platform/pricing/): 20,000 busy isolates at 3 s are 576 million
 * reads ($288) a day per key. A guard's kill does not wait for it (the controller's view carries
 * it); an operator's change waits for KV's own propagation (up to 60 s) and then at most this.
 */
export const DEFAULT_FLAGS_TTL_SECONDS = 15;
/**
 * No `flags` key at all: read again after a minute (FLAGS_MISSING_TTL_SECONDS), not every
 * FLAGS_TTL_SECONDS: a missing key's read is billed like any ($58 a day at the fleet above, for
 * nothing). The first flags written then reach an isolate within KV's propagation plus this.
 */
export const DEFAULT_MISSING_FLAGS_TTL_SECONDS = 60;
export const COLD_READ_TIMEOUT_MS = 1500;

export interface Cached<T> {
  doc: T;
  fingerprint: string;
}
export type CachedConfig = Cached<Rollout>;

export interface DocumentState<T> {
  /** The document this isolate uses (for `rollout`: before the controller's view is applied). */
  doc: T;
  fingerprint: string;
  /** ms since epoch of the last successful KV read, null if none yet. */
  fetchedAt: number | null;
  /** The last invalid document seen (cleared when a valid one is read). */
  lastError: { at: string; fingerprint: string; summary: string; problems: ConfigProblem[] } | null;
  /** The last KV read failure (cleared on the next successful read). */
  lastReadError: { at: string; message: string } | null;
}
export type ConfigState = DocumentState<Rollout>;

interface DocumentKind<T> {
  key: string;
  parse(text: string | null): DocumentResult<T>;
  /** What the isolate uses before any good read: the safe document, and its name in logs. */
  empty: T;
  emptyName: string;
  /** Added to the oversized message: where to find the field that makes it large. */
  oversizedHint: string;
  /** How long a copy is trusted (ms), from the Worker's vars. */
  ttl(env: Env): number;
  /** How long "no such key" is trusted, when longer than `ttl` (a missing key's read is billed too). */
  missingTtl?(env: Env): number;
}

/** Seconds from a var, or the default when it is unset or not a number ≥ 0. */
function secondsVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) && n >= 0 ? n * 1000 : fallback * 1000;
}

/** One KV document's cached copy, per the table at the top. */
class DocumentCache<T> {
  private current: Cached<T> | null = null;
  private fetchedAt: number | null = null;
  /** When the copy is considered stale (ms since epoch). */
  private staleAt = 0;
  private refreshing: Promise<Cached<T>> | null = null;
  private lastError: DocumentState<T>["lastError"] = null;
  /** The text of the current good document, to skip re-parsing an unchanged value. */
  private lastText: string | null = null;
  private lastReadError: DocumentState<T>["lastReadError"] = null;
  /** Bad versions already logged: one log line per version, not one per refresh. Bounded. */
  private readonly loggedBad = new Set<string>();

  constructor(private readonly kind: DocumentKind<T>) {}

  /** Warm: synchronous value, no KV. Cold: a promise of one bounded read. */
  get(env: Env, ctx: ExecutionContext): Cached<T> | Promise<Cached<T>> {
    const now = Date.now();
    if (this.current !== null) {
      if (now >= this.staleAt && this.refreshing === null) ctx.waitUntil(this.refresh(env));
      return this.current;
    }
    return this.refreshing ?? this.refresh(env, COLD_READ_TIMEOUT_MS);
  }

  state(): DocumentState<T> {
    const c = this.current ?? { doc: this.kind.empty, fingerprint: NO_DOCUMENT };
    return {
      doc: c.doc,
      fingerprint: c.fingerprint,
      fetchedAt: this.fetchedAt,
      lastError: this.lastError,
      lastReadError: this.lastReadError,
    };
  }

  reset(): void {
    this.current = null;
    this.fetchedAt = null;
    this.staleAt = 0;
    this.refreshing = null;
    this.lastError = null;
    this.lastReadError = null;
    this.lastText = null;
    this.loggedBad.clear();
  }

  expire(): void {
    this.staleAt = 0;
  }

  private fallback(): Cached<T> {
    return (this.current ??= { doc: this.kind.empty, fingerprint: NO_DOCUMENT });
  }

  private refresh(env: Env, timeoutMs?: number): Promise<Cached<T>> {
    const p = this.load(env, timeoutMs).finally(() => {
      if (this.refreshing === p) this.refreshing = null;
    });
    this.refreshing = p;
    return p;
  }

  private async load(env: Env, timeoutMs: number | undefined): Promise<Cached<T>> {
    const started = Date.now();
    const key = this.kind.key;
    let text: string | null;
    try {
      const read = this.readBounded(env);
      const got = timeoutMs === undefined ? await read : await withTimeout(read, timeoutMs, `KV read of "${key}"`);
      if (got !== null && !got.whole) return this.oversized(env, got.text);
      text = got === null ? null : got.text;
    } catch (e) {
      this.lastReadError = { at: new Date().toISOString(), message: (e as Error)?.message ?? String(e) };
      console.error(
        JSON.stringify({
          level: "error",
          event: "config-read-failed",
          key,
          message: this.lastReadError.message,
          keeping: this.current?.fingerprint ?? this.kind.emptyName,
        }),
      );
      // Try again after one TTL rather than on every request.
      this.staleAt = started + this.kind.ttl(env);
      return this.fallback();
    }
    this.readDone(env, text === null);
    const current = this.current;
    if (current !== null && text !== null && current.fingerprint !== NO_DOCUMENT && this.lastText === text) {
      // Unchanged (or reverted to the same good text after a bad version): no re-parse.
      this.lastError = null;
      return current;
    }
    // The same bad version again (every TTL until it is fixed): its problems are known, and a
    // large one is not worth parsing again in every isolate.
    if (this.lastError !== null && text !== null && fingerprintOf(text) === this.lastError.fingerprint)
      return this.fallback();
    const r = this.kind.parse(text);
    if (r.ok) {
      this.lastText = text;
      this.lastError = null;
      this.current = { doc: r.doc, fingerprint: r.fingerprint };
      return this.current;
    }
    return this.rejected(r.fingerprint, r.problems, r.summary);
  }

  /** The value as text, at most MAX_TEXT_BYTES of it (module head: why a stream); null if missing. */
  private async readBounded(env: Env): Promise<BoundedText | null> {
    const body = await env.ROLLOUT_CONFIG.get(this.kind.key, { type: "stream" });
    return body === null ? null : readTextUpTo(body, MAX_TEXT_BYTES);
  }

  private readDone(env: Env, missing = false): void {
    this.lastReadError = null;
    this.fetchedAt = Date.now();
    const ttl = this.kind.ttl(env);
    const missingTtl = missing && this.kind.missingTtl ? this.kind.missingTtl(env) : 0;
    this.staleAt = this.fetchedAt + Math.max(ttl, missingTtl);
  }

  /**
   * A value past the text limit: invalid unread. Its version is named by the fingerprint of the part
   * read (two such versions alike in their first 256 KiB share it: one log line for both, harmless).
   */
  private oversized(env: Env, head: string): Cached<T> {
    this.readDone(env);
    const fingerprint = fingerprintOf(head);
    if (this.lastError !== null && this.lastError.fingerprint === fingerprint) return this.fallback();
    const problem = oversizedText(`over ${MAX_TEXT_BYTES / 1024} KiB (the read stopped there)`);
    const message = problem.message + this.kind.oversizedHint;
    return this.rejected(fingerprint, [{ path: "", message }], message);
  }

  private rejected(fingerprint: string, problems: ConfigProblem[], summary: string): Cached<T> {
    const key = this.kind.key;
    this.lastError = { at: new Date(this.fetchedAt ?? Date.now()).toISOString(), fingerprint, summary, problems };
    if (!this.loggedBad.has(fingerprint)) {
      if (this.loggedBad.size >= 64) this.loggedBad.clear();
      this.loggedBad.add(fingerprint);
      console.error(
        JSON.stringify({
          level: "error",
          event: "config-invalid",
          key,
          fingerprint,
          problems,
          summary,
          keeping: this.current?.fingerprint ?? this.kind.emptyName,
          // --remote: wrangler's `kv key` commands write local storage without it.
          fix: `correct the fields above and write the document again: wrangler kv key put --binding ROLLOUT_CONFIG ${key} '<json>' --remote (--local under wrangler dev)`,
        }),
      );
    }
    return this.fallback();
  }
}

const rollout = new DocumentCache<Rollout>({
  key: ROLLOUT_KEY,
  parse: parseRollout,
  empty: ALL_STABLE,
  emptyName: "all-stable",
  ttl: (env) => secondsVar(env.CONFIG_TTL_SECONDS, DEFAULT_TTL_SECONDS),
  oversizedHint: "; the controller's status (`edgeshift status`) names the field",
});
const flags = new DocumentCache<FlagsDocument>({
  key: FLAGS_KEY,
  parse: parseFlags,
  empty: NO_FLAGS,
  emptyName: "no-flags",
  ttl: (env) => secondsVar(env.FLAGS_TTL_SECONDS, DEFAULT_FLAGS_TTL_SECONDS),
  // A deployment that uses no flags should pay next to nothing for them: no key, a read a minute.
  missingTtl: (env) => secondsVar(env.FLAGS_MISSING_TTL_SECONDS, DEFAULT_MISSING_FLAGS_TTL_SECONDS),
  oversizedHint: "; `edgeshift flags validate` on the file names the field",
});

/** The config to route by. Warm: synchronous value, no KV. Cold: a promise of one bounded read. */
export function getConfig(env: Env, ctx: ExecutionContext): CachedConfig | Promise<CachedConfig> {
  return rollout.get(env, ctx);
}

/** The flags to evaluate; as getConfig. */
export function getFlags(env: Env, ctx: ExecutionContext): Cached<FlagsDocument> | Promise<Cached<FlagsDocument>> {
  return flags.get(env, ctx);
}

/** For the admin API and the status page. */
export function getConfigState(): ConfigState {
  return rollout.state();
}

export function getFlagsState(): DocumentState<FlagsDocument> {
  return flags.state();
}

/**
 * Forget everything, as in a fresh isolate. For tests: the caches are module-global by design (one
 * per isolate) and the workers test pool runs many cases in one isolate.
 */
export function resetConfigCache(): void {
  rollout.reset();
  flags.reset();
}

/**
 * Make the next request start a refresh of both documents, as if the TTL had passed. Does not
 * block. For tests: waiting out CONFIG_TTL_SECONDS instead would make them slow and timing-dependent.
 */
export function expireConfigCache(): void {
  rollout.expire();
  flags.expire();
}
