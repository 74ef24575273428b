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
