// The isolate's recorder and its line to the controller, called only from the recorder's background
// flush (ctx.waitUntil), never per request. Reports and view requests go to the aggregator of this
// isolate's location and shard (src/aggregator), which forwards one merged report per interval to
// the root; without the AGGREGATOR binding, or with REPORT_AGGREGATION = "off", straight to the
// root (the fallback). Operator and admin calls never come through here: they call the root directly.
import type { Env } from "../env";
import { controllerStub } from "../controller/rpc";
import { aggregatorName, aggregatorStub, shardsOf } from "../aggregator/rpc";
import { Recorder, type RecorderDeps } from "../telemetry/recorder";

/** Random per isolate: it picks the shard, and names the isolate's reports when debugging. */
const isolateId = Math.random().toString(36).slice(2, 10);
/** The Cloudflare location (`request.cf.colo`) this isolate runs in; "local" where there is none. */
let location = "local";

/** Called per request with `request.cf?.colo`: an isolate never moves, so this only ever sets it once. */
export function noteLocation(colo: unknown): void {
  if (location === "local" && typeof colo === "string" && colo !== "") location = colo;
}

function viaAggregator(env: Env): boolean {
  return env.AGGREGATOR !== undefined && env.REPORT_AGGREGATION !== "off";
}

/** The aggregator this isolate reports to (tests). */
export function aggregatorNameOf(env: Env): string {
  return aggregatorName(location, isolateId, shardsOf(env));
}

/** How an isolate reaches the controller. */
export const toController: Pick<RecorderDeps<Env>, "send" | "fetchView" | "watchView"> = {
  send: (env, report) =>
    viaAggregator(env) ? aggregatorStub(env, aggregatorNameOf(env)).report(report) : controllerStub(env).report(report),
  fetchView: (env) =>
    viaAggregator(env) ? aggregatorStub(env, aggregatorNameOf(env)).view() : controllerStub(env).view(),
  // Only through an aggregator: its answers carry the bound a watch relies on (boundMs); straight
  // to the root an isolate polls, as the root's watch slots are for aggregators.
  watchView: (env, known, maxWaitMs, boundMs) =>
    viaAggregator(env) ? aggregatorStub(env, aggregatorNameOf(env)).watch(known, maxWaitMs, boundMs) : null,
};

/** One per isolate (module state lives as long as the isolate). */
export const recorder = new Recorder<Env>({ ...toController, now: () => Date.now(), isolateId });

/**
 * How old the view may grow in an isolate that routes nothing (the control Worker's, which serves
 * OFREP) before a request there refreshes it in the background: an edge isolate with traffic hears
 * from its aggregator every ~2 s (its reports' answers), so OFREP sees a guard's kill as soon.
 */
export const IDLE_VIEW_MAX_AGE_MS = 2_000;

/**
 * For readers of `recorder.view` outside the proxy (OFREP): nothing else keeps this isolate's view
 * current. One view call at a time (shared with any in flight), in `ctx.waitUntil`; the request
 * reads the view it has, as a cold edge isolate's first request does.
 */
export function refreshIdleView(ctx: ExecutionContext, env: Env): void {
  const now = Date.now();
  const stamp = recorder.stamp(now);
  // A failing controller is asked again after the same interval, not by every request meanwhile.
  if ((stamp !== null && now - stamp <= IDLE_VIEW_MAX_AGE_MS) || now - idleRefreshAt <= IDLE_VIEW_MAX_AGE_MS) return;
  idleRefreshAt = now;
  ctx.waitUntil(recorder.refreshView(env));
}
let idleRefreshAt = -Infinity;
