// The plan runner's approval steps (the rules are pure, src/plan/machine.ts): the wait beginning,
// a person's `approve`, and the step's onTimeout on the "plan" alarm. Apart from ./plan-runner.ts
// so each stays one job; the runner hands in how it saves a decision and drives the plan.
//
// | onTimeout | at approveTimeoutSeconds (health still judged first: an unhealthy step holds)     |
// |-----------|------------------------------------------------------------------------------------|
// | "wait"    | an "approval-timeout" event (webhook), then keep waiting; no second timeout          |
// | "rollback"| an "approval-timeout" event, then a rollback (percent 0, rolledBack with the reason) |
// | "promote" | an "approval-timeout" event, the step approved by "controller", the plan driven on   |
import { approvalTimedOut, approvePlan, awaitApproval, type PlanDecision, type PlanState } from "../plan/machine";
import type { ControllerContext, EventInput, WakeRequests } from "./context";

export interface ApprovalHost {
  context: ControllerContext;
  wakes: WakeRequests & { isRequested(concern: string, at?: number): boolean };
  /** The plan's alarm concern (cleared when a timeout rolls back). */
  concern: string;
  changeDocument(patch: Record<string, unknown>, ev: EventInput): void;
  /** Saves a plan decision at once. */
  decide(p: PlanState): void;
  /** Applies what the plan says now (after an approval it goes on). */
  drive(): Promise<void>;
}

type Data = Record<string, unknown>;

/** The step held healthy and waits for a person: saved once, told once (event, webhook); the timeout armed. */
export async function awaitPerson(
  h: ApprovalHost,
  p: PlanState,
  next: Extract<PlanDecision, { kind: "await" }>,
  data: Data,
): Promise<void> {
  if (next.firstTime) {
    h.decide(awaitApproval(p, h.context.now()));
    h.context.recordEvent({
      kind: "approval-wait",
      actor: "controller",
      reason: next.waitingFor,
      data: { ...data, ...approvalData(p) },
    });
  }
  if (next.wakeAt !== null && !h.wakes.isRequested(h.concern, next.wakeAt))
    await h.wakes.request(h.concern, next.wakeAt);
}

/** The step's onTimeout (table above). */
export async function approvalTimeout(
  h: ApprovalHost,
  p: PlanState,
  next: Extract<PlanDecision, { kind: "approval-timeout" }>,
  data: Data,
): Promise<void> {
  const now = h.context.now();
  h.context.recordEvent({
    kind: "approval-timeout",
    actor: "controller",
    reason: next.reason,
    data: { ...data, ...approvalData(p) },
  });
  if (next.onTimeout === "wait") return h.decide(approvalTimedOut(p));
  if (next.onTimeout === "promote") {
    h.decide(approvePlan(p, "controller", now));
    return h.drive();
  }
  const doc = h.context.state().doc;
  h.changeDocument(
    {
      percent: 0,
      rolledBack: {
        at: new Date(now).toISOString(),
        reason: next.reason,
        ...(doc.release ? { release: doc.release } : {}),
      },
    },
    { kind: "rollback", actor: "controller", reason: next.reason, data: { ...data, canary: doc.canary } },
  );
  await h.wakes.clear(h.concern);
}

/** A person's approval of the step that waits (ActionNotApplicable when none does); the plan goes on at once. */
export async function approveStep(
  h: ApprovalHost,
  plan: PlanState | null,
  actor: string,
  reason: string | undefined,
  note: { note?: string },
): Promise<void> {
  const now = h.context.now();
  const p = approvePlan(plan, actor, now);
  h.decide(p);
  const step = p.steps[p.index];
  h.context.recordEvent({
    kind: "approve",
    actor,
    reason: reason?.trim() || `step ${p.index + 1}/${p.steps.length} (${step.percent} %) approved by ${actor}`,
    data: { index: p.index, percent: step.percent, ...approvalData(p, now), ...note },
  });
  await h.drive();
}

/** The figures of a step's wait for approval, for its events. */
function approvalData(p: PlanState, now?: number): Data {
  const a = p.steps[p.index].approve;
  return {
    approveTimeoutSeconds: a?.timeoutSeconds ?? null,
    onTimeout: a?.onTimeout ?? "wait",
    ...(p.awaiting ? { waitingSince: new Date(p.awaiting.since).toISOString() } : {}),
    ...(p.awaiting && now !== undefined ? { waitedSeconds: Math.floor((now - p.awaiting.since) / 1000) } : {}),
  };
}
