// The workerd tests' main Worker: both scripts in one. `runInDurableObject` and
// `abortAllDurableObjects` reach only Durable Objects of the pool's main Worker (they run in the
// tests' own isolate), so this entry exports the control Worker's classes and routes as the two
// scripts do together: `/__edgeshift*` to the control Worker's admin app, the rest to the edge's
// proxy. The forwarding itself (the CONTROL service binding, the Durable Objects reached by
// script_name) is what the e2e tests prove against `wrangler dev` with both configs.
import edge, { isAdminPath } from "../../src/index";
import control from "../../src/control";
import type { Env } from "../../src/env";
export { RolloutController, ReportAggregator } from "../../src/control";

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> | Response {
    return isAdminPath(request.url) ? control.fetch(request, env, ctx) : edge.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
