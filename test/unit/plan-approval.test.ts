// Approval steps (`{"percent": 50, "approve": true}`): the plan waits for a person once the step
// has held healthy, and applies the step's onTimeout policy when nobody answers. Time is passed in.
import { describe, expect, it } from "vitest";
import { parseRollout } from "../../src/model/parse";
import { rolloutSchema } from "../../src/model/rollout";
import { ActionNotApplicable } from "../../src/model/action-error";
import { messageOf } from "../../src/notify/message";
import {
  advance,
  approvalTimedOut,
  approvePlan,
  awaitApproval,
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
const ok = (now: number, extra: Partial<JudgeInput> = {}): JudgeInput => ({
  now,
  percent: 50,
  healthy: true,
  minRequests: 50,
  autoPromote: true,
  sampleRatioCheck: false,
  ...extra,
});
const planOf = (step: object): PlanState => {
  const s = startPlan(rolloutSchema.parse({ percent: 50, steps: [10, step, 100], stepSeconds: 60 }), 1, T0)!;
  return countReport(s.plan, { requests: 100, newCanary: 0, newStable: 0 });
};
const problems = (steps: unknown[]) => {
  const r = parseRollout(JSON.stringify({ steps }));
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
};

describe("the step's schema", () => {
  it("approve alone takes stepSeconds and waits without limit; a timeout's policy defaults to wait", () => {
    const doc = rolloutSchema.parse({
      steps: [
        { percent: 50, approve: true },
        { percent: 100, approve: true, approveTimeoutSeconds: 3600 },
      ],
      stepSeconds: 120,
    });
    const p = startPlan(doc, 1, T0)!.plan;
    expect(p.steps).toEqual([
      { percent: 50, seconds: 120, approve: { timeoutSeconds: null, onTimeout: "wait" } },
      { percent: 100, seconds: 120, approve: { timeoutSeconds: 3600, onTimeout: "wait" } },
    ]);
  });

  it("errors name the field and the fix", () => {
    expect(problems([{ percent: 50, approve: "yes" }])).toEqual([
      'steps.0.approve: approve must be true (wait for `edgeshift approve` after the hold) or false (got "yes")',
    ]);
    expect(problems([{ percent: 50, approve: true, onTimeout: "skip" }])[0]).toMatch(
      /^steps\.0\.onTimeout: onTimeout must be "wait" \(record the timeout, keep waiting\), "rollback" or "promote"/,
    );
    expect(problems([{ percent: 50, approveTimeoutSeconds: 600 }])).toEqual([
      'steps.0.approveTimeoutSeconds: approveTimeoutSeconds applies only to a step with "approve": true: add it, e.g. {"percent": 50, "approve": true, "approveTimeoutSeconds": 600} (got 600)',
    ]);
    expect(problems([{ percent: 50, approve: true, onTimeout: "rollback" }])[0]).toMatch(
      /^steps\.0\.onTimeout: onTimeout needs approveTimeoutSeconds .* "onTimeout": "rollback"\} \(got "rollback"\)$/,
    );
    expect(problems([{ percent: 50, approve: true, approveTimeoutSeconds: 0 }])[0]).toMatch(
      /^steps\.0\.approveTimeoutSeconds: approveTimeoutSeconds must be whole seconds, 1–2592000 \(30 days\), e\.g\. 3600/,
    );
  });
});

describe("waiting for approval", () => {
  const p = planOf({ percent: 50, approve: true });

  it("holds its seconds first, then waits (health, minRequests and guardrails come first)", () => {
    expect(judge(p, ok(T0 + 30_000)).kind).toBe("hold");
    expect(judge({ ...p, requests: 10 }, ok(T0 + 61_000)).kind).toBe("extend");
    expect(judge(p, ok(T0 + 61_000, { healthy: false })).kind).toBe("hold");
    expect(judge(p, ok(T0 + 61_000, { guardrail: "checkout not shown held" })).kind).toBe("extend");
    expect(judge(p, ok(T0 + 61_000))).toEqual({
      kind: "await",
      waitingFor: "approval of step 2/3 (50 %) since 2026-01-01T00:01:01.000Z: `edgeshift approve` to go on",
      since: T0 + 61_000,
      firstTime: true,
      wakeAt: null,
    });
  });

  it("keeps waiting from the same moment; an unhealthy canary is not waiting for a person", () => {
    const w = awaitApproval(p, T0 + 61_000);
    expect(judge(w, ok(T0 + 9_000_000))).toMatchObject({ kind: "await", since: T0 + 61_000, firstTime: false });
    expect(judge(w, ok(T0 + 9_000_000, { healthy: false }))).toMatchObject({ kind: "hold" });
    expect(planStatus(w, T0 + 70_000, 50, "x").awaitingApproval).toEqual({
      since: "2026-01-01T00:01:01.000Z",
      timeoutSeconds: null,
      onTimeout: "wait",
      timedOut: false,
    });
  });

  it("approve goes on to the next step, with who approved in the reason", () => {
    const a = approvePlan(awaitApproval(p, T0 + 61_000), "alice", T0 + 90_000);
    expect(a.approved).toEqual({ at: T0 + 90_000, by: "alice" });
    expect(judge(a, ok(T0 + 90_000))).toMatchObject({
      kind: "advance",
      index: 2,
      reason: "step 2/3 (50 %) held 90 s, healthy on 100 canary requests, approved by alice: on to 100 %",
    });
    // The next step starts without the approval or the wait.
    expect(advance(a, 2, T0 + 90_000)).toMatchObject({ awaiting: null, approved: null });
  });

  it("approve where nothing waits: ActionNotApplicable saying why", () => {
    const not = (q: PlanState | null) => {
      try {
        approvePlan(q, "alice", T0);
      } catch (e) {
        expect(e).toBeInstanceOf(ActionNotApplicable);
        return (e as Error).message;
      }
      throw new Error("approved");
    };
    expect(not(null)).toBe("no staged plan is running, nothing to approve (write a document with `steps`)");
    expect(not(p)).toBe(
      "nothing waits for approval yet: step 2/3 (50 %) asks for it once it has held 60 s healthy with enough traffic (see `edgeshift status`)",
    );
    expect(not(advance(p, 2, T0))).toBe("nothing waits for approval: step 3/3 (100 %) does not ask for one");
    expect(not(pausePlan(awaitApproval(p, T0), "bob", "lunch", "operator", T0))).toBe(
      "the plan is paused, nothing waits for approval (paused by bob: lunch)",
    );
  });

  it("resume starts the step over: a new hold, a new wait", () => {
    const paused = pausePlan(awaitApproval(p, T0 + 61_000), "bob", "lunch", "operator", T0 + 70_000);
    expect(resumePlan(paused, T0 + 80_000)).toMatchObject({
      awaiting: null,
      approved: null,
      stepStartedAt: T0 + 80_000,
    });
  });

  it("a plan stored before approvals (no awaiting/approved fields) reads as not waiting", () => {
    const { awaiting: _a, approved: _b, ...old } = p;
    expect(judge(old as PlanState, ok(T0 + 61_000))).toMatchObject({ kind: "await", firstTime: true });
  });
});

describe("the timeout policy", () => {
  const waiting = (onTimeout?: string) =>
    awaitApproval(
      planOf({ percent: 50, approve: true, approveTimeoutSeconds: 600, ...(onTimeout ? { onTimeout } : {}) }),
      T0 + 61_000,
    );

  it("wakes at the timeout, and says what it will do once it passes", () => {
    expect(judge(waiting(), ok(T0 + 100_000))).toMatchObject({ kind: "await", wakeAt: T0 + 661_000 });
    for (const [policy, text] of [
      ["wait", "still waiting (onTimeout wait)"],
      ["rollback", "rolling back (onTimeout rollback)"],
      ["promote", "going on as if approved (onTimeout promote)"],
    ])
      expect(judge(waiting(policy), ok(T0 + 661_000))).toEqual({
        kind: "approval-timeout",
        onTimeout: policy,
        reason: `no approval of step 2/3 (50 %) within 600 s: ${text}`,
      });
  });

  it("wait (the default): applied once, then the step waits on with no wake-up", () => {
    const w = approvalTimedOut(waiting());
    expect(judge(w, ok(T0 + 5_000_000))).toMatchObject({
      kind: "await",
      wakeAt: null,
      firstTime: false,
      waitingFor: expect.stringMatching(/since 2026-01-01T00:01:01\.000Z, past its 600 s timeout:/),
    });
    expect(approvePlan(w, "alice", T0 + 5_000_000).approved?.by).toBe("alice");
  });

  it("promote: the controller's approval lets the plan go on", () => {
    const a = approvePlan(waiting("promote"), "controller", T0 + 661_000);
    expect(judge(a, ok(T0 + 661_000))).toMatchObject({ kind: "advance", index: 2 });
  });

  it("an unhealthy canary at the timeout holds: no policy applies to it (the rollback rules do)", () => {
    expect(judge(waiting("promote"), ok(T0 + 700_000, { healthy: false })).kind).toBe("hold");
  });
});

describe("the webhook's line", () => {
  it("says who approved, and that a person is wanted", () => {
    const ev = (kind: "approve" | "approval-wait", actor: string, reason: string) =>
      messageOf({ id: 1, at: "2026-01-01T00:00:00.000Z", kind, actor, reason }, { release: "v2", canary: "green" })
        .text;
    expect(ev("approve", "alice", "dashboards look good")).toBe(
      "edgeshift plan step approved release v2 (green) by alice: dashboards look good",
    );
    expect(ev("approval-wait", "controller", "approval of step 2/3 (50 %) since …")).toBe(
      "edgeshift waiting for approval release v2 (green): approval of step 2/3 (50 %) since …",
    );
  });
});
