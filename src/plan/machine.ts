// Staged plans: the pure state machine the controller runs (no Workers imports; `now` is passed in).
// Stored by the controller as one JSON row (kv_state "plan"); documented in docs/storage-schema.md.
//
// A step advances when ALL of these hold:
//   1. it has been held its seconds (`{percent, seconds}` or `stepSeconds`, default 300);
//   2. the canary served at least `rollback.minRequests` requests under this step's document
//      (with `rollback: false` nothing judges the canary, so time alone advances the plan);
//   3. the health rules say healthy now, on the sliding window AND on the step's own totals (an
//      unhealthy canary is rolled back, which ends the plan);
//   4. the plan is not paused;
//   5. a step with `approve` has been approved (`edgeshift approve`, or its timeout policy).
// What happens when they do not (the fail-safe table):
// | situation                                    | behaviour                                              |
// |----------------------------------------------|--------------------------------------------------------|
// | held < seconds                               | hold; controller alarm at the step's end               |
// | held ≥ seconds, requests < minRequests       | EXTEND the step (no pass, no fail on no data); one     |
// |                                              | "plan-extended" event per step; advances on the report |
// |                                              | that brings the count to minRequests                   |
// | a guardrail not yet shown held (goals the    | EXTEND the same way, until the step's experiment shows |
// | canary must not make worse)                  | it (a guardrail shown broken rolls back instead)       |
// | new-visitor share ≠ percent (p < 0.001)      | pause, "sample-ratio" event with the figures           |
// | the step's own totals fail the rules         | rollback (the controller's, reason over the step)      |
// | rollback (automatic) or abort                | plan ends (document carries percent 0 + rolledBack)    |
// | last step held, it is 100 and autoPromote    | promote: canary flips, percent 0, `steps` removed      |
// | last step held, below 100 or autoPromote off | plan complete; stays there until `promote`             |
// | operator resumes                             | the current step starts over (hold and counts reset)   |
// | 1–3 hold, the step has `approve`, none yet   | WAIT for approval: health still judged (rollback stays |
// |                                              | automatic); one "approval-wait" event (webhook) when   |
// |                                              | the wait starts; `approve` is refused before it starts |
// | unhealthy while waiting                      | hold (no timeout policy applies to an unhealthy step)  |
// | approveTimeoutSeconds passed, onTimeout wait | one "approval-timeout" event, keep waiting (default:   |
// |                                              | nobody's silence is taken for a yes or a no)           |
// | … onTimeout rollback                         | the controller rolls the canary back; the plan ends    |
// | … onTimeout promote                          | the step counts as approved by "controller": the plan  |
// |                                              | goes on (next step; after the last, promote/complete)  |
// | a stored plan from before approvals          | no `awaiting`/`approved` fields: read as null          |
import type { OnTimeout, Rollout, StepApproval } from "../model/rollout";
import { stepAt } from "../model/rollout";
import { sampleRatio, type SampleRatioResult } from "../health/sample-ratio";
import type { PlanStatus } from "../model/status";
import { ActionNotApplicable } from "../model/action-error";

export interface PlanStep {
  percent: number;
  seconds: number;
  /** Absent: the step goes on by itself. */
  approve?: StepApproval;
}

export interface PlanState {
  /** The controller attempt (operator write) this plan belongs to; another attempt replaces it. */
  attempt: number;
  steps: PlanStep[];
  index: number;
  /** Epoch ms the current step began (or was resumed). */
  stepStartedAt: number;
  /** Canary requests reported under the current step's document. */
  requests: number;
  /** New visitors assigned by bucket under the current step's document, per role. */
  newVisitors: { canary: number; stable: number };
  /**
   * Every counter of the step (the health window's vector layout, src/health/window.ts), null
   * before the first report: the step is judged on its own totals as well as on the sliding
   * window, so thin traffic that never fills one window is still judged once the step has
   * `minRequests` canary requests.
   */
  counts: number[] | null;
  paused: { at: number; by: string; reason: string; cause: "operator" | "sample-ratio" } | null;
  /** A "plan-extended" event was recorded for this step (once per step). */
  extended: boolean;
  /** The last step has held healthy and the plan will not promote by itself. */
  completed: boolean;
  /** The step held healthy and waits for approval since `since` (epoch ms); `timedOut`: its timeout was applied. */
  awaiting?: { since: number; timedOut: boolean } | null;
  /** Who approved the current step (the controller, by the timeout policy "promote"). */
  approved?: { at: number; by: string } | null;
}

export interface JudgeInput {
  now: number;
  /** The percent in force (the step's, or the operator's own when it started the plan between steps). */
  percent: number;
  /** The health rules' verdict now, on the sliding window and on the step's own totals. */
  healthy: boolean;
  /** `rollback.minRequests`, or null with `rollback: false` (time alone advances). */
  minRequests: number | null;
  autoPromote: boolean;
  sampleRatioCheck: boolean;
  /** A guardrail not yet shown held (src/experiments/guardrails.ts), or null: the step may advance. */
  guardrail?: string | null;
}

export type PlanDecision =
  | { kind: "idle"; waitingFor: string }
  | { kind: "hold"; waitingFor: string; wakeAt: number | null }
  | { kind: "extend"; waitingFor: string; firstTime: boolean }
  /** Held healthy, waits for a person; `firstTime`: the wait starts now. `wakeAt`: the timeout, if any. */
  | { kind: "await"; waitingFor: string; since: number; firstTime: boolean; wakeAt: number | null }
  | { kind: "approval-timeout"; onTimeout: OnTimeout; reason: string }
  | { kind: "advance"; index: number; percent: number; reason: string }
  | { kind: "promote"; reason: string }
  | { kind: "complete"; reason: string }
  | { kind: "pause"; reason: string; srm: SampleRatioResult };

export function stepsOf(doc: Rollout): PlanStep[] {
  return (doc.steps ?? []).map((_, i) => stepAt(doc, i));
}

/**
 * The plan a newly written document starts, or null (no `steps`, or it carries `rolledBack`).
 * It starts at the highest step not above the document's `percent`; below every step it starts at
 * steps[0] and `percent` says to write that value. The operator's percent is never lowered (that
 * would move canary visitors back to stable): 30 with steps [10, 50] holds at 30 as step 1, then 50.
 */
export function startPlan(
  doc: Rollout,
  attempt: number,
  now: number,
): { plan: PlanState; percent: number | null } | null {
  if (!doc.steps?.length || doc.rolledBack) return null;
  const steps = stepsOf(doc);
  let index = 0;
  for (let i = 0; i < steps.length; i++) if (steps[i].percent <= doc.percent) index = i;
  return {
    plan: freshStep({ attempt, steps, index, paused: null, completed: false }, index, now),
    percent: doc.percent < steps[0].percent ? steps[0].percent : null,
  };
}

function freshStep(
  p: Pick<PlanState, "attempt" | "steps" | "paused" | "completed"> & Partial<PlanState>,
  index: number,
  now: number,
): PlanState {
  return {
    attempt: p.attempt,
    steps: p.steps,
    index,
    stepStartedAt: now,
    requests: 0,
    newVisitors: { canary: 0, stable: 0 },
    counts: null,
    paused: p.paused,
    extended: false,
    completed: p.completed,
    awaiting: null,
    approved: null,
  };
}

/** Adds what one report counted under the current step's document (`vector`: its counters, summed element-wise). */
export function countReport(
  p: PlanState,
  add: { requests: number; newCanary: number; newStable: number; vector?: number[] },
): PlanState {
  let counts = p.counts;
  if (add.vector)
    counts =
      counts && counts.length === add.vector.length ? counts.map((x, i) => x + add.vector![i]) : add.vector.slice();
  return {
    ...p,
    requests: p.requests + add.requests,
    newVisitors: { canary: p.newVisitors.canary + add.newCanary, stable: p.newVisitors.stable + add.newStable },
    counts,
  };
}

/** What the plan should do now. Pure: the controller applies the decision. */
export function judge(p: PlanState, x: JudgeInput): PlanDecision {
  if (p.paused) return { kind: "idle", waitingFor: pausedText(p.paused) };
  if (p.completed) return { kind: "idle", waitingFor: completedText(p) };
  const step = p.steps[p.index];

  if (x.sampleRatioCheck) {
    const srm = sampleRatio(p.newVisitors.canary, p.newVisitors.stable, x.percent);
    if (srm.mismatch) return { kind: "pause", reason: srm.detail, srm };
  }

  const end = p.stepStartedAt + step.seconds * 1000;
  if (x.now < end)
    return { kind: "hold", waitingFor: `held ${held(p, x.now)} of ${step.seconds} s at ${x.percent} %`, wakeAt: end };
  if (x.minRequests !== null && p.requests < x.minRequests) {
    return {
      kind: "extend",
      waitingFor: `${p.requests} of ${x.minRequests} canary requests at ${x.percent} %: step extended until there is enough traffic to judge`,
      firstTime: !p.extended,
    };
  }
  if (!x.healthy) return { kind: "hold", waitingFor: `canary not healthy at ${x.percent} %`, wakeAt: null };
  if (x.guardrail)
    return { kind: "extend", waitingFor: `${x.guardrail}: step extended at ${x.percent} %`, firstTime: !p.extended };

  const approval = step.approve && !p.approved ? awaitDecision(p, step.approve, x) : null;
  if (approval) return approval;

  const judged =
    (x.minRequests === null ? "rollback off: advanced on time alone" : `healthy on ${p.requests} canary requests`) +
    (p.approved ? `, approved by ${p.approved.by}` : "");
  if (p.index < p.steps.length - 1) {
    const next = p.steps[p.index + 1];
    return {
      kind: "advance",
      index: p.index + 1,
      percent: next.percent,
      reason: `step ${p.index + 1}/${p.steps.length} (${x.percent} %) held ${held(p, x.now)} s, ${judged}: on to ${next.percent} %`,
    };
  }
  const done = `last step (${step.percent} %) held ${held(p, x.now)} s, ${judged}`;
  if (step.percent === 100 && x.autoPromote) return { kind: "promote", reason: `${done}: promoting` };
  return {
    kind: "complete",
    reason: `${done}: ${step.percent < 100 ? "plan ends below 100 %" : "autoPromote is off"}; promote when ready`,
  };
}

/** The step held healthy and needs a person: wait, or apply the timeout policy once it is due. */
function awaitDecision(p: PlanState, a: StepApproval, x: JudgeInput): PlanDecision {
  const since = p.awaiting?.since ?? x.now;
  const due = a.timeoutSeconds === null ? null : since + a.timeoutSeconds * 1000;
  const stepText = `step ${p.index + 1}/${p.steps.length} (${x.percent} %)`;
  if (due !== null && x.now >= due && !p.awaiting?.timedOut)
    return {
      kind: "approval-timeout",
      onTimeout: a.onTimeout,
      reason: `no approval of ${stepText} within ${a.timeoutSeconds} s: ${ON_TIMEOUT_TEXT[a.onTimeout]}`,
    };
  const late = p.awaiting?.timedOut ? `, past its ${a.timeoutSeconds} s timeout` : "";
  return {
    kind: "await",
    waitingFor: `approval of ${stepText} since ${new Date(since).toISOString()}${late}: \`edgeshift approve\` to go on`,
    since,
    firstTime: !p.awaiting,
    wakeAt: p.awaiting?.timedOut ? null : due,
  };
}

const ON_TIMEOUT_TEXT: Record<OnTimeout, string> = {
  wait: "still waiting (onTimeout wait)",
  rollback: "rolling back (onTimeout rollback)",
  promote: "going on as if approved (onTimeout promote)",
};

/** The wait for approval starts (the "await" decision's first time). */
export function awaitApproval(p: PlanState, now: number): PlanState {
  return { ...p, awaiting: { since: now, timedOut: false } };
}

/** The timeout policy "wait" was applied: keep waiting, no second timeout. */
export function approvalTimedOut(p: PlanState): PlanState {
  return { ...p, awaiting: { since: p.awaiting?.since ?? 0, timedOut: true } };
}

/** A person's (or the timeout policy's) approval of the step that waits for it. */
export function approvePlan(p: PlanState | null, by: string, now: number): PlanState {
  if (!p)
    throw new ActionNotApplicable("no staged plan is running, nothing to approve (write a document with `steps`)");
  if (p.paused)
    throw new ActionNotApplicable(`the plan is paused, nothing waits for approval (${pausedText(p.paused)})`);
  if (p.completed) throw new ActionNotApplicable(`the plan is complete, nothing to approve (${completedText(p)})`);
  const step = p.steps[p.index];
  const where = `step ${p.index + 1}/${p.steps.length} (${step.percent} %)`;
  if (!step.approve) throw new ActionNotApplicable(`nothing waits for approval: ${where} does not ask for one`);
  if (!p.awaiting)
    throw new ActionNotApplicable(
      `nothing waits for approval yet: ${where} asks for it once it has held ${step.seconds} s healthy with enough traffic (see \`edgeshift status\`)`,
    );
  return { ...p, approved: { at: now, by } };
}

export function advance(p: PlanState, index: number, now: number): PlanState {
  return freshStep(p, index, now);
}

export function markExtended(p: PlanState): PlanState {
  return { ...p, extended: true };
}

export function complete(p: PlanState): PlanState {
  return { ...p, completed: true };
}

export function pausePlan(
  p: PlanState | null,
  by: string,
  reason: string,
  cause: "operator" | "sample-ratio",
  now: number,
): PlanState {
  if (!p)
    throw new ActionNotApplicable(
      "no staged plan is running, nothing to pause (write a document with `steps` to start one)",
    );
  if (p.paused) throw new ActionNotApplicable(`the plan is already paused (${pausedText(p.paused)})`);
  if (p.completed) throw new ActionNotApplicable(`the plan is complete, nothing to pause (${completedText(p)})`);
  return { ...p, paused: { at: now, by, reason, cause } };
}

/** Resuming starts the current step over: its hold and its counts (an SRM pause means they were suspect). */
export function resumePlan(p: PlanState | null, now: number): PlanState {
  if (!p?.paused)
    throw new ActionNotApplicable(
      p ? "the plan is not paused, nothing to resume" : "no staged plan is running, nothing to resume",
    );
  return freshStep({ ...p, paused: null }, p.index, now);
}

/** `srmPercent`: the percent to check new visitors against, or null when the sample-ratio check is off. */
export function planStatus(
  p: PlanState,
  now: number,
  minRequests: number | null,
  waitingFor: string | null,
  srmPercent: number | null = null,
): PlanStatus {
  const step = p.steps[p.index];
  const nv = p.newVisitors;
  const srm = srmPercent === null ? null : sampleRatio(nv.canary, nv.stable, srmPercent);
  return {
    steps: p.steps,
    index: p.index,
    stepStartedAt: new Date(p.stepStartedAt).toISOString(),
    heldSeconds: held(p, now),
    requiredSeconds: step.seconds,
    requestsInStep: p.requests,
    minRequests: minRequests ?? 0,
    paused: p.paused !== null,
    completed: p.completed,
    waitingFor,
    awaitingApproval: p.awaiting
      ? {
          since: new Date(p.awaiting.since).toISOString(),
          timeoutSeconds: step.approve?.timeoutSeconds ?? null,
          onTimeout: step.approve?.onTimeout ?? "wait",
          timedOut: p.awaiting.timedOut,
        }
      : null,
    sampleRatio: srm && {
      newVisitors: { canary: nv.canary, stable: nv.stable },
      observedShare: srm.observedShare,
      expectedShare: srm.expectedShare,
      judged: srm.judged,
      mismatch: srm.mismatch,
      detail: srm.detail,
    },
  };
}

function held(p: PlanState, now: number): number {
  const until = p.paused ? p.paused.at : now;
  return Math.max(0, Math.floor((until - p.stepStartedAt) / 1000));
}

function pausedText(x: NonNullable<PlanState["paused"]>): string {
  return x.cause === "sample-ratio"
    ? `paused by the sample-ratio check: ${x.reason}; resume when fixed`
    : `paused by ${x.by}: ${x.reason}`;
}

function completedText(p: PlanState): string {
  const last = p.steps[p.steps.length - 1];
  return `plan complete at ${last.percent} %: promote to make the canary the stable`;
}
