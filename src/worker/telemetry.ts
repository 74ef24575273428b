// The isolate's recorder and its line to the controller: RPC on the single RolloutController
// instance, called only from the recorder's background flush (ctx.waitUntil), never per request.
import type { Env } from "../env";
import { controllerStub } from "../controller/rpc";
import { Recorder, type RecorderDeps } from "../telemetry/recorder";

/** How an isolate reaches the controller. */
export const toController: Pick<RecorderDeps<Env>, "send" | "fetchView"> = {
  send: (env, report) => controllerStub(env).report(report),
  fetchView: (env) => controllerStub(env).view(),
};

/** One per isolate (module state lives as long as the isolate). */
export const recorder = new Recorder<Env>({ ...toController, now: () => Date.now() });
