// OFREP under the admin prefix: `POST /__edgeshift/ofrep/v1/evaluate/flags/{key}` and
// `POST /__edgeshift/ofrep/v1/evaluate/flags` (bulk), so the official OpenFeature OFREP providers use
// edgeshift as their flag source with `baseUrl: "https://<app>/__edgeshift"`. Shapes and error codes:
// src/flags/ofrep.ts.
//
// Two callers, told apart by a credential:
// | caller                          | how it proves it                   | flags it sees    | targeting key             |
// |---------------------------------|------------------------------------|------------------|---------------------------|
// | an app server (server SDK)      | `Authorization: Bearer` or         | all              | context.targetingKey      |
// |                                 | `X-API-Key`: FLAGS_TOKEN (evaluate |                  | (required); rules read    |
// |                                 | only) or an admin token            |                  | the context               |
// | a browser (web SDK)             | nothing                            | `browser: true`  | the visitor's own sticky  |
// |                                 |                                    | only             | key, as the proxy uses it |
// A browser's context.targetingKey is ignored: the key is the one the proxy routes this visitor by
// (its edgeshift_vid cookie, minted and set here when missing, or the rollout's stickyBy), so the
// page and the origin see the same variations, and no visitor can pick theirs by naming another
// key. A tester's signed override token (header or cookie) applies in both, as on the proxy.
// | situation                                   | answer                                                |
// |---------------------------------------------|-------------------------------------------------------|
// | a credential that is wrong                  | 401 + WWW-Authenticate (counted with admin tokens'    |
// |                                             | failures, whether or not an admin token is set)       |
// | too many wrong credentials from the address | 429 + Retry-After                                     |
// | body over 16 KiB (declared or as read)      | 413 {errorCode: GENERAL}; never read past the bound    |
// | bulk, If-None-Match equals the ETag         | 304, no body (the ETag names the evaluated body: the  |
// |                                             | flags' version and this caller's variations)          |
// No KV read or controller call on the request path: the flags are the isolate's cached copy, and the
// controller's view (a guard's kill) is refreshed in the background when older than 2 s, as nothing
// else refreshes it in the control Worker (src/worker/telemetry.ts, refreshIdleView).
import { Hono } from "hono/tiny";
import type { Context } from "hono";
import type { Env } from "../env";
import type { AdminEnv } from "./auth";
import { getConfig, getFlags } from "../worker/config-cache";
import { compiledFlags } from "../worker/flags";
import { recorder, refreshIdleView } from "../worker/telemetry";
import { authenticate } from "../worker/credentials";
import { evaluateFlag, type CompiledFlags, type FlagOverrides } from "../flags/evaluate";
import {
  MAX_BODY_BYTES,
  contextOf,
  factsOfContext,
  notFound,
  success,
  targetingKeyOf,
  visible,
  type OfrepFailure,
} from "../flags/ofrep";
import { effectiveRollout } from "../routing/effective";
import { compileSticky, stickyKeyOf } from "../routing/sticky";
import { cookieValue, visitorSetCookie } from "../routing/visitor";
import { OVERRIDE_COOKIE, OVERRIDE_HEADER, verifyOverride } from "../routing/override";
import type { RequestFacts } from "../routing/targeting";
import { fingerprintOf } from "../model/fingerprint";
import { readTextUpTo } from "../lib/bounded-read";

type Ctx = Context<AdminEnv>;

/** As admin tokens (src/worker/credentials.ts): a shorter FLAGS_TOKEN is ignored, and said so in the 401. */
const MIN_FLAGS_TOKEN_CHARS = 32;

/** Who is asking, and for whom: what every evaluation of one request shares. */
interface Caller {
  server: boolean;
  key: string;
  facts: RequestFacts;
  overrides: FlagOverrides | null;
  /** A visitor id minted for a browser without one: its cookie goes on the answer. */
  setCookie: string | null;
  flags: CompiledFlags;
}

export const ofrepApi = new Hono<AdminEnv>({ strict: false });

ofrepApi.post("/v1/evaluate/flags/:key", async (c) => {
  const key = c.req.param("key");
  const caller = await callerOf(c, key);
  if (caller instanceof Response) return caller;
  const f = caller.flags.byKey.get(key);
  if (f === undefined || !visible(f, caller.server)) return answer(c, caller, notFound(key), 404);
  return answer(c, caller, success(evaluateFlag(f, caller.key, caller.facts, caller.overrides)), 200);
});

ofrepApi.post("/v1/evaluate/flags", async (c) => {
  const caller = await callerOf(c, null);
  if (caller instanceof Response) return caller;
  const flags = caller.flags.all
    .filter((f) => visible(f, caller.server))
    .map((f) => success(evaluateFlag(f, caller.key, caller.facts, caller.overrides)));
  const body = JSON.stringify({ flags, metadata: { version: caller.flags.fingerprint } });
  const etag = `"${fingerprintOf(body)}"`;
  c.header("etag", etag);
  if (caller.setCookie !== null) c.header("set-cookie", caller.setCookie, { append: true });
  if (matches(c.req.header("if-none-match"), etag)) return c.body(null, 304);
  c.header("content-type", "application/json");
  return c.body(body, 200);
});

/** If-None-Match against our ETag (RFC 9110 §13.1.2: weak comparison, lists, "*"). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v === etag || v === "W/" + etag;
  });
}

function answer(c: Ctx, caller: Caller, body: unknown, status: 200 | 400 | 404) {
  if (caller.setCookie !== null) c.header("set-cookie", caller.setCookie, { append: true });
  return c.json(body, status);
}

/**
 * The caller and its evaluation inputs, or the refusal. `flagKey`: a single evaluation's flag, named
 * in its error bodies (the protocol's evaluationFailure requires `key`; a bulk failure has none).
 */
async function callerOf(c: Ctx, flagKey: string | null): Promise<Caller | Response> {
  const refuse = (failure: OfrepFailure, status: 400 | 413) =>
    c.json(flagKey === null ? failure : { key: flagKey, ...failure }, status);
  const env = c.env as Env;
  const server = await serverCaller(c, env);
  if (server instanceof Response) return server;
  // Bounded before anything is read: a browser call needs no credential, and a body read whole
  // first could be as large as the request limit (100 MB and up) in an isolate of 128 MB.
  const text = await boundedBody(c.req.raw);
  if (text === null)
    return refuse(
      { errorCode: "GENERAL", errorDetails: `the body is over ${MAX_BODY_BYTES / 1024} KiB: send only the context` },
      413,
    );
  const parsed = contextOf(text);
  if (!parsed.ok) return refuse(parsed.failure, 400);
  const ctx = c.executionCtx as ExecutionContext;
  refreshIdleView(ctx, env);
  const rollout = getConfig(env, ctx);
  const fl = getFlags(env, ctx);
  const kv = rollout instanceof Promise ? await rollout : rollout;
  const flags = compiledFlags(fl instanceof Promise ? await fl : fl, recorder.view.killedFlags);
  const overrides = await overridesOf(c, env);
  if (server) {
    const key = targetingKeyOf(parsed.context);
    if (typeof key !== "string") return refuse(key, 400);
    return { server, key, facts: factsOfContext(parsed.context), overrides, setCookie: null, flags };
  }
  // The key the proxy would route this visitor by, from the document it would route by.
  const doc = effectiveRollout(kv, recorder.view).doc;
  const headers = c.req.raw.headers;
  const sticky = stickyKeyOf(compileSticky(doc.stickyBy), headers);
  const cf = c.req.raw.cf as { country?: string; colo?: string } | undefined;
  return {
    server,
    key: sticky.key,
    facts: { headers, ip: headers.get("cf-connecting-ip"), country: cf?.country ?? null, colo: cf?.colo ?? null },
    overrides,
    setCookie:
      sticky.newVisitorValue === null ? null : visitorSetCookie(sticky.newVisitorValue, c.req.url.startsWith("https:")),
    flags,
  };
}

/** True for a proven server, false for a browser (no credential), or the refusal. */
async function serverCaller(c: Ctx, env: Env): Promise<boolean | Response> {
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  const given = bearer ?? c.req.header("x-api-key");
  if (given === undefined || given === "") return false;
  // FLAGS_TOKEN beside the admin tokens, through the same compare and the same brake on guessing.
  const flagsToken =
    env.FLAGS_TOKEN && env.FLAGS_TOKEN.length >= MIN_FLAGS_TOKEN_CHARS
      ? [{ name: "flags", token: env.FLAGS_TOKEN }]
      : [];
  const r = await authenticate(given, env, c.req.header("cf-connecting-ip") ?? null, "flags", flagsToken);
  if (r.kind === "ok") return true;
  if (r.kind === "throttled") {
    c.header("retry-after", String(r.retryAfterS));
    return c.json(
      { errorCode: "GENERAL", errorDetails: `too many refused credentials: retry in ${r.retryAfterS} s` },
      429,
    );
  }
  c.header("www-authenticate", 'Bearer realm="edgeshift"');
  return c.json(
    {
      errorCode: "GENERAL",
      errorDetails: `the credential was refused: send FLAGS_TOKEN (at least ${MIN_FLAGS_TOKEN_CHARS} characters; a shorter one is ignored) or an admin token as Authorization: Bearer, or none to evaluate as the browser`,
    },
    401,
  );
}

async function overridesOf(c: Ctx, env: Env): Promise<FlagOverrides | null> {
  if (!env.OVERRIDE_SECRET) return null;
  const token = c.req.header(OVERRIDE_HEADER) ?? cookieValue(c.req.header("cookie") ?? null, OVERRIDE_COOKIE);
  if (token === null || token === "") return null;
  return (await verifyOverride(token, env.OVERRIDE_SECRET, Math.floor(Date.now() / 1000)))?.flags ?? null;
}

/** The body as text if it is at most MAX_BODY_BYTES (by Content-Length, then as read), else null. */
async function boundedBody(req: Request): Promise<string | null> {
  const declared = Number(req.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return null;
  if (req.body === null) return "";
  const got = await readTextUpTo(req.body, MAX_BODY_BYTES);
  return got.whole ? got.text : null;
}
