// Shadow traffic: a share (`shadowPercent`) of stable's GET/HEAD requests is sent again to the
// canary in ctx.waitUntil, and the canary's answer is compared with stable's (compare.ts). The
// user's answer never waits for the mirror and never depends on it.
//
// Decided here (README "Shadow traffic"):
// | concern                    | behaviour                                                           |
// |----------------------------|---------------------------------------------------------------------|
// | which requests             | GET/HEAD answered by stable (no failover), not WebSocket handshakes, |
// |                            | sampled at random per request at `shadowPercent`; none when the     |
// |                            | document is rolled back or shadowPercent is 0                       |
// | what the canary receives   | the same method, path, query and headers stable received (same      |
// |                            | header rules: cookies kept, edgeshift's own stripped, Host is the   |
// |                            | canary origin's), x-edgeshift-slot/role naming the canary, plus     |
// |                            | `x-edgeshift-shadow: 1` — apps must treat it as "no side effects"   |
// | timeout                    | the canary slot's `timeoutMs`, covering headers and body            |
// | stable's body              | teed only for mirrored requests whose body is compared (GET, not    |
// |                            | over maxBodyBytes by Content-Length); every other answer untouched  |
// | memory                     | ≤ MAX_IN_FLIGHT mirrors per isolate, each hashing ≤ maxBodyBytes    |
// |                            | per side; beyond that a mirror is not sent and not counted (it is   |
// |                            | sampling, not an outcome); counted in `mirrorStats.dropped` and     |
// |                            | reported to the controller (status `reports.mirrorsSkipped`)        |
// | canary slow / failing      | invisible to the user; counted as a shadow error (5xx, network,     |
// |                            | timeout), which the shadow error-rate rule judges                   |
// | any exception in here      | swallowed; the user gets stable's answer as it was                  |
import type { Env } from "../env";
import type { Recorder, Routed, ShadowOutcome } from "../telemetry/recorder";
import { isWebSocketUpgrade, originBase, pathAndQuery, upstreamHeaders } from "./headers";
import { FLAGS_HEADER } from "../flags/evaluate";
import { fetchOrigin, timeoutOf } from "./forward";
import {
  compareAnswers,
  compareOptionsOf,
  declaredTooLarge,
  pickHeaders,
  SHADOW_HEADER,
  shouldMirror,
  type BodyDigest,
  type CompareOptions,
} from "../shadow/compare";
import { digestBody } from "../shadow/digest";

/** Mirrors running at once per isolate: bounds memory and the extra connections to the canary. */
export const MAX_IN_FLIGHT = 8;

let inFlight = 0;
/** Per-isolate counters, for debugging and tests. */
export const mirrorStats = { started: 0, dropped: 0, finished: 0 };

/**
 * Called after stable's answer is known, for GET/HEAD requests routed to stable. Returns the
 * response to give the user: the same one, or one whose body is teed for hashing.
 */
/** What a mirror reports to: the isolate's recorder (passed in, so this module holds no isolate state but its own). */
export type MirrorSink = Pick<Recorder<Env>, "recordShadow" | "recordMirrorSkipped" | "maybeFlush">;

export function maybeMirror(
  req: Request,
  stableResponse: Response,
  routed: Routed,
  env: Env,
  ctx: ExecutionContext,
  recorder: MirrorSink,
  /** The x-edgeshift-flags value stable got: the mirror must ask the same question (null: none). */
  flagsHeader: string | null = null,
): Response {
  // Once the body is teed, stableResponse's own body is locked: a fault after that must hand back
  // the user's branch, never the locked original.
  let userResponse = stableResponse;
  try {
    const doc = routed.doc;
    if (stableResponse.status === 101 || !shouldMirror(doc, req.method, isWebSocketUpgrade(req.headers), Math.random()))
      return stableResponse;
    if (inFlight >= MAX_IN_FLIGHT) {
      // Not reported to the recorder: a mirror that was never sent has no status, error or
      // latency, and counting it as mirrored would dilute the shadow error rate the rollback
      // rules judge (errors / mirrored). Sampling fewer requests under load is all it means, and
      // the controller is told how many (status `reports.mirrorsSkipped`).
      mirrorStats.dropped++;
      recorder.recordMirrorSkipped();
      return stableResponse;
    }
    const opts = compareOptionsOf(doc);
    const head = req.method === "HEAD";
    let stableBody: Promise<BodyDigest>;
    if (head || !opts.compareBody) stableBody = Promise.resolve({ kind: "skipped" });
    else if (declaredTooLarge(stableResponse.headers, opts.maxBodyBytes))
      stableBody = Promise.resolve({ kind: "too-large" });
    else if (stableResponse.body === null) stableBody = digestBody(null, opts.maxBodyBytes);
    else {
      const [forUser, forHash] = stableResponse.body.tee();
      userResponse = new Response(forUser, stableResponse);
      stableBody = digestBody(forHash, opts.maxBodyBytes);
    }

    const canary = doc.canary;
    const headers = upstreamHeaders(req.headers, req.url, { slot: canary, role: "canary", release: doc.release });
    // A flag's variation changes the answer: without the header stable got, the mirror's answer
    // would differ for that alone and count as a mismatch against a healthy canary.
    if (flagsHeader !== null) headers.set(FLAGS_HEADER, flagsHeader);
    headers.set(SHADOW_HEADER, "1");
    const url = originBase(canary === "blue" ? env.BLUE_ORIGIN : env.GREEN_ORIGIN) + pathAndQuery(req.url);
    const stable = { status: stableResponse.status, headers: pickHeaders(stableResponse.headers, opts.headers) };

    inFlight++;
    mirrorStats.started++;
    ctx.waitUntil(
      mirror(url, req.method, headers, timeoutOf(doc, canary), opts, head, stable, stableBody)
        .then((outcome) => {
          recorder.recordShadow(routed, outcome);
          recorder.maybeFlush(ctx, env);
        })
        .catch(() => {})
        .finally(() => {
          inFlight--;
          mirrorStats.finished++;
        }),
    );
    return userResponse;
  } catch {
    return userResponse;
  }
}

async function mirror(
  url: string,
  method: string,
  headers: Headers,
  timeoutMs: number,
  opts: CompareOptions,
  head: boolean,
  stable: { status: number; headers: (string | null)[] },
  stableBody: Promise<BodyDigest>,
): Promise<ShadowOutcome> {
  try {
    const r = await fetchOrigin(url, method, headers, null, timeoutMs);
    if (r.response === null) return { status: null, error: r.error, latencyMs: r.latencyMs, matched: null };
    const res = r.response;
    let canaryBody: BodyDigest;
    if (head || !opts.compareBody) {
      await res.body?.cancel().catch(() => {});
      canaryBody = { kind: "skipped" };
    } else {
      // The body gets what is left of the slot's timeout: a canary that trickles is a slow canary.
      const bodyTimeout = AbortSignal.timeout(Math.max(1, timeoutMs - r.latencyMs));
      canaryBody = await digestBody(res.body, opts.maxBodyBytes, bodyTimeout);
      if (bodyTimeout.aborted) return { status: res.status, error: "timeout", latencyMs: r.latencyMs, matched: null };
    }
    const matched = compareAnswers(
      { ...stable, body: await stableBody },
      { status: res.status, headers: pickHeaders(res.headers, opts.headers), body: canaryBody },
    );
    return { status: res.status, error: null, latencyMs: r.latencyMs, matched };
  } finally {
    // Whatever happened to the canary, stable's hash branch must be drained or the tee would
    // buffer the user's body for it.
    await stableBody.catch(() => {});
  }
}
