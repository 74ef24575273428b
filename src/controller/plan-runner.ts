// Runs the staged plan of the current attempt (the rules are pure, in src/plan/machine.ts): its
// state is one row (kv_state "plan"), driven per report and by the "plan" alarm concern. Counts
// come only from batches under the current step's document (its fingerprint), so isolates still
// routing by the previous step do not skew the step's request count or its sample ratio.
// Decisions are written at once; per-report counts go through the controller's write-behind.
// Who produced a step's counts is a visitor ledger (src/health/ledger.ts) that never forgets within
// the step: the same quorum, weights and sequential test as the window, over the step's span. It
// lives in memory only: after the object restarts a step's quorum starts empty, so the step's own
// totals cannot roll back until it is met again (the sliding window still judges; fails safe).
//
// | rollback.mode | a failed judgement                                                          |
// |---------------|-----------------------------------------------------------------------------|
// | "enforce"     | rollback; the plan stops                                                    |
// | "observe"     | recorded as "would-roll-back" (by the controller); the plan goes on as if   |
// |               | healthy, since observing must change nothing                                |
// A step's `minRequests` is met by the requests the judge weighs (per visitor and network, the
// heaviest network left out), so one client cannot pad a step forward; after a restart, until
// the step's ledger has them again, the step is extended (holding is the safe side).
import { otherSlot, SLOTS, type Rollout } from "../model/rollout";
import type { ReportBatch } from "../model/protocol";
import { ActionNotApplicable } from "../model/action-error";
import type { ActionRequest, PlanStatus } from "../model/status";
import { judgeHealth, peopleOf, type Judgement } from "../health/judge";
import { addBatches, limitsOf, VisitorLedger } from "../health/ledger";
import { judgedRequests } from "../health/rules";
import { newVisitors, slotCounters, vectorUnder } from "../health/window";
import {
  advance,
  complete,
  countReport,
  judge,
  markExtended,
  pausePlan,
  planStatus,
  resumePlan,
  startPlan,
  type PlanDecision,
  type PlanState,
} from "../plan/machine";
import type { ControllerContext, EventInput, WakeRequests } from "./context";
import { approvalTimeout, approveStep, awaitPerson, type ApprovalHost } from "./plan-approval";
import type { ControllerStore } from "./store";
import type { WriteBehind } from "./write-behind";

export const PLAN_CONCERN = "plan";
const PLAN_KEY = "plan";

export interface PlanRunnerDeps {
  context: ControllerContext;
  store: ControllerStore;
  writeBehind: WriteBehind;
  wakes: WakeRequests & { isRequested(concern: string, at?: number): boolean };
  /** The controller's one way to change the document (./kv-sync.ts `change`). */
  changeDocument(patch: Record<string, unknown>, ev: EventInput): void;
  /** Rolls the canary back on a failed judgement. */
  rollback(judgement: Judgement): void;
  /** The sliding window's judgement now. */
  windowHealth(): Judgement;
  /** A guardrail the step waits for (src/experiments/guardrails.ts), or null. */
  guardrail(): string | null;
  /** The roles switched: the health window starts over (its numbers would be read as the other slot's). */
  rolesSwitched(): void;
}

export class PlanRunner {
  private saved: PlanState | null;
  /** The current step's visitors, keyed by the step it belongs to. */
  private stepLedger: { key: string; ledger: VisitorLedger } | null = null;

  constructor(private readonly deps: PlanRunnerDeps) {
    this.saved = deps.store.get<PlanState>(PLAN_KEY);
  }

  /** The plan of the current attempt, or null (none, another attempt's, or the canary rolled back). */
  private get plan(): PlanState | null {
    const state = this.deps.context.state();
    const p = this.saved;
    return p && p.attempt === state.attempt && !state.rolledBack ? p : null;
  }

  /** A decision: written at once (a per-report count still queued is part of it). */
  private decide(p: PlanState | null) {
    this.saved = p;
    this.deps.writeBehind.discard(PLAN_KEY);
    this.deps.store.put(PLAN_KEY, p);
  }

  /** The ledger of plan `p`'s current step (a new one when the step, or its start, changed). */
  private ledgerOf(p: PlanState): VisitorLedger {
    const key = `${p.attempt}:${p.index}:${p.stepStartedAt}`;
    if (this.stepLedger?.key !== key)
      this.stepLedger = { key, ledger: new VisitorLedger(limitsOf(this.deps.context.state().doc.rollback)) };
    return this.stepLedger.ledger;
  }

  /** One report's batches: counted for the step, then the plan driven on the window's judgement. */
  async afterReport(batches: readonly ReportBatch[], windowHealth: Judgement): Promise<void> {
    const p = this.plan;
    if (!p) return;
    const { doc, fingerprint } = this.deps.context.state();
    const vector = vectorUnder(batches, fingerprint);
    if (vector) {
      const arrivals = newVisitors(vector);
      this.saved = countReport(p, {
        requests: slotCounters(vector, doc.canary).requests,
        newCanary: arrivals[doc.canary],
        newStable: arrivals[otherSlot(doc.canary)],
        vector,
      });
      this.deps.writeBehind.defer(PLAN_KEY, () => this.deps.store.put(PLAN_KEY, this.saved));
      const sec = Math.floor(this.deps.context.now() / 1000);
      addBatches(this.ledgerOf(p), sec, batches, (b) => (b.fingerprint === fingerprint ? SLOTS : []));
    }
    await this.drive(windowHealth);
  }

  /** The rules applied to the step's own totals (null before any report in the step). */
  private stepHealth(p: PlanState, now: number): Judgement | null {
    if (!p.counts) return null;
    const doc = this.deps.context.state().doc;
    const people = peopleOf(this.ledgerOf(p), doc.canary);
    const seconds = Math.max(1, Math.floor((now - p.stepStartedAt) / 1000));
    return judgeHealth(p.counts, doc.canary, doc.rollback, seconds, people, people);
  }

  private decision(p: PlanState, healthy: boolean, now: number): PlanDecision {
    const doc = this.deps.context.state().doc;
    // A step advances on requests the judge could weigh, not on raw counts one client can pad.
    const judged =
      doc.rollback === false ? p.requests : judgedRequests(doc.rollback, this.ledgerOf(p).figures(doc.canary));
    return judge(
      { ...p, requests: Math.min(p.requests, Math.floor(judged + 1e-9)) },
      {
        now,
        percent: doc.percent,
        healthy,
        minRequests: doc.rollback === false ? null : doc.rollback.minRequests,
        autoPromote: doc.autoPromote,
        sampleRatioCheck: doc.sampleRatioCheck,
        guardrail: this.deps.guardrail(),
      },
    );
  }

  /** Applies what the plan says now, given the window's judgement (per report and on the "plan" alarm). */
  async drive(windowHealth: Judgement): Promise<void> {
    const p = this.plan;
    if (!p) return;
    const { context, wakes } = this.deps;
    const doc = context.state().doc;
    const now = context.now();
    // Thin traffic may never put minRequests into one window; the step's totals are judged too.
    const step = this.stepHealth(p, now);
    const observe = doc.rollback !== false && doc.rollback.mode === "observe";
    if (step && !step.healthy) {
      this.deps.rollback(step);
      if (!observe) {
        await wakes.clear(PLAN_CONCERN);
        return;
      }
    }
    const healthy = observe || (windowHealth.healthy && (step?.healthy ?? true));
    const next = this.decision(p, healthy, now);
    const data = {
      index: p.index,
      percent: doc.percent,
      step: p.steps[p.index].percent,
      requestsInStep: p.requests,
      release: doc.release ?? null,
    };
    switch (next.kind) {
      case "idle":
        return;
      case "hold":
        if (next.wakeAt !== null && !wakes.isRequested(PLAN_CONCERN, next.wakeAt))
          await wakes.request(PLAN_CONCERN, next.wakeAt);
        return;
      case "extend":
        if (next.firstTime) {
          this.decide(markExtended(p));
          context.recordEvent({ kind: "plan-extended", actor: "controller", reason: next.waitingFor, data });
        }
        return;
      case "await":
        return awaitPerson(this.approvalHost, p, next, data);
      case "approval-timeout":
        return approvalTimeout(this.approvalHost, p, next, data);
      case "pause":
        this.decide(pausePlan(p, "controller", next.reason, "sample-ratio", now));
        context.recordEvent({
          kind: "sample-ratio",
          actor: "controller",
          reason: `${next.reason} Plan paused; resume once fixed`,
          data: {
            ...data,
            newVisitors: p.newVisitors,
            observedShare: next.srm.observedShare,
            expectedShare: next.srm.expectedShare,
            chi2: next.srm.chi2,
            p: next.srm.p,
          },
        });
        await wakes.clear(PLAN_CONCERN);
        return;
      case "advance":
        this.decide(advance(p, next.index, now));
        this.deps.changeDocument(
          { percent: next.percent },
          {
            kind: "step",
            actor: "controller",
            reason: next.reason,
            data: { ...data, to: next.percent, toIndex: next.index },
          },
        );
        await wakes.request(PLAN_CONCERN, now + p.steps[next.index].seconds * 1000);
        return;
      case "complete":
        this.decide(complete(p));
        context.recordEvent({ kind: "plan-complete", actor: "controller", reason: next.reason, data });
        await wakes.clear(PLAN_CONCERN);
        return;
      case "promote":
        context.recordEvent({ kind: "plan-complete", actor: "controller", reason: next.reason, data });
        this.promoteNow("controller", "plan complete");
        await wakes.clear(PLAN_CONCERN);
        return;
    }
  }

  /** What ./plan-approval.ts needs of the runner. */
  private get approvalHost(): ApprovalHost {
    return {
      context: this.deps.context,
      wakes: this.deps.wakes,
      concern: PLAN_CONCERN,
      changeDocument: (patch, ev) => this.deps.changeDocument(patch, ev),
      decide: (p) => this.decide(p),
      drive: () => this.drive(this.deps.windowHealth()),
    };
  }

  /** An operator write started a new attempt: a document with `steps` starts a plan. */
  onAttempt(doc: Rollout): void {
    const { context, wakes } = this.deps;
    const now = context.now();
    const started = startPlan(doc, context.state().attempt, now);
    this.decide(started?.plan ?? null);
    if (!started) {
      if (wakes.isRequested(PLAN_CONCERN)) context.background(wakes.clear(PLAN_CONCERN));
      return;
    }
    const p = started.plan;
    const first = p.steps[p.index];
    const ev: EventInput = {
      kind: "plan-start",
      actor: "operator",
      // An approval step is marked as `edgeshift start --steps` writes it: the channel sees where a person is wanted.
      reason: `plan ${p.steps.map((step) => `${step.percent}${step.approve ? ":approve" : ""}`).join(" → ")} % started at step ${p.index + 1}/${p.steps.length}: ${first.percent} % held ${first.seconds} s`,
      data: { steps: p.steps, index: p.index, release: doc.release ?? null, canary: doc.canary },
    };
    if (started.percent !== null) this.deps.changeDocument({ percent: started.percent }, ev);
    else context.recordEvent(ev);
    context.background(wakes.request(PLAN_CONCERN, now + first.seconds * 1000));
  }

  /** What status shows about the plan (null without one). */
  status(): PlanStatus | null {
    const p = this.plan;
    if (!p) return null;
    const doc = this.deps.context.state().doc;
    const now = this.deps.context.now();
    const observe = doc.rollback !== false && doc.rollback.mode === "observe";
    const next = this.decision(p, observe || this.deps.windowHealth().healthy, now);
    const waitingFor =
      next.kind === "idle" || next.kind === "hold" || next.kind === "extend" || next.kind === "await"
        ? next.waitingFor
        : next.kind === "pause"
          ? `sample ratio: ${next.reason}`
          : "due now (next report or alarm)";
    const minRequests = doc.rollback === false ? null : doc.rollback.minRequests;
    return planStatus(p, now, minRequests, waitingFor, doc.sampleRatioCheck ? doc.percent : null);
  }

  /** The operator's pause / resume / promote / approve (abort is a rollback by hand: the controller's own). */
  async act(kind: "pause" | "resume" | "promote" | "approve", actor: string, req: ActionRequest): Promise<void> {
    const { context, wakes } = this.deps;
    const now = context.now();
    if (kind === "approve") {
      // A wait that is due but not yet applied (its alarm not rung yet) counts: drive first.
      await this.drive(this.deps.windowHealth());
      await approveStep(this.approvalHost, this.plan, actor, req.reason, noteOf(req));
    } else if (kind === "pause") {
      const reason = req.reason?.trim() || "paused by the operator";
      const p = pausePlan(this.plan, actor, reason, "operator", now);
      this.decide(p);
      context.recordEvent({
        kind: "pause",
        actor,
        reason,
        data: { index: p.index, percent: p.steps[p.index].percent, ...noteOf(req) },
      });
      await wakes.clear(PLAN_CONCERN);
    } else if (kind === "resume") {
      const p = resumePlan(this.plan, now);
      this.decide(p);
      const step = p.steps[p.index];
      context.recordEvent({
        kind: "resume",
        actor,
        reason: req.reason?.trim() || `resumed by ${actor}: step ${p.index + 1} (${step.percent} %) starts over`,
        data: { index: p.index, percent: step.percent, ...noteOf(req) },
      });
      await wakes.request(PLAN_CONCERN, now + step.seconds * 1000);
    } else {
      const { doc, rolledBack } = context.state();
      if (rolledBack)
        throw new ActionNotApplicable(
          `nothing to promote: the canary was rolled back (${rolledBack.reason}); write a new attempt first`,
        );
      if (!this.plan && doc.percent === 0 && !doc.release && doc.rules.every((r) => r.slot !== "canary"))
        throw new ActionNotApplicable(
          `nothing to promote: ${doc.canary} has no plan, no traffic and no release label (a second promote would switch straight back); write the new release first`,
        );
      this.promoteNow(actor, req.reason?.trim() || `promoted by ${actor}`, noteOf(req));
      await wakes.clear(PLAN_CONCERN);
    }
  }

  /**
   * The blue/green switch: the canary becomes stable at once (no 100 % step is needed for that),
   * the old stable becomes the idle canary at 0 %. Removed so nothing keeps routing to the old
   * build: `steps` (the plan), `release` (it labelled the build now stable; the event keeps it),
   * `shadowPercent`, canary-targeting rules. Kept: stickiness, rollback rules, stable rules, salt.
   */
  private promoteNow(actor: string, reason: string, note: { note?: string } = {}) {
    const doc = this.deps.context.state().doc;
    const from = doc.canary;
    const to = otherSlot(from);
    const stableRules = doc.rules.filter((r) => r.slot === "stable");
    this.decide(null);
    this.deps.changeDocument(
      {
        canary: to,
        percent: 0,
        steps: undefined,
        release: undefined,
        rolledBack: undefined,
        shadowPercent: undefined,
        rules: stableRules.length ? stableRules : undefined,
      },
      {
        kind: "promote",
        actor,
        reason: `${reason}: ${from}${doc.release ? ` (${doc.release})` : ""} is now stable; ${to} is the canary at 0 %`,
        data: { release: doc.release ?? null, stable: from, canary: to, percentBefore: doc.percent, ...note },
      },
    );
    this.deps.rolesSwitched();
  }
}

/** The caller's free-text note for an event's data (the actor is the token's name, not this). */
export function noteOf(req: ActionRequest): { note?: string } {
  const n = req.note?.trim();
  return n ? { note: n } : {};
}
