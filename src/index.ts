// The edge Worker "edgeshift" (wrangler.toml): every request but `/__edgeshift*` goes through the
// proxy pipeline (src/worker/handler.ts). `/__edgeshift*` (admin API, OFREP, status page, health) is
// edgeshift's own, never proxied: it is handed whole to the control Worker "edgeshift-control"
// (src/control.ts) through the CONTROL service binding, so this bundle carries neither hono nor the
// admin app nor the Durable Object classes: every new isolate parses less before its first answer
// (issue 8; scripts/bench-bundle.ts, scripts/bench-cold-start.ts).
//
// | situation                              | answer                                                    |
// |----------------------------------------|-----------------------------------------------------------|
// | CONTROL not bound                      | 503 {error} saying how to bind it; traffic unaffected      |
// | the control Worker throws or is absent | 503 {error} with what went wrong; traffic unaffected       |
import type { Env } from "./env";
import { ADMIN_PREFIX } from "./model/names";
import { handleProxy } from "./worker/handler";
import { pathAndQuery } from "./proxy/headers";

/** True for "/__edgeshift", "/__edgeshift/…" and "/__edgeshift?…", not for "/__edgeshiftx". */
export function isAdminPath(url: string): boolean {
  const p = pathAndQuery(url);
  if (!p.startsWith(ADMIN_PREFIX)) return false;
  const c = p.charCodeAt(ADMIN_PREFIX.length);
  return Number.isNaN(c) || c === 47 || c === 63;
}

/**
 * The request as it came (method, headers with cf-connecting-ip, body, `cf`) to the control Worker.
 * A service binding runs it without a network hop, on the same thread by default
 * (https://developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/).
 */
async function toControl(request: Request, env: Env): Promise<Response> {
  if (env.CONTROL === undefined)
    return unavailable(
      'the CONTROL service binding is missing: add `services = [{ binding = "CONTROL", service = "edgeshift-control" }]` to wrangler.toml and deploy both scripts (README, "Put it in production")',
    );
  try {
    return await env.CONTROL.fetch(request);
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    console.error(JSON.stringify({ level: "error", event: "control-unavailable", message: msg }));
    return unavailable(
      `the control Worker (edgeshift-control) did not answer: ${msg}. Traffic is unaffected; retry shortly`,
    );
  }
}

function unavailable(error: string): Response {
  return Response.json({ error }, { status: 503, headers: { "cache-control": "no-store" } });
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> | Response {
    if (isAdminPath(request.url)) return toControl(request, env);
    return handleProxy(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
