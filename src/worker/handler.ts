// The per-request pipeline: config → decision → upstream fetch (with failover) → telemetry →
// visitor cookie / explain header. See docs/architecture.md "The request pipeline".
//
// Fail-safe (decided here):
// | situation                                   | behaviour                                         |
// |---------------------------------------------|---------------------------------------------------|
// | canary fails a GET/HEAD/OPTIONS (5xx,       | retried once on stable; the user gets stable's    |
// | network, timeout)                           | answer; the canary failure is still recorded      |
// | canary fails any other method               | its answer (or 502/504) goes to the user; never   |
// |                                             | replayed                                          |
// | origin gives no answer, no failover applies | 502 (unreachable) / 504 (timeout), plain text,    |
// |                                             | `x-edgeshift-error` says which                    |
// | an exception of edgeshift's own before the  | logged; plain pass-through to stable (blue if no  |
// | upstream fetch started                      | config) — never a 5xx of ours                     |
// | telemetry throws once the origin answered   | the origin's answer is delivered as if nothing    |
// | (record, new-visitor count, flush, mirror,  | happened (a debug header left out); the fault is  |
// | explain header)                             | counted (`telemetryFaults`) and logged at most    |
// |                                             | once a minute per isolate — a bug in counting     |
// |                                             | must never become an outage of every request      |
// | an exception of edgeshift's own once the    | logged; 502 plain text, `x-edgeshift-error:       |
// | upstream fetch started, in what builds the  | internal-after-send`; never sent again (a POST    |
// | response itself (header fix, cookie, the    | must not be processed twice, and its body is gone)|
// | re-wrap)                                    | — nor the origin's answer passed on: it may be    |
// |                                             | half-rewritten by then                            |
// | x-edgeshift-explain from an address that     | the request served normally without the explain   |
// | sent too many wrong tokens                  | answer (src/worker/credentials.ts): a debug header|
// |                                             | never costs a user their page                     |
//
// The gate (issue 10: no request to a canary the fleet has abandoned). Before a request goes to the
// canary, the isolate's copy of the controller's verdict must be younger than VERDICT_MAX_AGE_MS
// (500 ms, src/telemetry/freshness.ts says why); stable-bound requests never wait.
// | situation                                   | behaviour                                         |
// |---------------------------------------------|---------------------------------------------------|
// | canary-bound, verdict fresh                 | sent at once; at half the bound a background      |
// |                                             | refresh starts (busy isolates never wait)         |
// | canary-bound, verdict stale (quiet isolate) | waits ≤ GATE_WAIT_MS (250 ms) for one view call   |
// |                                             | shared by the isolate's requests, then decides    |
// |                                             | again under it: a rollback sends it to stable     |
// | no fresh verdict within the wait            | sent to stable (the user's safety first: the      |
// | (controller slow, overloaded, unreachable)  | canary may be abandoned). Counted as `diverted`,  |
// |                                             | in neither slot's outcomes (the comparison stays  |
// |                                             | honest) while a new visitor still counts for the  |
// |                                             | slot its bucket assigned (the sample-ratio check  |
// |                                             | sees assignment, not delivery); never mirrored    |
// | what the diverted visitor sees              | stable's answer; cohort headers upstream say      |
// |                                             | stable (explain: `diverted=no-fresh-verdict`);    |
// |                                             | their cookie is kept: back on the canary once a   |
// |                                             | fresh verdict allows it                           |
// | it keeps happening                          | one `canary-diverted` warning per isolate and     |
// |                                             | minute; status `reports.diverted` (CLI, page)     |
// | shadow mirrors                              | not gated: their answers never reach the user,    |
// |                                             | and a rollback stops them with the next verdict   |
import type { Env } from "../env";
import type { Slot } from "../model/rollout";
import { getConfig, getFlags } from "./config-cache";
import {
  armOf,
  comparable,
  evaluateFlag,
  FLAGS_HEADER,
  originFlagsHeader,
  type CompiledFlags,
} from "../flags/evaluate";
import type { FlagOverrides } from "../flags/evaluate";
import { compiledFlags } from "./flags";
import { effectiveRollout } from "../routing/effective";
import { compileRouting, decide, type CompiledRouting, type Decision } from "../routing/decide";
import { stickyKeyOf } from "../routing/sticky";
import { cookieValue, visitorSetCookie } from "../routing/visitor";
import { OVERRIDE_COOKIE, OVERRIDE_HEADER, verifyOverride, type OverrideClaims } from "../routing/override";
import type { RequestFacts } from "../routing/targeting";
import type { Reached, Routed } from "../telemetry/recorder";
import { GOAL_HEADER, goalsReached, type CompiledGoals } from "../experiments/goals";
import { noteLocation, recorder } from "./telemetry";
import { networkOf, visitorOf } from "../telemetry/contributor";
import { maybeMirror } from "../proxy/mirror";
import { originBase, pathAndQuery, setCohortHeaders, upstreamHeaders } from "../proxy/headers";
import { canFailover, failed, fetchOrigin, originErrorResponse, timeoutOf, type FetchResult } from "../proxy/forward";
import { EXPLAIN_HEADER, explainValue } from "../proxy/explain";
import { explainRequested } from "./credentials";
import { fixOriginHeaders, originHeadersNeedFix } from "../proxy/response-headers";

interface Prepared {
  routing: CompiledRouting;
  routed: Routed;
}

// One compiled document per isolate, rebuilt only when the effective document changes.
let prepared: Prepared | null = null;
// Origin bases, recomputed only if the bindings change (they do not within an isolate).
let basesFor: string | null = null;
let bases: Record<Slot, string> = { blue: "", green: "" };

function prepare(doc: CompiledRouting["doc"], fingerprint: string, source: "kv" | "controller"): Prepared {
  const p = prepared;
  if (p !== null && p.routing.doc === doc && p.routing.fingerprint === fingerprint && p.routing.source === source)
    return p;
  return (prepared = { routing: compileRouting(doc, fingerprint, source), routed: { fingerprint, doc } });
}

function originsOf(env: Env): Record<Slot, string> {
  const key = env.BLUE_ORIGIN + "\n" + env.GREEN_ORIGIN;
  if (key !== basesFor) {
    bases = { blue: originBase(env.BLUE_ORIGIN), green: originBase(env.GREEN_ORIGIN) };
    basesFor = key;
  }
  return bases;
}

/** Per-isolate count of telemetry faults swallowed on the request path (for debugging and tests). */
export const telemetryFaults = { count: 0, lastLoggedAt: 0, unlogged: 0 };
const FAULT_LOG_INTERVAL_MS = 60_000;

/** Counts a telemetry fault; logs the first and then at most one a minute, with how many were not logged. */
function telemetryFailed(where: string, e: unknown): void {
  telemetryFaults.count++;
  const now = Date.now();
  if (telemetryFaults.lastLoggedAt !== 0 && now - telemetryFaults.lastLoggedAt < FAULT_LOG_INTERVAL_MS) {
    telemetryFaults.unlogged++;
    return;
  }
  try {
    console.error(
      JSON.stringify({
        level: "error",
        event: "telemetry-fault",
        where,
        message: (e as Error)?.message ?? String(e),
        stack: (e as Error)?.stack,
        notLoggedSince: telemetryFaults.unlogged,
        total: telemetryFaults.count,
      }),
    );
  } catch {
    // Even the log line must not reach the request.
  }
  telemetryFaults.lastLoggedAt = now;
  telemetryFaults.unlogged = 0;
}

function recordSafely(
  routed: Routed,
  o: ReturnType<typeof outcome>,
  visitor: number,
  network: number,
  reached?: Reached | null,
): void {
  try {
    recorder.record(routed, o, visitor, network, reached ?? undefined);
  } catch (e) {
    telemetryFailed("record", e);
  }
}

/** Whether the request has been handed to an origin: from then on an error must not send it again. */
interface Progress {
  sent: boolean;
}

export async function handleProxy(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const progress: Progress = { sent: false };
  try {
    return await route(request, env, ctx, progress);
  } catch (e) {
    console.error(
      JSON.stringify({
        level: "error",
        event: "proxy-internal-error",
        message: (e as Error)?.message ?? String(e),
        stack: (e as Error)?.stack,
        url: pathAndQuery(request.url),
        sent: progress.sent,
      }),
    );
    if (progress.sent)
      return new Response(
        "edgeshift: internal error after the request reached the origin; it was not sent again and may have been processed.\n",
        {
          status: 502,
          headers: {
            "content-type": "text/plain; charset=utf-8",
            "cache-control": "no-store",
            "x-edgeshift-error": "internal-after-send",
          },
        },
      );
    try {
      return await passThrough(request, env);
    } catch (e2) {
      console.error(
        JSON.stringify({
          level: "error",
          event: "proxy-passthrough-failed",
          message: (e2 as Error)?.message ?? String(e2),
        }),
      );
      return new Response("edgeshift: could not forward the request.\n", {
        status: 502,
        headers: { "content-type": "text/plain; charset=utf-8", "x-edgeshift-error": "internal" },
      });
    }
  }
}

async function route(request: Request, env: Env, ctx: ExecutionContext, progress: Progress): Promise<Response> {
  // Before any call to the controller's tier (the cold view, the gate's): they go to this location's
  // aggregator, and a first call under "local" would reach another one than every later call.
  noteLocation((request.cf as { colo?: unknown } | undefined)?.colo);
  // Both reads start before either is awaited: a cold isolate waits for the slower, not the sum.
  const c = getConfig(env, ctx);
  const fl = getFlags(env, ctx);
  const kv = c instanceof Promise ? await c : c;
  const flags = compiledFlags(fl instanceof Promise ? await fl : fl, recorder.view.killedFlags);
  const eff = effectiveRollout(kv, recorder.view);
  let { routing, routed } = prepare(eff.doc, eff.fingerprint, eff.source);
  const headers = request.headers;
  let sticky = stickyKeyOf(routing.sticky, headers);

  let override: OverrideClaims | null = null;
  // A rolled-back canary ignores a token's target (decide.ts), so only its flags could matter then.
  if (env.OVERRIDE_SECRET && (!routing.rolledBack || flags.all.length > 0)) {
    // WebCrypto only when a token is actually present.
    const token = headers.get(OVERRIDE_HEADER) ?? cookieValue(headers.get("cookie"), OVERRIDE_COOKIE);
    if (token !== null && token !== "")
      override = await verifyOverride(token, env.OVERRIDE_SECRET, Math.floor(Date.now() / 1000));
  }
  let d = decide(routing, sticky.key, override, routing.needsFacts ? factsOf(request) : null);
  /** The slot the visitor's bucket or rule assigned, whatever the gate does: for the sample-ratio check. */
  let assigned = d.slot;
  let diverted = false;
  if (d.role === "canary") {
    if (recorder.verdictFresh()) recorder.keepFresh(ctx, env);
    else if (await recorder.freshVerdict(ctx, env)) {
      // Decide again under the fresh view: a rollback decided elsewhere sends this request to stable.
      const fresh = effectiveRollout(kv, recorder.view);
      ({ routing, routed } = prepare(fresh.doc, fresh.fingerprint, fresh.source));
      sticky = stickyKeyOf(routing.sticky, headers);
      d = decide(routing, sticky.key, override, routing.needsFacts ? factsOf(request) : null);
      assigned = d.slot;
    } else {
      diverted = true;
      d = { ...d, slot: routing.stable, role: "stable" };
      recorder.recordDiverted();
    }
  }
  // The header check first: requests without it pay no await and no hashing. A throttled address
  // is served without the answer (credentials.ts): the debug header never refuses a page.
  const wantsExplain = headers.has(EXPLAIN_HEADER) ? await explainRequested(headers, env) : false;

  const origins = originsOf(env);
  const url = request.url;
  const path = pathAndQuery(url);
  const method = request.method;
  const body = request.body;
  const up = upstreamHeaders(headers, url, {
    slot: d.slot,
    role: d.role,
    bucket: d.bucket,
    release: routing.doc.release,
  });
  /** Each guarded flag's arm for this visitor, drawn before the answer and counted after it. */
  let flagArms: FlagArm[] | null = null;
  if (flags.toOrigin.length > 0 || flags.guarded.length > 0) {
    const facts = flags.needsFacts ? factsOf(request) : null;
    const forced = override?.flags ?? null;
    // Incoming copies are gone with every x-edgeshift-* field (proxy/headers.ts); this is ours.
    const value = originFlagsHeader(flags, sticky.key, facts, forced);
    if (value !== null) up.set(FLAGS_HEADER, value);
    if (flags.guarded.length > 0) flagArms = armsOf(flags, sticky.key, facts, forced);
  }
  // Who the outcome counts for: no single client may decide a verdict (docs/verdict.md).
  const visitor = visitorOf(sticky.key);
  const network = networkOf(headers.get("cf-connecting-ip"));
  let answered: Slot = d.slot;
  progress.sent = true;
  let result = await fetchOrigin(origins[d.slot] + path, method, up, body, timeoutOf(routing.doc, d.slot));
  let failover: string | null = null;

  if (d.role === "canary" && failed(result) && canFailover(method, body)) {
    // The failure is counted before the retry: a visitor who leaves meanwhile must not hide it.
    const exposure = flags.goals.goals.length > 0 ? reachedBy([], d.reason) : null;
    recordSafely(routed, outcome(d.slot, "canary", result, true), visitor, network, exposure);
    await result.response?.body?.cancel().catch(() => {});
    failover = `${d.slot}->${routing.stable} ${result.error ?? "status=" + result.status}`;
    answered = routing.stable;
    setCohortHeaders(up, { slot: answered, role: "stable" });
    result = await fetchOrigin(origins[answered] + path, method, up, null, timeoutOf(routing.doc, answered));
    // For experiments the visitor stays in the canary's arm, whoever answered (the canary's failure
    // is part of its effect): the goals count there, and the stable answer is no stable exposure.
    recordSafely(routed, outcome(answered, "stable", result, false), visitor, network, exposure && NOT_EXPOSED);
  }
  // Matched once, against the answer the visitor got: for the rollout's arm and every flag's.
  const goals = goalsOf(flags.goals, method, path, result);
  if (failover !== null) {
    if (goals !== null && goals.length > 0) reachGoalsSafely(routed, d.slot, visitor, network, goals);
  } else if (!diverted) {
    recordSafely(routed, outcome(d.slot, d.role, result, false), visitor, network, reachedBy(goals, d.reason));
  }

  if (flagArms !== null && flagArms.length > 0)
    recordFlagOutcomes(
      flags.fingerprint,
      flagArms,
      outcome(answered, answered === routing.canary ? "canary" : "stable", result, failover !== null),
      visitor,
      network,
      goals,
    );

  let response: Response;
  if (result.response === null) {
    response = originErrorResponse(result, answered, answered === routing.canary ? "canary" : "stable");
  } else {
    response = result.response;
    if (
      answered === routing.stable &&
      failover === null &&
      !diverted &&
      routing.doc.shadowPercent > 0 &&
      (method === "GET" || method === "HEAD")
    ) {
      // maybeMirror keeps its own faults (src/proxy/mirror.ts); this is for a throw it did not foresee.
      try {
        response = maybeMirror(request, response, routed, env, ctx, recorder, up.get(FLAGS_HEADER));
      } catch (e) {
        telemetryFailed("mirror", e);
      }
    }
  }

  const setCookie =
    sticky.newVisitorValue === null ? null : visitorSetCookie(sticky.newVisitorValue, url.startsWith("https:"));
  let explain: string | null = null;
  try {
    if (wantsExplain)
      explain = explainValue({
        decision: d,
        threshold: routing.threshold,
        release: routing.doc.release,
        source: routing.source,
        failover,
        diverted,
        answeredBy: answered,
      });
    if (setCookie !== null && d.reason === "bucket") recorder.recordNewVisitor(routed, assigned);
    recorder.maybeFlush(ctx, env);
  } catch (e) {
    telemetryFailed("after-answer", e);
  }

  // A 101 carries the WebSocket itself; it goes back untouched.
  const fix = result.response !== null && response.status !== 101 && originHeadersNeedFix(response.headers, origins);
  if ((fix || setCookie !== null || explain !== null) && response.status !== 101) {
    // Upstream response headers are immutable; re-wrapping keeps the body streaming.
    response = new Response(response.body, response);
    if (fix) fixOriginHeaders(response.headers, origins, url);
    if (setCookie !== null) response.headers.append("set-cookie", setCookie);
    if (explain !== null) response.headers.set(EXPLAIN_HEADER, explain);
  }
  return response;
}

/** Each guarded flag's arm gets the answer the visitor got (src/flags/guard.ts judges them). */
interface FlagArm {
  key: string;
  arm: Slot;
  judged: boolean;
}

/** The guarded flags whose variation this visitor drew at random, and the arm it puts them in. */
function armsOf(
  flags: CompiledFlags,
  key: string,
  facts: RequestFacts | null,
  forced: FlagOverrides | null,
): FlagArm[] {
  const out: FlagArm[] = [];
  for (const f of flags.guarded) {
    const arm = armOf(f, evaluateFlag(f, key, facts, forced));
    if (arm !== null) out.push({ key: f.key, arm, judged: comparable(f) });
  }
  return out;
}

function recordFlagOutcomes(
  flagsFingerprint: string,
  arms: FlagArm[],
  o: ReturnType<typeof outcome>,
  visitor: number,
  network: number,
  goals: readonly string[] | null,
): void {
  try {
    for (const a of arms)
      recorder.recordFlag(a.key, flagsFingerprint, a.arm, o, visitor, network, a.judged, goals ?? undefined);
  } catch (e) {
    telemetryFailed("record-flag", e);
  }
}

/**
 * The goals an answered request reached (src/experiments/goals.ts), or null when the flags document
 * declares none: then experiments cost nothing. Never throws into the request.
 */
function goalsOf(goals: CompiledGoals, method: string, path: string, r: FetchResult): readonly string[] | null {
  if (goals.goals.length === 0) return null;
  try {
    const q = path.indexOf("?");
    const signals = goals.readsSignal ? (r.response?.headers.get(GOAL_HEADER) ?? null) : null;
    return goalsReached(goals, method, q < 0 ? path : path.slice(0, q), r.status, signals);
  } catch (e) {
    telemetryFailed("goals", e);
    return null;
  }
}

const NOT_EXPOSED: Reached = { goals: [], random: true, exposed: false };

function reachGoalsSafely(routed: Routed, slot: Slot, visitor: number, network: number, goals: readonly string[]) {
  try {
    recorder.reachGoals(routed, slot, visitor, network, goals);
  } catch (e) {
    telemetryFailed("goals", e);
  }
}

/** Experiments count a visitor only where chance put it: the split's bucket, not a rule or a token. */
function reachedBy(goals: readonly string[] | null, reason: Decision["reason"]): Reached | null {
  if (goals === null) return null;
  return { goals, random: reason === "bucket" };
}

function outcome(slot: Slot, role: Decision["role"], r: FetchResult, failedOver: boolean) {
  return { slot, role, status: r.status, error: r.error, latencyMs: r.latencyMs, failedOver };
}

function factsOf(request: Request): RequestFacts {
  const cf = request.cf as { country?: string; colo?: string } | undefined;
  return {
    headers: request.headers,
    ip: request.headers.get("cf-connecting-ip"),
    country: cf?.country ?? null,
    colo: cf?.colo ?? null,
  };
}

/** Last resort after an internal error before anything was sent: the request as it came, to stable, no cohort headers. */
async function passThrough(request: Request, env: Env): Promise<Response> {
  const stable: Slot = prepared?.routing.stable ?? "blue";
  const origins = originsOf(env);
  const r = await fetchOrigin(
    origins[stable] + pathAndQuery(request.url),
    request.method,
    upstreamHeaders(request.headers, request.url, null),
    request.bodyUsed ? null : request.body,
    30_000,
  );
  const response = r.response;
  if (response === null) return originErrorResponse(r, stable, "stable");
  // The origin speaks no more in edgeshift's name here than on the normal path.
  if (response.status === 101 || !originHeadersNeedFix(response.headers, origins)) return response;
  const fixed = new Response(response.body, response);
  fixOriginHeaders(fixed.headers, origins, request.url);
  return fixed;
}
