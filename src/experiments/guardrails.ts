// Guardrails: goals the canary must not make worse (the rollout's `guardrails`, e.g.
// {"checkout": {"maxDrop": 0.01}}: checkout's conversion may not drop by more than one point), judged
// on the rollout's experiment (./experiment.ts) with its always-valid interval. Pure.
//
// | the goal's interval of treatment − control      | guardrail | what the controller does            |
// |--------------------------------------------------|-----------|-------------------------------------|
// | wholly below −maxDrop                            | regressed | rolls back (observe mode: records)  |
// | wholly at or above −maxDrop                      | held      | a plan step may advance             |
// | straddles −maxDrop, or no interval yet (< 100    | pending   | a plan step waits (extended, with   |
// | visitors an arm), or the goal is not declared    |           | the reason); nothing rolls back     |
//
// Pending is never a pass: a plan does not promote past a guardrail it could not check (a typo in the
// goal's name waits, and the status says why). Because the interval is always valid, checking after
// every report does not inflate the chance of a wrong rollback or a wrong pass beyond α.
import type { ExperimentResult, GoalResult, GuardrailVerdict } from "../model/status";
import type { Judgement } from "../health/judge";
import { formatPercent, formatPoints, signedPercent } from "../lib/percent";

type GuardrailState = GuardrailVerdict["state"];

export function checkGuardrails(
  guardrails: Readonly<Record<string, { maxDrop: number }>>,
  result: ExperimentResult | null,
  declared: readonly string[],
): GuardrailVerdict[] {
  return Object.entries(guardrails).map(([goal, { maxDrop }]) => {
    const bound = formatPoints(-maxDrop);
    const at = (state: GuardrailState, detail: string): GuardrailVerdict => ({ goal, maxDrop, state, detail });
    if (!declared.includes(goal))
      return at("pending", `guardrail "${goal}" is not one of the goals in the flags document: nothing to check it on`);
    const g = result?.goals.find((x) => x.goal === goal);
    if (!g || g.interval === null)
      return at("pending", `guardrail "${goal}": ${g?.waitingFor ?? "nothing counted"}, no interval yet`);
    const seen = `${figures(g)}, interval [${signedPercent(g.interval.low)}, ${signedPercent(g.interval.high)}]`;
    if (g.interval.high < -maxDrop) return at("regressed", `guardrail "${goal}" dropped beyond ${bound}: ${seen}`);
    if (g.interval.low >= -maxDrop) return at("held", `guardrail "${goal}" shown no worse than ${bound}: ${seen}`);
    return at("pending", `guardrail "${goal}" not yet shown no worse than ${bound}: ${seen}`);
  });
}

/** The first regression as a failed judgement (the rollback's reason and figures), or null. */
export function regression(health: Judgement, verdicts: readonly GuardrailVerdict[]): Judgement | null {
  const failed = verdicts.find((v) => v.state === "regressed");
  if (!failed) return null;
  return {
    ...health,
    healthy: false,
    reason: failed.detail,
    verdicts: [...health.verdicts, { rule: "guardrail", ok: false, detail: failed.detail }],
  };
}

/** What a plan step waits for, or null when every guardrail held. */
export function pendingGuardrail(verdicts: readonly GuardrailVerdict[]): string | null {
  return verdicts.find((v) => v.state !== "held")?.detail ?? null;
}

function figures(g: GoalResult): string {
  return `canary ${formatPercent(g.treatment.rate)} vs stable ${formatPercent(g.control.rate)} (${formatPoints(g.difference)})`;
}
