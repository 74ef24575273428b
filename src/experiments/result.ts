// What an experiment says, per goal: each arm's conversion rate, the difference with an interval
// that stays valid however often it is looked at, and a state a reader can act on. Pure; reads a
// tally (./tally.ts) and the sequential machinery of the health checks (src/health/sequential.ts).
//
// | state          | when                                                      | what it means             |
// |----------------|-----------------------------------------------------------|---------------------------|
// | "collecting"   | an arm has fewer than MIN_VISITORS visitors, or the       | no interval yet: the      |
// |                | smaller arm expects fewer than MIN_EXPECTED_CONVERSIONS   | normal approximation needs|
// |                | (its visitors × the pooled rate)                          | some of both per arm      |
// | "inconclusive" | the interval contains 0                                   | no difference shown yet   |
// | "better"       | the whole interval is above 0                             | treatment converts more   |
// | "worse"        | the whole interval is below 0                             | treatment converts less   |
//
// The interval is Johari et al.'s always-valid confidence sequence (differenceInterval): with
// probability ≥ 1 − α it holds the true difference at every look, so a reader may watch it narrow
// and stop the first time it excludes 0 (test/unit/experiment-stats.test.ts measures both).
// EXPERIMENT_TAU tunes it to differences of a few points, the size a change of a product makes
// (the health check's τ = 0.1 is tuned to a broken release's ten); any τ keeps the guarantee,
// only the width at a given sample depends on it.
//
// The relative lift (difference / control's rate) is a point estimate; its interval divides the
// difference's bounds by control's observed rate, i.e. takes that rate as known. It is shown with
// "≈" and only once control has MIN_CONTROL_CONVERSIONS conversions: the absolute interval is the
// one the guarantee is about.
import { differenceInterval } from "../health/sequential";
import { sampleRatio } from "../health/sample-ratio";
import type { ArmRate, ExperimentResult, GoalResult, GoalState } from "../model/status";
import type { Slot } from "../model/rollout";
import type { TallyFigures } from "./tally";

export const EXPERIMENT_ALPHA = 0.05;
export const EXPERIMENT_TAU = 0.03;
/** Visitors each arm needs before an interval is given. */
export const MIN_VISITORS = 100;
/** Conversions the smaller arm must expect (its visitors × the pooled rate) before an interval is given. */
export const MIN_EXPECTED_CONVERSIONS = 10;
/** Control conversions before a relative lift's interval is given (dividing by a rate near 0 is noise). */
export const MIN_CONTROL_CONVERSIONS = 10;

/**
 * The result of a tally whose arms are `control` and `treatment`; `percent`: the treatment's share
 * of randomly assigned visitors (0–100), for the sample-ratio check; `goals`: the goals declared now
 * (a goal never reached is still shown, at 0; one reached but since removed is not).
 */
export function experimentResult(
  fig: TallyFigures,
  control: Slot,
  treatment: Slot,
  percent: number | null,
  goals: readonly string[],
  alpha = EXPERIMENT_ALPHA,
): ExperimentResult {
  const c = fig.arms[control];
  const t = fig.arms[treatment];
  return {
    control,
    treatment,
    alpha,
    visitors: { control: c.visitors, treatment: t.visitors },
    rawVisitors: { control: c.rawVisitors, treatment: t.rawVisitors },
    goals: goals.map((goal) =>
      goalResult(
        goal,
        { n: c.visitors, x: c.conversions[goal] ?? 0 },
        { n: t.visitors, x: t.conversions[goal] ?? 0 },
        alpha,
      ),
    ),
    sampleRatio: percent === null ? null : sampleRatio(t.rawVisitors, c.rawVisitors, percent),
    crossed: fig.crossed,
    excluded: fig.excluded,
    crowded: fig.crowded,
    sampled: fig.sampled,
  };
}

/** One goal's comparison: `x` of `n` visitors converted, per arm. */
export function goalResult(
  goal: string,
  control: { n: number; x: number },
  treatment: { n: number; x: number },
  alpha = EXPERIMENT_ALPHA,
): GoalResult {
  const rate = (a: { n: number; x: number }) => (a.n > 0 ? a.x / a.n : 0);
  const arm = (a: { n: number; x: number }): ArmRate => ({ visitors: a.n, conversions: a.x, rate: rate(a) });
  const difference = rate(treatment) - rate(control);
  const base = rate(control);
  const lift = control.x > 0 ? difference / base : null;
  const out = { goal, control: arm(control), treatment: arm(treatment), difference, lift };
  const collecting = (waitingFor: string): GoalResult => ({
    ...out,
    interval: null,
    liftInterval: null,
    state: "collecting",
    waitingFor,
  });
  const least = Math.min(control.n, treatment.n);
  if (least < MIN_VISITORS) return collecting(`${Math.floor(least)} of ${MIN_VISITORS} visitors an arm`);
  // The smaller arm must expect some conversions: with two or three, its variance estimate is too
  // small and the interval misses on the "worse" side far more often than α (simulated: 12–15 % of
  // runs at a 5 % arm converting 2 %; 4 % with this floor; test/unit/experiment-stats.test.ts).
  const expected = (least * (control.x + treatment.x)) / (control.n + treatment.n);
  if (expected < MIN_EXPECTED_CONVERSIONS)
    return collecting(`${expected.toFixed(1)} of ${MIN_EXPECTED_CONVERSIONS} conversions expected in the smaller arm`);
  const ci = differenceInterval(treatment, control, alpha, EXPERIMENT_TAU);
  const interval = { low: ci.low!, high: ci.high! };
  const liftInterval =
    control.x >= MIN_CONTROL_CONVERSIONS ? { low: interval.low / base, high: interval.high / base } : null;
  const state: GoalState = interval.low > 0 ? "better" : interval.high < 0 ? "worse" : "inconclusive";
  return { ...out, interval, liftInterval, state };
}
