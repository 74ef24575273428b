// A destination that cannot send (its secret missing or malformed) fails every message at once,
// with the same words each time. One `webhook-failed` event per message crowded everything else out
// of the 20 recent events status shows; so the problem is said once per destination, and again only
// when it changes, after the secret was seen in order, or after SAY_AGAIN_MS with how many messages
// it has cost. The failed counters still count every message (the caller's). Pure.

/**
 * An hour: a secret left unset over a weekend is said a few dozen times, not once per event, and a
 * person who missed the first event still sees it among the recent ones.
 */
export const SAY_AGAIN_MS = 3_600_000;

/** The problem a destination has had since `since`, and what it has cost (stored with its figures). */
export interface Unsendable {
  problem: string;
  since: string;
  /** Messages not sent since `since`. */
  count: number;
  saidAt: string;
}

/**
 * After `count` more messages failed for `problem` at `now`: the state to keep, and the error for a
 * `webhook-failed` event, or null when it was said not long ago and stays unsaid.
 */
export function unsendableFailed(
  prev: Unsendable | undefined,
  problem: string,
  count: number,
  now: number,
): { state: Unsendable; say: string | null } {
  const at = new Date(now).toISOString();
  if (!prev || prev.problem !== problem) {
    const state = { problem, since: at, count, saidAt: at };
    return { state, say: `${problem} (said once while it lasts: the messages after this are counted, not each said)` };
  }
  const state = { ...prev, count: prev.count + count };
  if (now - Date.parse(prev.saidAt) < SAY_AGAIN_MS) return { state, say: null };
  const messages = `${state.count} ${state.count === 1 ? "message" : "messages"}`;
  return { state: { ...state, saidAt: at }, say: `${problem}: ${messages} not sent since ${prev.since}` };
}
