// The canary's judgement and what follows it: the health rules over the attempt's sliding window
// (src/health/judge.ts), a guardrail shown broken (./experiments.ts), and the rollback they call
// for, or the operator's abort (a rollback by hand). The document change and its KV write are
// ./kv-sync.ts's; a plan step's own judgement is ./plan-runner.ts's and comes here to roll back.
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | judgement fails, rollback.mode     | event "would-roll-back" (and its webhook) once per attempt,   |
// | "observe"                          | nothing changed; after a restart it may be recorded once more |
import { ActionNotApplicable } from "../model/action-error";
import type { RolloutEvent } from "../model/status";
import { judgeHealth, type Judgement } from "../health/judge";
import type { ControllerContext, EventInput } from "./context";
import { secondsOf, type ControllerWindows } from "./windows";

export interface RollbackDeps {
  context: Pick<ControllerContext, "now" | "state" | "recordEvent">;
  windows: Pick<ControllerWindows, "healthTotals" | "people">;
  /** A broken guardrail as a failed judgement, or null (./experiments.ts regression). */
  regression(health: Judgement): Judgement | null;
  /** Changes the document in force and records the event (./kv-sync.ts change). */
  changeDocument(patch: Record<string, unknown>, ev: EventInput): RolloutEvent;
}

export class CanaryRollback {
  /** The attempt a "would-roll-back" was recorded for (observe mode): once per attempt. */
  private observedAttempt: number | null = null;

  constructor(private readonly deps: RollbackDeps) {}

  /** The rules over the current attempt's sliding window, now. */
  health(): Judgement {
    const sec = secondsOf(this.deps.context.now());
    const window = this.deps.windows.healthTotals(sec);
    const { canary, rollback } = this.deps.context.state().doc;
    const people = this.deps.windows.people(sec, canary);
    return judgeHealth(window.counts, canary, rollback, window.seconds, people.window, people.attempt);
  }

  /** After a report: rolls back when the rules or a guardrail fail; returns the window's judgement for the plan. */
  judge(): Judgement {
    const health = this.health();
    if (!this.deps.context.state().rolledBack) {
      const failed = health.healthy ? this.deps.regression(health) : health;
      if (failed) this.rollback(failed);
    }
    return health;
  }

  rollback(judgement: Judgement): void {
    const reason = judgement.reason ?? "health rules failed";
    const { doc, attempt } = this.deps.context.state();
    if (doc.rollback !== false && doc.rollback.mode === "observe") {
      // Judged and recorded, nothing changed; once per attempt, not on every report that agrees.
      if (this.observedAttempt === attempt) return;
      this.observedAttempt = attempt;
      this.deps.context.recordEvent({
        kind: "would-roll-back",
        actor: "controller",
        reason: `observe mode, nothing changed: would have rolled back: ${reason}`,
        data: { release: doc.release ?? null, canary: doc.canary, percent: doc.percent, figures: judgement.figures },
      });
      return;
    }
    const release = doc.release;
    this.deps.changeDocument(
      {
        percent: 0,
        rolledBack: {
          at: new Date(this.deps.context.now()).toISOString(),
          reason,
          ...(release ? { release } : {}),
          figures: judgement.figures,
        },
      },
      {
        kind: "rollback",
        actor: "controller",
        reason,
        data: { release: release ?? null, canary: doc.canary, percent: doc.percent, figures: judgement.figures },
      },
    );
  }

  abort(actor: string, reason: string, note: { note?: string }): void {
    const { doc, rolledBack, promotedAt } = this.deps.context.state();
    if (rolledBack)
      throw new ActionNotApplicable(`nothing to abort: the canary is already rolled back (${rolledBack.reason})`);
    // After a promotion the canary slot holds the old stable at 0 %: an abort would mark the release
    // just promoted as rolled back (and notify it so) while changing no traffic.
    if (promotedAt && doc.percent === 0)
      throw new ActionNotApplicable(
        `nothing to abort: this attempt was promoted at ${promotedAt} and the canary (${doc.canary}) takes no traffic; to send everyone back to ${doc.canary}, \`edgeshift set 100\`, then \`edgeshift promote\` to make it stable again`,
      );
    this.deps.changeDocument(
      {
        percent: 0,
        rolledBack: {
          at: new Date(this.deps.context.now()).toISOString(),
          reason,
          by: actor,
          ...(doc.release ? { release: doc.release } : {}),
        },
      },
      { kind: "abort", actor, reason, data: { release: doc.release ?? null, percent: doc.percent, ...note } },
    );
  }
}
