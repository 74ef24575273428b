// The admin app under /__edgeshift (hono): health, the JSON API the CLI and the status page use,
// and the page itself. It runs in the control Worker (src/control.ts), which the edge Worker
// (src/index.ts) hands every `/__edgeshift*` request through its CONTROL service binding.
//
// | route                                  | auth   | answer                                                |
// |----------------------------------------|--------|-------------------------------------------------------|
// | GET  /__edgeshift/healthz              | public | 200 "ok" (reveals nothing)                            |
// | GET  /__edgeshift/                     | public | the status page: HTML with no data; it asks the API   |
// | GET  /__edgeshift/api/status           | bearer | StatusSnapshot                                        |
// | GET  /__edgeshift/api/metrics          | bearer | Prometheus text format 0.0.4 (./metrics.ts)           |
// | GET  /__edgeshift/api/history?limit=N  | bearer | { events } newest first, N 1–1000 (default 50)        |
// | POST /__edgeshift/api/actions/:action  | bearer | pause/resume/promote/abort/approve, body {note?, reason?} |
// | POST /__edgeshift/api/notifications/test | bearer | a test message to each destination, body {destination?} |
// | GET|PUT /__edgeshift/api/rollout       | bearer | the document, written against its version (./document-api.ts) |
// | POST /__edgeshift/ofrep/v1/evaluate/flags[/:key] | see ./ofrep-api.ts | OpenFeature remote evaluation (OFREP) |
//
// Fail-safe answers (never an exception, never a cached admin answer: `cache-control: no-store`):
// | situation                    | answer                                                              |
// |------------------------------|---------------------------------------------------------------------|
// | no token configured, or one  | 503 {error} saying how to set one (src/admin/auth.ts)                |
// | shorter than 32 characters   |                                                                     |
// | token missing or wrong       | 401 {error} + `WWW-Authenticate: Bearer realm="edgeshift"`            |
// | too many wrong tokens        | 429 {error} + Retry-After, the token not compared                     |
// | bad query/body/unknown action| 400 {error, field} naming the field and the fix                      |
// | action does not apply now    | 409 {error} (e.g. resume with nothing paused)                         |
// | controller fails or is slow  | 503 {error} after at most CONTROLLER_TIMEOUT_MS                        |
import { Hono } from "hono/tiny";
import type { Context } from "hono";
import * as z from "../lib/zod";
import { ADMIN_PREFIX } from "../model/names";
import { getConfig, getConfigState } from "../worker/config-cache";
import { controllerStub } from "../controller/rpc";
import type { ActionKind, StatusSnapshot } from "../model/status";
import { notApplicableReason } from "../model/action-error";
import { statusPageHtml } from "./page";
import { documentApi } from "./document-api";
import { noteField, reasonField } from "./fields";
import { withTimeout } from "../lib/timeout";
import { actorOf, requireAdmin, type AdminEnv } from "./auth";
import { ofrepApi } from "./ofrep-api";
import { formatMetrics, METRICS_CONTENT_TYPE } from "./metrics";

const ACTIONS = ["pause", "resume", "promote", "abort", "approve"] as const satisfies readonly ActionKind[];
/** An operator waiting on a status should hear "controller unavailable", not hang with it. */
export const CONTROLLER_TIMEOUT_MS = 10_000;

const historyQuery = z.strictObject({
  limit: z._default(
    z.coerce
      .number({ error: "limit must be a whole number from 1 to 1000, e.g. ?limit=50" })
      .check(
        z.int("limit must be a whole number from 1 to 1000, e.g. ?limit=50"),
        z.minimum(1, "limit must be at least 1, e.g. ?limit=50"),
        z.maximum(1000, "limit must be at most 1000"),
      ),
    50,
  ),
});

// The actor is the token's name (actorOf); `actor` in a body is the older name of `note`.
const actionBody = z.strictObject({
  note: noteField("note"),
  actor: noteField("actor"),
  reason: reasonField("error budget burning"),
});

export const adminApp = new Hono<AdminEnv>({ strict: false }).basePath(ADMIN_PREFIX);

adminApp.use("*", async (c, next) => {
  await next();
  c.header("cache-control", "no-store");
  c.header("x-content-type-options", "nosniff");
});

adminApp.get("/healthz", (c) => c.text("ok"));

// Public on purpose: the page carries no data and no token; everything it shows comes from the
// token-protected API, so a page without a token shows only the token form.
adminApp.get("/", (c) => {
  c.header(
    "content-security-policy",
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  );
  c.header("referrer-policy", "no-referrer");
  return c.html(statusPageHtml());
});

// OpenFeature's remote evaluation protocol: its own door (browsers unauthenticated, app servers by
// FLAGS_TOKEN or an admin token), ./ofrep-api.ts.
adminApp.route("/ofrep", ofrepApi);

adminApp.use("/api/*", requireAdmin);

adminApp.get("/api/status", async (c) => {
  const s = await callController(c, (ctl) => ctl.status());
  if (s instanceof Response) return s;
  return c.json(await withIsolateConfigError(c, s));
});

// Prometheus scrapes with `authorization: {credentials: <admin token>}` (README "Prometheus").
adminApp.get("/api/metrics", async (c) => {
  const s = await callController(c, (ctl) => ctl.status());
  if (s instanceof Response) return s;
  return c.body(formatMetrics(await withIsolateConfigError(c, s)), 200, { "content-type": METRICS_CONTENT_TYPE });
});

adminApp.get("/api/history", async (c) => {
  const q = historyQuery.safeParse(c.req.query());
  if (!q.success) return badRequest(c, q.error, "the only query parameter is limit, e.g. ?limit=50");
  const events = await callController(c, (ctl) => ctl.history(q.data.limit));
  if (events instanceof Response) return events;
  return c.json({ events });
});

adminApp.post("/api/actions/:action", async (c) => {
  const kind = c.req.param("action");
  if (!(ACTIONS as readonly string[]).includes(kind)) {
    return c.json(
      {
        error: `unknown action "${kind}": use one of ${ACTIONS.join(", ")} (POST ${ADMIN_PREFIX}/api/actions/pause)`,
        field: "action",
      },
      400,
    );
  }
  const raw = await optionalJsonObject(c, '{"note":"alice","reason":"why"}');
  if (raw instanceof Response) return raw;
  const b = actionBody.safeParse(raw);
  if (!b.success)
    return badRequest(c, b.error, 'the body takes only note and reason, e.g. {"note":"alice","reason":"why"}');
  const req = { actor: actorOf(c), note: b.data.note ?? b.data.actor, reason: b.data.reason };
  const status = await callController(c, (ctl) => ctl.action(kind as ActionKind, req));
  if (status instanceof Response) return status;
  return c.json({ ok: true, status: await withIsolateConfigError(c, status) });
});

// A test message to each notification destination (or `destination`), one try each: 200 with each
// one's outcome (a failed delivery is an answer, not an error), 409 for a destination not configured.
const notifyTestBody = z.strictObject({
  destination: z.optional(
    z.string().check(z.regex(/^[A-Za-z0-9_-]{1,40}$/, 'destination is a destination\'s name, e.g. "releases"')),
  ),
});

adminApp.post("/api/notifications/test", async (c) => {
  const raw = await optionalJsonObject(c, '{"destination":"releases"}');
  if (raw instanceof Response) return raw;
  const b = notifyTestBody.safeParse(raw);
  if (!b.success) return badRequest(c, b.error, 'the body takes only destination, e.g. {"destination":"releases"}');
  const results = await callController(c, (ctl) => ctl.testNotifications(actorOf(c), b.data.destination));
  if (results instanceof Response) return results;
  return c.json({ results });
});

adminApp.route("/api/rollout", documentApi(callController));

adminApp.notFound((c) =>
  c.json(
    {
      error: `no such admin route: ${c.req.method} ${new URL(c.req.url).pathname} (see GET ${ADMIN_PREFIX}/api/status, ${ADMIN_PREFIX}/api/metrics, ${ADMIN_PREFIX}/api/history, POST ${ADMIN_PREFIX}/api/actions/:action, POST ${ADMIN_PREFIX}/api/notifications/test)`,
    },
    404,
  ),
);

adminApp.onError((e, c) => {
  console.error(JSON.stringify({ level: "error", event: "admin-error", message: e?.message ?? String(e) }));
  return c.json({ error: `internal error in the admin API: ${e?.message ?? e}` }, 500);
});

/**
 * Runs one controller call; a typed "does not apply" becomes 409, anything else (the DO failing,
 * overloaded, timing out) 503 with what went wrong.
 */
async function callController<T>(
  c: Context<AdminEnv>,
  f: (ctl: ReturnType<typeof controllerStub>) => Promise<T>,
): Promise<T | Response> {
  try {
    return await withTimeout(f(controllerStub(c.env)), CONTROLLER_TIMEOUT_MS, "the controller");
  } catch (e) {
    const notApplicable = notApplicableReason(e);
    if (notApplicable !== null) return c.json({ error: notApplicable }, 409);
    const msg = (e as Error)?.message ?? String(e);
    console.error(JSON.stringify({ level: "error", event: "admin-controller-failed", message: msg }));
    return c.json(
      { error: `the rollout controller (Durable Object) is unavailable: ${msg}. Traffic is unaffected; retry shortly` },
      503,
    );
  }
}

/** A body that is optional (none: `{}`) and otherwise a JSON object, or the 400 that says what to send. */
async function optionalJsonObject(c: Context<AdminEnv>, example: string): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return c.json({ error: `the body is not JSON: send ${example} or no body`, field: "body" }, 400);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    return c.json({ error: `the body must be a JSON object such as ${example}`, field: "body" }, 400);
  return raw;
}

function badRequest(c: Context<AdminEnv>, err: z.core.$ZodError, allowed: string) {
  const issue = err.issues[0];
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as { keys: string[] }).keys;
    return c.json({ error: `unknown field ${keys.map((k) => `"${k}"`).join(", ")}: ${allowed}`, field: keys[0] }, 400);
  }
  const field = issue.path.join(".");
  return c.json({ error: issue.message.startsWith(field) ? issue.message : `${field}: ${issue.message}`, field }, 400);
}

/**
 * The isolate's own view of an invalid KV document, when the controller has none to report. This
 * isolate is the control Worker's, which routes nothing, so it reads the document here (cached as
 * the edge's isolates cache it: at most one KV read per CONFIG_TTL_SECONDS, bounded by its timeout).
 */
async function withIsolateConfigError(c: Context<AdminEnv>, s: StatusSnapshot): Promise<StatusSnapshot> {
  if (s.configError) return s;
  const read = getConfig(c.env, c.executionCtx as ExecutionContext);
  if (read instanceof Promise) await read;
  const e = getConfigState().lastError;
  return e
    ? {
        ...s,
        configError: {
          at: e.at,
          summary: e.summary,
          problems: e.problems.map((p) => ({ path: p.path, message: p.message })),
        },
      }
    : s;
}
