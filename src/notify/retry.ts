// When a notification is tried again, and when it is given up. Pure.
//
// | the receiver                          | what happens                                                |
// |---------------------------------------|-------------------------------------------------------------|
// | answers 2xx                           | delivered                                                   |
// | answers 408, 425, 429 or 5xx, or the  | tried again after 2 s, 10 s, 30 s, 2 min, 10 min (±20 %,    |
// | connection fails or times out (5 s)   | so many objects do not retry in step); a longer Retry-After |
// |                                       | (429, 503) is honoured up to 10 min; 6 tries in all         |
// | answers another 4xx, or a redirect    | given up at once: the request itself is wrong (a revoked    |
// | (3xx, never followed)                 | URL, a bad routing key), trying again cannot help           |
// | is still failing after 6 tries        | given up (~13 min after the event)                          |
// | a page (PagerDuty trigger or resolve) | the same, then every 10 min, 12 tries in all (~1 h 13 min): |
// |                                       | a page is worth waiting for where a chat line is not        |
// A destination's notifications go out in order, per lane (./destinations.ts, Lane: PagerDuty keeps
// its change events apart from its pages): one that waits for a retry holds the ones after it.

export const MAX_TRIES = 6;
/** Tries of a page: an incident opened or resolved late is still worth it, a chat line an hour late is not. */
export const PAGE_MAX_TRIES = 12;
export const TRY_TIMEOUT_MS = 5000;
const DELAYS_MS = [2_000, 10_000, 30_000, 120_000, 600_000];
const MAX_RETRY_AFTER_MS = 600_000;
const JITTER = 0.2;

export type TryOutcome =
  { ok: true; status: number } | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

/** The outcome of one answer; `excerpt`: the start of its body, which often says why (Slack's "invalid_token"). */
export function answerOutcome(status: number, excerpt: string, retryAfter: string | null, now: number): TryOutcome {
  if (status >= 200 && status < 300) return { ok: true, status };
  const said = excerpt.trim() ? `: ${excerpt.trim().slice(0, 200)}` : "";
  // Redirects are not followed (they would carry the credential elsewhere): the URL is out of date.
  if (status >= 300 && status < 400)
    return { ok: false, retry: false, error: `answered ${status}, a redirect (not followed): is the URL current?` };
  const retry = status === 408 || status === 425 || status === 429 || status >= 500;
  const wait = retry ? retryAfterMs(retryAfter, now) : undefined;
  return {
    ok: false,
    retry,
    error: `answered ${status}${said}`,
    ...(wait !== undefined ? { retryAfterMs: wait } : {}),
  };
}

/** A connection refused, a DNS failure, no answer within TRY_TIMEOUT_MS: worth another try. */
export function failureOutcome(e: unknown): TryOutcome {
  const err = e as Error;
  const error =
    err?.name === "TimeoutError" || err?.name === "AbortError"
      ? `no answer within ${TRY_TIMEOUT_MS / 1000} s`
      : `could not connect: ${err?.message ?? String(e)}`;
  return { ok: false, retry: true, error };
}

/** When try `tries + 1` is due after `tries` failed ones, or null: give up after `maxTries`. */
export function nextTryAt(
  now: number,
  tries: number,
  retryAfter?: number,
  random: () => number = Math.random,
  maxTries = MAX_TRIES,
): number | null {
  if (tries >= maxTries) return null;
  const base = DELAYS_MS[Math.min(tries, DELAYS_MS.length) - 1] ?? DELAYS_MS[0];
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  return now + Math.max(jittered, Math.min(retryAfter ?? 0, MAX_RETRY_AFTER_MS));
}

/** Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3), in ms from now. */
function retryAfterMs(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
