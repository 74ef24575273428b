// The canary gate (src/worker/handler.ts, issue 10) in workerd: real Worker, real controller, real
// origins. A quiet isolate's verdict is aged by hand (VERDICT_MAX_AGE_MS back) rather than by
// waiting; a slow or unreachable controller is the real one behind a delay or a refusal in the
// recorder's transport.
import { env } from "cloudflare:test";
import { afterEach, expect, inject, it, vi } from "vitest";
import { controllerStub } from "../../src/controller/rpc";
import { recorder, toController } from "../../src/worker/telemetry";
import { GATE_WAIT_MS, VERDICT_MAX_AGE_MS } from "../../src/telemetry/freshness";
import type { Env } from "../../src/env";
import { echo, useRollout, visitorCookieOf } from "./helpers";

const EXPLAIN = { "x-edgeshift-explain": "test-admin-token-0123456789abcdef" };

const seenBy = async (origin: "blueUrl" | "greenUrl", url: string) =>
  ((await (await fetch(inject(origin) + "/__origin/requests")).json()) as { url: string }[]).filter(
    (s) => s.url === url,
  ).length;

/** As if this isolate had heard nothing from the controller for longer than the bound. */
function ageVerdict() {
  // An open watch at the aggregator would keep vouching for the verdict: it is cut, as a cancelled one.
  recorder.dropWatch();
  recorder.verdictAt = (recorder.verdictAt ?? Date.now()) - VERDICT_MAX_AGE_MS - 1;
}

/** A visitor cookie whose bucket is `role` under the document in force (found with explain). */
async function visitorFor(role: "canary" | "stable"): Promise<string> {
  for (let i = 0; i < 64; i++) {
    const { r } = await echo(`/find-${role}/${i}`, { headers: EXPLAIN });
    const explain = r.headers.get("x-edgeshift-explain") ?? "";
    if (explain.includes(`role=${role};`) && !explain.includes("diverted")) return visitorCookieOf(r)!;
  }
  throw new Error(`no ${role} visitor in 64 tries`);
}

afterEach(() => vi.restoreAllMocks());

/** The first request of an isolate that never heard from the controller (a loaded machine may divert it). */
async function warmOnCanary(path: string) {
  await vi.waitFor(async () => expect((await echo(path)).r.headers.get("x-origin")).toBe("green"), {
    timeout: 5000,
    interval: 50,
  });
}

it("a quiet isolate's canary-bound POST after a rollback decided elsewhere goes to stable", async () => {
  await useRollout({ percent: 100, canary: "green", release: "gate-a" });
  await warmOnCanary("/gate-a/warm");
  // The isolate has heard the controller (its first look runs in the background): what it holds
  // predates the rollback below, as a quiet isolate's verdict does.
  await vi.waitFor(() => expect(recorder.verdictAt).not.toBeNull(), { timeout: 5000, interval: 20 });
  // Decided elsewhere: no report of this isolate's, its cached KV copy still says 100 %.
  await controllerStub(env).action("abort", { actor: "test", reason: "decided by another isolate's reports" });
  ageVerdict();

  const { r, j } = await echo("/gate-a/after", { method: "POST", body: "order=1" });
  expect(r.status).toBe(200);
  expect(j.origin).toBe("blue");
  expect(await seenBy("greenUrl", "/gate-a/after")).toBe(0);
  expect(recorder.view.doc?.rolledBack?.reason).toMatch(/another isolate/);
  await controllerStub(env).settle();
});

it("a stale verdict and a slow or unreachable controller: canary-bound requests go to stable within the wait, counted as diverted", async () => {
  await useRollout({ percent: 100, canary: "green", release: "gate-b" });
  await warmOnCanary("/gate-b/warm");
  ageVerdict();
  // The real controller, 2 s away: its view calls, and its watches should a waiting request ever
  // open one (it does not: only after a fresh answer).
  vi.spyOn(recorder.deps, "fetchView").mockImplementation(async (e: Env) => {
    await new Promise((r) => setTimeout(r, 2000));
    return toController.fetchView(e);
  });
  vi.spyOn(recorder.deps, "watchView").mockImplementation(async (e: Env, ...args) => {
    await new Promise((r) => setTimeout(r, 2000));
    return toController.watchView!(e, ...args)!;
  });
  const diverted = recorder.diverted;
  const t0 = Date.now();
  const { r, j } = await echo("/gate-b/slow", { method: "POST", body: "x", headers: EXPLAIN });
  const took = Date.now() - t0;
  expect(j.origin).toBe("blue");
  expect(took).toBeGreaterThanOrEqual(GATE_WAIT_MS - 5);
  expect(took).toBeLessThan(GATE_WAIT_MS + 1500);
  expect(r.headers.get("x-edgeshift-explain")).toMatch(/slot=blue; role=stable; .*diverted=no-fresh-verdict/);
  expect(await seenBy("greenUrl", "/gate-b/slow")).toBe(0);
  expect(recorder.diverted).toBe(diverted + 1);

  // Unreachable: refused at once, diverted at once.
  vi.spyOn(recorder.deps, "fetchView").mockRejectedValue(new Error("unreachable"));
  vi.spyOn(recorder.deps, "watchView").mockRejectedValue(new Error("unreachable"));
  await new Promise((r) => setTimeout(r, 2100)); // let the slow calls above finish
  ageVerdict();
  expect((await echo("/gate-b/refused", { method: "POST", body: "x" })).j.origin).toBe("blue");
  expect(recorder.diverted).toBe(diverted + 2);
  expect(await seenBy("greenUrl", "/gate-b/refused")).toBe(0);

  // The controller hears of them apart from both slots' outcomes.
  // (A flush may already be on its way: the requests above start one every 2 s.)
  vi.restoreAllMocks();
  await vi.waitFor(
    async () => {
      await recorder.flush(env as Env);
      expect((await controllerStub(env).status()).reports.diverted).toBeGreaterThanOrEqual(2);
    },
    { timeout: 5000, interval: 100 },
  );
  expect(recorder.diverted).toBe(0);
});

it("stable-bound requests never wait: no view call is made for them, however stale the verdict", async () => {
  await useRollout({ percent: 50, canary: "green", release: "gate-c" });
  const stable = await visitorFor("stable");
  ageVerdict();
  const fetchView = vi.spyOn(recorder.deps, "fetchView").mockImplementation(async (e: Env) => {
    await new Promise((r) => setTimeout(r, 2000));
    return toController.fetchView(e);
  });
  for (let i = 0; i < 5; i++) {
    const { j } = await echo(`/gate-c/stable/${i}`, { headers: { cookie: `edgeshift_vid=${stable}` } });
    expect(j.origin).toBe("blue");
  }
  expect(fetchView).not.toHaveBeenCalled();
});
