// The isolate's line to the controller: RPC on the single RolloutController instance. Called only
// from the recorder's background flush (ctx.waitUntil), never per request.
import type { Env } from "../env";
import { controllerStub } from "../controller/rpc";
import type { ControllerView, Report } from "./protocol";

export function sendReportToController(env: Env, report: Report): Promise<ControllerView> {
  return controllerStub(env).report(report);
}

export function fetchViewFromController(env: Env): Promise<ControllerView> {
  return controllerStub(env).view();
}
