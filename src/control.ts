// The control Worker "edgeshift-control" (wrangler.control.toml): the Durable Objects
// (RolloutController, ReportAggregator) and the admin app under /__edgeshift (src/admin/app.ts:
// admin API, OFREP, status page, health). It has no route of its own: the edge Worker (src/index.ts)
// hands it every `/__edgeshift*` request through its CONTROL service binding, and binds both
// Durable Objects from here by `script_name`. Kept apart so the edge bundle, which every new
// isolate parses before its first answer, carries none of this.
import type { Env } from "./env";
import { adminApp } from "./admin/app";
export { RolloutController } from "./controller/durable-object";
export { ReportAggregator } from "./aggregator/durable-object";

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> | Response {
    return adminApp.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
