// The controller's experiments (src/experiments): what a report adds to the rollout's sample, the
// guardrails judged on it, and what the status shows of every experiment. The rollout's sample lives
// in ./windows.ts beside the attempt's ledgers, the flags' in ./flag-guard.ts beside their guards;
// the goals are the flags document's, read by ./flag-guard.ts (at most every GOALS_MAX_AGE_MS when
// only experiments need them).
import type { ReportBatch } from "../model/protocol";
import { otherSlot } from "../model/rollout";
import type { ExperimentStatus, GuardrailVerdict } from "../model/status";
import { checkGuardrails, pendingGuardrail, regression } from "../experiments/guardrails";
import type { Judgement } from "../health/judge";
import type { ControllerContext } from "./context";
import type { FlagGuardKeeper } from "./flag-guard";
import type { ControllerWindows } from "./windows";

/** How old the goals experiments count and guardrails judge may be (the flags document read again in the background). */
const GOALS_MAX_AGE_MS = 30_000;

export class ControllerExperiments {
  constructor(
    private readonly context: ControllerContext,
    private readonly windows: () => ControllerWindows,
    private readonly flagGuards: () => FlagGuardKeeper,
  ) {}

  /**
   * What the rollout's sample counts of a report (./windows.ts addContributors): frozen once the
   * canary is rolled back, and only batches of the version in force.
   */
  sampling(): { goals: readonly string[]; inSample: (b: ReportBatch) => boolean } | null {
    const state = this.context.state();
    if (state.rolledBack) return null;
    return {
      goals: this.flagGuards().goalsWithin(GOALS_MAX_AGE_MS),
      inSample: (b) => b.fingerprint === this.context.state().fingerprint,
    };
  }

  /** The rollout's guardrails on its experiment now (none: []). */
  guardrails(): GuardrailVerdict[] {
    const { doc } = this.context.state();
    if (!doc.guardrails) return [];
    const goals = this.flagGuards().goalsWithin(GOALS_MAX_AGE_MS);
    const result = this.windows().experiment.result(otherSlot(doc.canary), doc.canary, goals);
    return checkGuardrails(doc.guardrails, result, goals);
  }

  /**
   * A guardrail shown broken as a failed judgement (the rollback's reason), or null. With
   * `rollback: false` nothing rolls back on its own, guardrails included (they still gate a plan).
   */
  regression(health: Judgement): Judgement | null {
    return this.context.state().doc.rollback === false ? null : regression(health, this.guardrails());
  }

  /** What a plan step waits for. At 0 or 100 % there is no second arm: the steps before judged them. */
  pending(): string | null {
    const { percent } = this.context.state().doc;
    return percent > 0 && percent < 100 ? pendingGuardrail(this.guardrails()) : null;
  }

  /** The rollout's experiment and the guarded flags', over the goals declared beside the flags. */
  status(): ExperimentStatus[] | undefined {
    const goals = this.flagGuards().goals();
    if (goals.length === 0) return undefined;
    const { doc, rolledBack } = this.context.state();
    const stable = otherSlot(doc.canary);
    const rollout = this.windows().experiment.status(
      {
        subject: "rollout",
        key: doc.release ?? null,
        control: stable,
        treatment: doc.canary,
        names: { control: stable, treatment: doc.canary },
      },
      goals,
      !rolledBack,
    );
    const guardrails = this.guardrails();
    return [{ ...rollout, ...(guardrails.length > 0 ? { guardrails } : {}) }, ...this.flagGuards().experiments(goals)];
  }
}
