// The staged plan state machine: start, hold, extend on low traffic, advance, pause/resume,
// per-step hold times, promotion at the end, and the sample-ratio pause. Time is passed in.
import { describe, expect, it } from "vitest";
import { rolloutSchema } from "../../src/model/rollout";
import { ActionNotApplicable } from "../../src/model/action-error";
import {
  advance,
  countReport,
  judge,
  pausePlan,
  planStatus,
  resumePlan,
  startPlan,
  type JudgeInput,
  type PlanState,
} from "../../src/plan/machine";

const T0 = Date.UTC(2026, 0, 1);
const doc = (x: object) => rolloutSchema.parse(x);
const ok = (now: number, extra: Partial<JudgeInput> = {}): JudgeInput => ({
  now,
  percent: 10,
  healthy: true,
  minRequests: 50,
  autoPromote: true,
  sampleRatioCheck: true,
  ...extra,
});
const start = (x: object, now = T0) => startPlan(doc(x), 1, now)!;
const traffic = (p: PlanState, requests: number) => countReport(p, { requests, newCanary: 0, newStable: 0 });

describe("starting a plan", () => {
  it("no steps, or a rolled-back document: no plan", () => {
    expect(startPlan(doc({ percent: 5 }), 1, T0)).toBeNull();
    expect(startPlan(doc({ steps: [1, 5], rolledBack: { at: "x", reason: "y" } }), 1, T0)).toBeNull();
  });

  it("percent 0 starts at steps[0] and asks for that percent to be written", () => {
    const s = start({ steps: [10, 50, 100] });
    expect(s.percent).toBe(10);
    expect(s.plan).toMatchObject({ index: 0, stepStartedAt: T0, requests: 0, paused: null });
    expect(s.plan.steps).toEqual([
      { percent: 10, seconds: 300 },
      { percent: 50, seconds: 300 },
      { percent: 100, seconds: 300 },
    ]);
  });

  it("a percent equal to a step starts there; between steps: as the step below, never lowering the operator's percent", () => {
    expect(start({ percent: 50, steps: [10, 50, 100] })).toMatchObject({ percent: null, plan: { index: 1 } });
    expect(start({ percent: 30, steps: [10, 50, 100] })).toMatchObject({ percent: null, plan: { index: 0 } });
    expect(start({ percent: 5, steps: [10, 50, 100] })).toMatchObject({ percent: 10, plan: { index: 0 } });
  });

  it("per-step hold times: {percent, seconds} beside bare percents held stepSeconds", () => {
    const s = start({ steps: [1, { percent: 5, seconds: 3600 }, 100], stepSeconds: 60 });
    expect(s.plan.steps).toEqual([
      { percent: 1, seconds: 60 },
      { percent: 5, seconds: 3600 },
      { percent: 100, seconds: 60 },
    ]);
  });
});

describe("advancing", () => {
  const p0 = start({ steps: [10, 50, 100], stepSeconds: 60 }).plan;

  it("holds until the step's seconds have passed, and says when to wake", () => {
    const d = judge(traffic(p0, 500), ok(T0 + 59_999));
    expect(d).toEqual({ kind: "hold", waitingFor: "held 59 of 60 s at 10 %", wakeAt: T0 + 60_000 });
  });

  it("advances when held AND healthy on at least minRequests canary requests", () => {
    const d = judge(traffic(p0, 50), ok(T0 + 60_000));
    expect(d).toMatchObject({ kind: "advance", index: 1, percent: 50 });
    expect((d as { reason: string }).reason).toMatch(
      /step 1\/3 \(10 %\) held 60 s, healthy on 50 canary requests: on to 50 %/,
    );
    const p1 = advance(traffic(p0, 50), 1, T0 + 60_000);
    expect(p1).toMatchObject({ index: 1, stepStartedAt: T0 + 60_000, requests: 0, extended: false });
  });

  it("low traffic: extends the step instead of passing or failing it, once-per-step flag", () => {
    const d = judge(traffic(p0, 12), ok(T0 + 600_000));
    expect(d).toEqual({
      kind: "extend",
      firstTime: true,
      waitingFor: "12 of 50 canary requests at 10 %: step extended until there is enough traffic to judge",
    });
    const marked = { ...traffic(p0, 12), extended: true };
    expect(judge(marked, ok(T0 + 700_000))).toMatchObject({ kind: "extend", firstTime: false });
    // The report that brings the count to minRequests advances it.
    expect(judge(traffic(marked, 38), ok(T0 + 700_000))).toMatchObject({ kind: "advance", index: 1 });
  });

  it("a guardrail not yet shown held extends the step with its reason; once held, the step advances", () => {
    const waiting = 'guardrail "checkout" not yet shown no worse than -1.0 points: …';
    expect(judge(traffic(p0, 500), ok(T0 + 600_000, { guardrail: waiting }))).toEqual({
      kind: "extend",
      firstTime: true,
      waitingFor: `${waiting}: step extended at 10 %`,
    });
    expect(judge(traffic(p0, 500), ok(T0 + 600_000, { guardrail: null }))).toMatchObject({ kind: "advance" });
  });

  it("an unhealthy verdict holds (the rollback that follows ends the plan)", () => {
    expect(judge(traffic(p0, 500), ok(T0 + 60_000, { healthy: false }))).toMatchObject({ kind: "hold", wakeAt: null });
  });

  it("rollback: false advances on time alone", () => {
    expect(judge(p0, ok(T0 + 60_000, { minRequests: null }))).toMatchObject({
      kind: "advance",
      reason: expect.stringMatching(/rollback off/),
    });
  });

  it("the last step at 100 promotes when autoPromote; otherwise the plan completes and waits", () => {
    const last = advance(p0, 2, T0);
    expect(judge(traffic(last, 50), ok(T0 + 60_000))).toMatchObject({ kind: "promote" });
    expect(judge(traffic(last, 50), ok(T0 + 60_000, { autoPromote: false }))).toMatchObject({
      kind: "complete",
      reason: expect.stringMatching(/autoPromote is off/),
    });
    const below = start({ steps: [1, 5, 25], stepSeconds: 60 }).plan;
    expect(judge(traffic(advance(below, 2, T0), 50), ok(T0 + 60_000))).toMatchObject({
      kind: "complete",
      reason: expect.stringMatching(/below 100 %/),
    });
    expect(judge({ ...last, completed: true }, ok(T0 + 999_999))).toMatchObject({ kind: "idle" });
  });
});

describe("step counters", () => {
  it("sum every report's vector element-wise and start empty on each step", () => {
    const p0 = start({ steps: [10, 50] }).plan;
    expect(p0.counts).toBeNull();
    const p = countReport(countReport(p0, { requests: 2, newCanary: 1, newStable: 0, vector: [2, 1, 0] }), {
      requests: 3,
      newCanary: 0,
      newStable: 4,
      vector: [3, 0, 5],
    });
    expect(p).toMatchObject({ requests: 5, newVisitors: { canary: 1, stable: 4 }, counts: [5, 1, 5] });
    expect(advance(p, 1, T0).counts).toBeNull();
    expect(resumePlan(pausePlan(p, "a", "r", "operator", T0), T0).counts).toBeNull();
  });
});

describe("pause and resume", () => {
  const p0 = start({ steps: [10, 50, 100], stepSeconds: 60 }).plan;

  it("a paused plan does nothing, however long and healthy", () => {
    const p = pausePlan(traffic(p0, 500), "alice", "waiting for the CFO", "operator", T0 + 10_000);
    expect(judge(p, ok(T0 + 3_600_000))).toEqual({ kind: "idle", waitingFor: "paused by alice: waiting for the CFO" });
    // Held time stops at the pause.
    expect(planStatus(p, T0 + 3_600_000, 50, null)).toMatchObject({
      heldSeconds: 10,
      paused: true,
      requestsInStep: 500,
    });
    expect(planStatus(p, T0 + 3_600_000, 50, null).sampleRatio).toBeNull();
  });

  it("resume starts the step over: hold and counts reset", () => {
    const p = pausePlan(traffic(p0, 500), "alice", "x", "operator", T0 + 10_000);
    const r = resumePlan(p, T0 + 100_000);
    expect(r).toMatchObject({ paused: null, index: 0, stepStartedAt: T0 + 100_000, requests: 0 });
    expect(judge(traffic(r, 50), ok(T0 + 159_999))).toMatchObject({ kind: "hold" });
    expect(judge(traffic(r, 50), ok(T0 + 160_000))).toMatchObject({ kind: "advance" });
  });

  it("actions that do not apply throw ActionNotApplicable with a clear message", () => {
    expect(() => pausePlan(null, "a", "r", "operator", T0)).toThrow(ActionNotApplicable);
    expect(() => pausePlan(null, "a", "r", "operator", T0)).toThrow(/no staged plan is running, nothing to pause/);
    const p = pausePlan(p0, "a", "r", "operator", T0);
    expect(() => pausePlan(p, "b", "r", "operator", T0)).toThrow(/already paused \(paused by a: r\)/);
    expect(() => resumePlan(p0, T0)).toThrow(/not paused, nothing to resume/);
    expect(() => resumePlan(null, T0)).toThrow(/no staged plan is running, nothing to resume/);
    expect(() => pausePlan({ ...p0, completed: true }, "a", "r", "operator", T0)).toThrow(/plan is complete/);
  });
});

describe("sample-ratio pause", () => {
  const p0 = start({ steps: [5, 50, 100], stepSeconds: 60 }).plan;

  it("pauses with the figures when new visitors do not split as percent says", () => {
    const p = countReport(p0, { requests: 300, newCanary: 227, newStable: 1603 });
    const d = judge(p, ok(T0 + 1000, { percent: 5 }));
    expect(d).toMatchObject({
      kind: "pause",
      reason: "observed canary share 12.4 % of 1,830 new visitors vs 5 % expected: stickiness or routing broken?",
    });
    // Even a held, healthy step does not advance past a broken ratio.
    expect(judge(p, ok(T0 + 60_000, { percent: 5 }))).toMatchObject({ kind: "pause" });
  });

  it("off with sampleRatioCheck: false; quiet on a consistent ratio", () => {
    const bad = countReport(p0, { requests: 300, newCanary: 227, newStable: 1603 });
    expect(judge(bad, ok(T0 + 60_000, { percent: 5, sampleRatioCheck: false }))).toMatchObject({ kind: "advance" });
    const fine = countReport(p0, { requests: 300, newCanary: 95, newStable: 1735 });
    expect(judge(fine, ok(T0 + 60_000, { percent: 5 }))).toMatchObject({ kind: "advance" });
  });

  it("judges against the percent in force, not the step's (a plan started between steps)", () => {
    const between = countReport(start({ percent: 30, steps: [10, 50, 100] }).plan, {
      requests: 300,
      newCanary: 600,
      newStable: 1400,
    });
    expect(judge(between, ok(T0 + 1000, { percent: 30 }))).toMatchObject({ kind: "hold" });
    expect(judge(between, ok(T0 + 1000, { percent: 10 }))).toMatchObject({ kind: "pause" });
  });

  it("status shows the check's progress on the step's new visitors, and the mismatch", () => {
    const early = planStatus(
      countReport(p0, { requests: 10, newCanary: 6, newStable: 114 }),
      T0,
      50,
      null,
      5,
    ).sampleRatio;
    expect(early).toMatchObject({
      newVisitors: { canary: 6, stable: 114 },
      judged: false,
      mismatch: false,
      expectedShare: 0.05,
      detail: "120 of 200 new visitors: sample ratio not judged yet",
    });
    const bad = planStatus(
      countReport(p0, { requests: 300, newCanary: 227, newStable: 1603 }),
      T0,
      50,
      null,
      5,
    ).sampleRatio;
    expect(bad).toMatchObject({
      judged: true,
      mismatch: true,
      detail: expect.stringMatching(/^observed canary share 12.4 % of 1,830/),
    });
    const fine = planStatus(
      countReport(p0, { requests: 300, newCanary: 95, newStable: 1735 }),
      T0,
      50,
      null,
      5,
    ).sampleRatio;
    expect(fine).toMatchObject({ judged: true, mismatch: false });
  });

  it("status says why the plan waits", () => {
    const p = pausePlan(p0, "controller", "observed canary share 12.4 %", "sample-ratio", T0);
    expect(judge(p, ok(T0)).kind).toBe("idle");
    expect((judge(p, ok(T0)) as { waitingFor: string }).waitingFor).toMatch(
      /^paused by the sample-ratio check: observed canary share 12.4 %; resume when fixed/,
    );
  });
});
