// How old an isolate's copy of the controller's verdict may be before it sends anyone to the
// canary (the gate, src/worker/handler.ts), and how long such a request may wait for a fresh one.
// Pure: no clock of its own, no I/O.
//
// Why these numbers (issue 10: zero canary-bound requests from any isolate ≥ 1 s after the decision):
// - A view is stamped with the time its call STARTED minus the age it already had when it was sent
//   (`ControllerView.ageMs`, filled by an aggregator): the controller's state at answer time is at
//   least that new, so the stamp is conservative whatever the round trip, with no clock sync.
// - A canary-bound request at time t is sent only with a stamp newer than t − VERDICT_MAX_AGE_MS.
//   With the bound at 500 ms, no request leaves for the canary later than decision + 500 ms: half
//   the goal's second is left as margin for clock skew between the isolate and the controller.
// - GATE_WAIT_MS bounds what a quiet isolate's first canary-bound request pays (one round trip to
//   the controller or its aggregator: tens of ms nearby, ~150–250 ms across an ocean); if nothing
//   fresh arrives in time the request goes to stable (diverted, see the handler's table), so the
//   wait never becomes an outage of the canary's users.
// - Busy isolates refresh in the background once the stamp is REFRESH_AFTER_MS old, so with any
//   round trip under 250 ms their canary-bound requests never wait.

/** A verdict older than this must be refreshed before a request goes to the canary. */
export const VERDICT_MAX_AGE_MS = 500;
/** How long a canary-bound request waits for a fresh verdict before it goes to stable instead. */
export const GATE_WAIT_MS = 250;
/** Age at which canary traffic starts a background refresh, so busy isolates never wait. */
export const REFRESH_AFTER_MS = VERDICT_MAX_AGE_MS / 2;

/**
 * The time up to which a view is known current: the local start of the call that fetched it, less
 * the age it had when it was sent. Negative or non-numeric ages count as 0.
 */
export function stampOf(callStartedAt: number, ageMs: number | undefined): number {
  const age = typeof ageMs === "number" && ageMs > 0 ? ageMs : 0;
  return callStartedAt - age;
}

/** Age of the verdict at `now`; Infinity when there is none yet. */
export function verdictAge(verdictAt: number | null, now: number): number {
  return verdictAt === null ? Infinity : now - verdictAt;
}

/** Whether a canary-bound request at `now` must first obtain a fresh verdict. */
export function mustRefresh(verdictAt: number | null, now: number): boolean {
  return verdictAge(verdictAt, now) >= VERDICT_MAX_AGE_MS;
}

/** Whether canary traffic at `now` should start a background refresh (the verdict is still usable). */
export function refreshDue(verdictAt: number | null, now: number): boolean {
  return verdictAge(verdictAt, now) >= REFRESH_AFTER_MS;
}

// The isolate's watch (issue 10). While canary traffic flows, an isolate keeps one
// `watch(revision, maxWait, bound)` call open at its aggregator, which answers when its view
// changes, when its own root watch stops being current, or when its push bound grows past `bound`.
// Let r be the longest of the isolate's recent aggregator round trips and B the aggregator's bound
// the watch was opened with (`ControllerView.boundMs`). A change at the root at D reaches the
// aggregator by D + B and, pushed on the held watch, the isolate by D + B + r; a watch sent at O
// reaches the aggregator by O + r, and a change it already held then is answered at once. So once
// the watch has been open r, the isolate's view contains every root change before now − (r + B):
// that is its stamp, with no view call. The guarantee composes because the aggregator answers (ends)
// the watch the moment its own claim lapses, and that answer is at most one leg behind.
// A watch lives inside one request's waitUntil (Workers cancel such work about 30 s after the
// response: developers.cloudflare.com/workers/platform/limits/, "cancellation will be delayed until
// the promise has completed or until an additional 30 seconds have elapsed"), so it is held at most
// ISOLATE_WATCH_MAX_WAIT_MS and re-opened by a later canary-bound request. A watch unanswered past
// maxWait + ISOLATE_WATCH_DEAD_MARGIN_MS (cancelled with its request, or a lost connection) no
// longer vouches for anything; without a vouching watch the stamp is the last answer's, and
// `keepFresh` polls as before: correctness never depends on the watch.

/** How long an aggregator may hold an isolate's watch: well inside waitUntil's 30 s. */
export const ISOLATE_WATCH_MAX_WAIT_MS = 10_000;
/**
 * A watch unanswered after maxWait plus this is presumed dead (never vouches again). From maxWait +
 * VERDICT_MAX_AGE_MS on the isolate polls as well, so a dead watch never leaves a request waiting.
 */
export const ISOLATE_WATCH_DEAD_MARGIN_MS = 2_000;
/**
 * An open watch vouches only while the aggregator answered this isolate (any call) within this
 * long: a watch that hangs, neither answered nor failed, never vouches for more than this past the
 * last sign of life, however often canary traffic renews it. Busy isolates hear an answer every few
 * seconds (reports, and every watch's own answer by maxWait); the isolate polls before it lapses.
 */
export const ISOLATE_WATCH_EVIDENCE_MS = ISOLATE_WATCH_MAX_WAIT_MS + ISOLATE_WATCH_DEAD_MARGIN_MS;
/**
 * Canary traffic renews a watch open this long: the successor is sent from that (younger) request,
 * so maxWait never ends a watch with no other vouching, whenever a canary-bound request comes at
 * least every ISOLATE_WATCH_MAX_WAIT_MS − this (3 s). Until the successor vouches, the old one's
 * last stamp holds (banked in the verdict's stamp).
 */
export const ISOLATE_WATCH_RENEW_AFTER_MS = 7_000;
/**
 * A watch answered with a change or after being held (the aggregator's own root watch cycled, or
 * its bound grew) is re-opened at once inside the same request's waitUntil, if a canary-bound
 * request came in the last ISOLATE_WATCH_RENEW_AFTER_MS and the request holding it is at most this
 * old: the new watch ends (maxWait 10 s) by
 * 25 s, inside the 30 s the runtime keeps waitUntil work after the response. Older, the next
 * canary-bound request opens one (a renewal keeps the chain young while traffic flows).
 */
export const ISOLATE_WATCH_CHAIN_MS = 15_000;
/**
 * A watch re-opened in the chain and answered at once without a change: the aggregator was most
 * likely re-opening its own root watch, which takes up to its bound. One retry in the chain after
 * that bound plus this, instead of waiting for the next canary-bound request to find no watch.
 */
export const ISOLATE_WATCH_QUICK_RETRY_MS = 50;
/**
 * Quick retries wait a uniform draw up to this on top: isolates answered together (an aggregator
 * far from the root answers all its held watches when its root watch cycles) retry apart.
 */
export const ISOLATE_WATCH_REOPEN_SPREAD_MS = 200;
/** After a watch answered early without a change, or failed: wait this × 2^n (≤ ×16) before another. */
export const ISOLATE_WATCH_RETRY_MS = 1_000;
/** An answer held at least this long (or bringing a change) shows the aggregator holds watches. */
export const USEFUL_HOLD_MS = 1_000;
/** Aggregator round trips remembered for r. */
export const ISOLATE_RTT_SAMPLES = 8;

/**
 * The stamp an open watch vouches for at `now`, or null when it vouches for nothing: not open,
 * open less than `rttBoundMs` (it may not have reached the aggregator yet), presumed dead, or no
 * finite bounds known.
 */
export function watchStamp(
  openedAt: number | null,
  now: number,
  rttBoundMs: number,
  aggregatorBoundMs: number,
  maxWaitMs = ISOLATE_WATCH_MAX_WAIT_MS,
  deadMarginMs = ISOLATE_WATCH_DEAD_MARGIN_MS,
): number | null {
  if (openedAt === null || !Number.isFinite(rttBoundMs) || !Number.isFinite(aggregatorBoundMs)) return null;
  if (rttBoundMs < 0 || aggregatorBoundMs < 0) return null;
  const open = now - openedAt;
  if (open < rttBoundMs || open > maxWaitMs + deadMarginMs) return null;
  return now - rttBoundMs - aggregatorBoundMs;
}

/** Whether a watch answer showed the aggregator holding watches (else back off before the next). */
export function usefulWatch(known: number, answered: number, heldMs: number): boolean {
  // Newer only: an aggregator behind the isolate (a view from another aggregator, or one lagging)
  // answers an older revision at once, which is not adopted; counting it useful would re-open the
  // same watch against the same answer in a tight loop.
  return answered > known || heldMs >= USEFUL_HOLD_MS;
}

/** When another watch may be opened after `fails` consecutive useless answers or failures. */
export function watchRetryAt(now: number, fails: number): number {
  return fails <= 0 ? now : now + ISOLATE_WATCH_RETRY_MS * 2 ** Math.min(fails - 1, 4);
}

/**
 * The bound isolates are told (`boundMs`) is the push bound with headroom: their watches are held
 * while the push bound stays within what they were told, so a root round trip slower than the last
 * (jitter; 21 → 36 ms on a loaded machine in the fleet benchmark) does not answer every held watch
 * at once, each answer costing the isolate a re-open. It is raised only when the push bound passes
 * it, and lowered once the push bound with headroom falls under half of it, i.e. the push bound
 * under a quarter (a lower bound needs no release; the gap keeps it from moving with every round
 * trip). No headroom past
 * TOLD_BOUND_CAP_MS: an isolate's watch stamps its verdict r + told old, and past the gate's
 * refresh age (250 ms, src/telemetry/freshness.ts) the isolate polls as if it had no watch; so an
 * aggregator far from the root (~200 ms across an ocean) tells its bare push bound.
 */
export const TOLD_BOUND_HEADROOM = 2;
export const TOLD_BOUND_FLOOR_MS = 25;
export const TOLD_BOUND_CAP_MS = 150;

/**
 * The bound an aggregator tells isolates, given the one it told last and its push bound `p` (its
 * longest recent root round trip): raised only when p passes it, lowered when p × TOLD_BOUND_HEADROOM
 * falls under half of it; p with TOLD_BOUND_HEADROOM, at least TOLD_BOUND_FLOOR_MS, no headroom past TOLD_BOUND_CAP_MS,
 * never below p.
 */
export function toldBound(told: number, p: number): number {
  if (p <= told && p * TOLD_BOUND_HEADROOM * 2 >= told) return told;
  return Math.max(p, Math.min(TOLD_BOUND_CAP_MS, Math.max(TOLD_BOUND_FLOOR_MS, Math.ceil(p * TOLD_BOUND_HEADROOM))));
}
