// Entry point: `/__edgeshift/*` is edgeshift's own (admin API, status page, health: src/admin/app.ts)
// and is never proxied; everything else goes through the proxy pipeline (src/worker/handler.ts).
import type { Env } from "./env";
import { ADMIN_PREFIX } from "./model/names";
import { adminApp } from "./admin/app";
import { handleProxy } from "./worker/handler";
import { pathAndQuery } from "./proxy/headers";
export { RolloutController } from "./controller/durable-object";
export { ReportAggregator } from "./aggregator/durable-object";

/** True for "/__edgeshift", "/__edgeshift/…" and "/__edgeshift?…", not for "/__edgeshiftx". */
export function isAdminPath(url: string): boolean {
  const p = pathAndQuery(url);
  if (!p.startsWith(ADMIN_PREFIX)) return false;
  const c = p.charCodeAt(ADMIN_PREFIX.length);
  return Number.isNaN(c) || c === 47 || c === 63;
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> | Response {
    if (isAdminPath(request.url)) return adminApp.fetch(request, env, ctx);
    return handleProxy(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
