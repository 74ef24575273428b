// One try of one request: the fetch, and its answer as a TryOutcome. Web-standard fetch only, so it
// runs wherever the controller does; what is sent is ./destinations.ts, when again ./retry.ts.
import { readTextUpTo } from "../lib/bounded-read";
import { redacted } from "../lib/redact";
import { requestFor, secretValues, type Outgoing, type Target } from "./destinations";
import { answerOutcome, failureOutcome, TRY_TIMEOUT_MS, type TryOutcome } from "./retry";

/** Of a failing answer's body, what is kept to say why: enough for Slack's "invalid_token" or PagerDuty's errors. */
const MAX_EXCERPT_BYTES = 1024;

/** Sends `o` to `t` once; `messageId` is the same on every try, `now` the caller's clock. Never throws. */
export async function sendOnce(
  t: Target,
  o: Outgoing,
  secret: (n: string) => unknown,
  messageId: string,
  now: () => number,
): Promise<TryOutcome> {
  let outcome: TryOutcome;
  try {
    const { url, init } = await requestFor(t, o, secret, messageId, now());
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(TRY_TIMEOUT_MS) });
    const excerpt = r.ok || !r.body ? "" : (await readTextUpTo(r.body, MAX_EXCERPT_BYTES)).text;
    if (r.ok) await r.body?.cancel();
    outcome = answerOutcome(r.status, excerpt, r.headers.get("retry-after"), now());
  } catch (e) {
    outcome = failureOutcome(e);
  }
  // The receiver's words (and fetch's errors, which can quote the URL) reach status, the event log
  // and a terminal: never with a secret in them, never with control characters.
  return outcome.ok ? outcome : { ...outcome, error: redacted(outcome.error, secretValues(t, secret)) };
}
