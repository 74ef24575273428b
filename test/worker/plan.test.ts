// Staged plans inside the real controller (workerd, real KV, real Durable Object storage and
// alarms). Time is moved with the controller's clock seam and alarms are run with
// runDurableObjectAlarm (./controller-helpers.ts): no test sleeps.
import { abortAllDurableObjects } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import type { ControllerRpc } from "../../src/controller/rpc";
import {
  alarm,
  clockAhead,
  controllerById,
  counters,
  freshController,
  kvDoc,
  putDoc,
  refusal,
  report,
} from "./controller-helpers";

type Ctl = ControllerRpc & { id: DurableObjectId };
let current: ControllerRpc | null = null;
const controller = (): Ctl => (current = freshController()) as Ctl;
afterEach(async () => {
  await current?.settle();
  current = null;
});

const rollback = { minRequests: 20, windowSeconds: 60 };
const plan = { steps: [10, 50, 100], stepSeconds: 60, release: "v2", salt: "s", rollback };

/** Healthy traffic under the document the controller has in force now. */
async function healthy(c: ControllerRpc, canaryRequests: number, canary: "green" | "blue" = "green") {
  const fp = (await c.status()).config.fingerprint;
  return c.report(report(fp, counters(canaryRequests), counters(canaryRequests * 9), { canary }));
}
const kinds = async (c: ControllerRpc, n = 20) => (await c.history(n)).map((e) => e.kind);

describe("a plan driven by alarms", () => {
  it("starts at steps[0] (writes it), advances per step when held and healthy, then promotes", async () => {
    const c = controller();
    await putDoc(plan);
    const v = await c.view();
    await c.settle();
    expect(v.doc?.percent).toBe(10);
    expect(await kvDoc()).toMatchObject({ percent: 10, steps: [10, 50, 100], release: "v2" });
    let s = await c.status();
    expect(s.plan).toMatchObject({
      index: 0,
      requiredSeconds: 60,
      requestsInStep: 0,
      minRequests: 20,
      paused: false,
      waitingFor: expect.stringMatching(/^held \d+ of 60 s at 10 %$/),
    });
    expect(s.plan!.sampleRatio).toMatchObject({
      newVisitors: { canary: 0, stable: 0 },
      judged: false,
      detail: "0 of 200 new visitors: sample ratio not judged yet",
    });

    await healthy(c, 30);
    // Not held long enough yet: the alarm changes nothing.
    await clockAhead(c, 30);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(10);

    await clockAhead(c, 61);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(50);
    s = await c.status();
    expect(s.plan).toMatchObject({ index: 1, requestsInStep: 0 });

    await healthy(c, 30);
    await clockAhead(c, 122);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(100);

    await healthy(c, 30);
    await clockAhead(c, 183);
    await alarm(c);
    const kv = await kvDoc();
    // The blue/green switch: green is stable now, blue the idle canary; the plan and label are gone.
    expect(kv).toMatchObject({ canary: "blue", percent: 0, salt: "s", stepSeconds: 60, rollback });
    expect(kv.steps).toBeUndefined();
    expect(kv.release).toBeUndefined();
    s = await c.status();
    expect(s).toMatchObject({ plan: null, roles: { canary: "blue", stable: "green" }, percent: 0, state: "promoted" });
    expect(await kinds(c)).toEqual(["promote", "plan-complete", "step", "step", "plan-start", "attempt"]);
    const promote = (await c.history(1))[0];
    expect(promote).toMatchObject({ actor: "controller", data: { release: "v2", stable: "green", canary: "blue" } });
  });

  it("a document already between steps keeps its percent (never lowered) and moves on to the next step", async () => {
    const c = controller();
    await putDoc({ ...plan, percent: 30 });
    const s = await c.status();
    expect(s).toMatchObject({ percent: 30, plan: { index: 0 }, config: { source: "kv" } });
    await healthy(c, 30);
    await clockAhead(c, 61);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(50);
  });

  it("low traffic: the step is extended (said in status, one event), then advances on the report that reaches minRequests", async () => {
    const c = controller();
    await putDoc({ ...plan, percent: 10 });
    await healthy(c, 5);
    await clockAhead(c, 61);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(10);
    let s = await c.status();
    expect(s.plan!.waitingFor).toBe(
      "5 of 20 canary requests at 10 %: step extended until there is enough traffic to judge",
    );
    await healthy(c, 5);
    expect((await kinds(c)).filter((k) => k === "plan-extended")).toHaveLength(1);
    expect((await c.history(1))[0]).toMatchObject({
      kind: "plan-extended",
      actor: "controller",
      data: { percent: 10, requestsInStep: 5 },
    });

    await healthy(c, 10);
    await c.settle();
    expect((await kvDoc()).percent).toBe(50);
    s = await c.status();
    expect(s.plan).toMatchObject({ index: 1, requestsInStep: 0 });
  });

  it("one client padding the canary cannot advance a step: minRequests counts what the judge weighs", async () => {
    const c = controller();
    await putDoc({ ...plan, percent: 10 });
    const fp = (await c.status()).config.fingerprint;
    // 200 canary requests, all from one visitor on one network (issue 9), and healthy stable traffic.
    const one = { v: [42], n: [4242], r: [200], e: [0] };
    await c.report(report(fp, counters(200), null, { contributors: { green: one } }));
    await c.report(report(fp, null, counters(500)));
    await clockAhead(c, 61);
    await alarm(c);
    // Before: 200 raw canary requests ≥ 20 advanced the step. Now the one visitor weighs 10 requests.
    expect((await kvDoc()).percent).toBe(10);
    expect((await c.status()).plan!.waitingFor).toMatch(/step extended until there is enough traffic to judge/);
    // Real visitors bring it over minRequests.
    await healthy(c, 20);
    await c.settle();
    expect((await kvDoc()).percent).toBe(50);
  });

  it("survives a restart mid-plan: same step, same start, and carries on", async () => {
    const c = controller();
    await putDoc(plan);
    await healthy(c, 30);
    await clockAhead(c, 61);
    await alarm(c);
    const before = (await c.status()).plan!;
    expect(before.index).toBe(1);

    await abortAllDurableObjects();
    const again = controllerById(c.id);
    current = again;
    const after = (await again.status()).plan!;
    expect(after).toMatchObject({ index: 1, stepStartedAt: before.stepStartedAt, steps: before.steps });
    await healthy(again, 30);
    await clockAhead(again, 122);
    await alarm(again);
    expect((await kvDoc()).percent).toBe(100);
  });

  it("thin traffic: a step's own totals are judged even when no single window holds minRequests", async () => {
    const c = controller();
    await putDoc(plan);
    const fp = (await c.status()).config.fingerprint;
    await c.report(report(fp, counters(15, 3), counters(150)));
    expect((await c.status()).state).toBe("running");
    // The sliding window (60 s) forgets those 15 requests once the clock has moved past it…
    await clockAhead(c, 61);
    await c.report(report(fp, counters(10, 3), counters(100)));
    await c.settle();
    // …but the step has 25 canary requests with 6 errors from 6 visitors: the quorum (5 on 2
    // besides the heaviest failing network), and 5 of 24 with the heaviest network left out
    // (20.8 %): rolled back, the plan ends.
    const kv = await kvDoc();
    expect(kv).toMatchObject({ percent: 0, rolledBack: { figures: { canary: { requests: 25, errors: 6 } } } });
    expect(kv.rolledBack.reason).toMatch(/20\.8 %/);
    // The step's totals tripped, not the window's (which holds 10 requests, under minRequests).
    expect(kv.rolledBack.figures.windowSeconds).toBeGreaterThan(60);
    expect(await c.status()).toMatchObject({ state: "rolled-back", plan: null });
  });

  it("a rollback during the plan stops it: no alarm brings the canary back", async () => {
    const c = controller();
    await putDoc(plan);
    const fp = (await c.status()).config.fingerprint;
    await c.report(report(fp, counters(30, 20), counters(300)));
    await c.settle();
    let s = await c.status();
    expect(s).toMatchObject({ state: "rolled-back", plan: null, percent: 0 });
    await clockAhead(c, 600);
    await alarm(c);
    const kv = await kvDoc();
    expect(kv).toMatchObject({ percent: 0, steps: [10, 50, 100] });
    expect(kv.rolledBack.reason).toMatch(/errors/);
    s = await c.status();
    expect(s.plan).toBeNull();
    expect(await kinds(c)).not.toContain("step");
  });
});

describe("operator actions on a plan", () => {
  it("pause holds the plan whatever the clock; resume restarts the step; both recorded with actor and reason", async () => {
    const c = controller();
    await putDoc(plan);
    await healthy(c, 30);
    const paused = await c.action("pause", { actor: "alice", reason: "waiting for support to staff up" });
    expect(paused).toMatchObject({
      state: "paused",
      plan: { paused: true, waitingFor: "paused by alice: waiting for support to staff up" },
    });
    await clockAhead(c, 600);
    await alarm(c);
    await healthy(c, 30);
    expect((await kvDoc()).percent).toBe(10);
    expect(await refusal(c.action("pause", { actor: "bob" }))).toMatch(/already paused/);

    const resumed = await c.action("resume", { actor: "bob" });
    expect(resumed.plan).toMatchObject({ paused: false, index: 0, requestsInStep: 0 });
    expect(await refusal(c.action("resume", {}))).toMatch(/not paused, nothing to resume/);
    const ev = await c.history(2);
    expect(ev[0]).toMatchObject({ kind: "resume", actor: "bob" });
    expect(ev[1]).toMatchObject({ kind: "pause", actor: "alice", reason: "waiting for support to staff up" });

    await healthy(c, 30);
    await clockAhead(c, 661);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(50);
  });

  it("promote mid-plan switches at once; a new plan then runs on the other slot", async () => {
    const c = controller();
    await putDoc(plan);
    await healthy(c, 30);
    const s = await c.action("promote", { actor: "carol", reason: "looks great" });
    expect(s).toMatchObject({ roles: { canary: "blue", stable: "green" }, percent: 0, plan: null, state: "promoted" });
    expect(await kvDoc()).toMatchObject({ canary: "blue", percent: 0 });
    expect((await c.history(1))[0]).toMatchObject({
      kind: "promote",
      actor: "carol",
      reason: expect.stringMatching(/^looks great: green \(v2\) is now stable; blue is the canary at 0 %/),
    });
    // A second promote would switch straight back: refused.
    expect(await refusal(c.action("promote", {}))).toMatch(/nothing to promote/);
    // So is an abort: it would mark the release just promoted as rolled back, moving no traffic.
    expect(await refusal(c.action("abort", { actor: "dave" }))).toMatch(
      /nothing to abort: this attempt was promoted at .* and the canary \(blue\) takes no traffic/,
    );
    expect((await c.status()).state).toBe("promoted");

    await putDoc({ canary: "blue", release: "v3", steps: [20, 100], stepSeconds: 60, rollback });
    const n = await c.status();
    // The operator's next write is a new attempt: no longer "promoted".
    expect(n).toMatchObject({ roles: { canary: "blue" }, percent: 20, plan: { index: 0 }, state: "running" });
    await healthy(c, 30, "blue");
    await clockAhead(c, 61);
    await alarm(c);
    expect(await kvDoc()).toMatchObject({ canary: "blue", percent: 100, release: "v3" });
  });

  it("abort mid-plan: percent 0 + rolledBack by the actor; the plan ends", async () => {
    const c = controller();
    await putDoc(plan);
    const s = await c.action("abort", { actor: "dave", reason: "wrong build" });
    expect(s).toMatchObject({ state: "rolled-back", plan: null, percent: 0 });
    await c.settle();
    expect((await kvDoc()).rolledBack).toMatchObject({ by: "dave", reason: "wrong build" });
  });
});

describe("sample-ratio check", () => {
  const srm = { newVisitors: { green: 227, blue: 1603 } };

  it("pauses the plan with the figures when new visitors do not split as percent says", async () => {
    const c = controller();
    await putDoc({ ...plan, steps: [5, 50, 100] });
    const fp = (await c.status()).config.fingerprint;
    await c.report(report(fp, counters(30), counters(300), srm));
    const s = await c.status();
    expect(s.state).toBe("paused");
    expect(s.plan!.waitingFor).toMatch(
      /sample-ratio check: observed canary share 12.4 % of 1,830 new visitors vs 5 % expected/,
    );
    expect(s.plan!.sampleRatio).toMatchObject({
      newVisitors: { canary: 227, stable: 1603 },
      expectedShare: 0.05,
      judged: true,
      mismatch: true,
    });
    const e = (await c.history(1))[0];
    expect(e).toMatchObject({
      kind: "sample-ratio",
      actor: "controller",
      data: { newVisitors: { canary: 227, stable: 1603 } },
    });
    await clockAhead(c, 61);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(5);
  });

  it("is off with sampleRatioCheck: false", async () => {
    const c = controller();
    await putDoc({ ...plan, steps: [5, 50, 100], sampleRatioCheck: false });
    const fp = (await c.status()).config.fingerprint;
    await c.report(report(fp, counters(30), counters(300), srm));
    const s = await c.status();
    expect(s.state).toBe("running");
    expect(s.plan!.sampleRatio).toBeNull();
    await clockAhead(c, 61);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(50);
  });
});
