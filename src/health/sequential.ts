// The always-valid comparison of canary and stable: is the canary's share of failing visitors
// (visitors with at least one error) higher than stable's? And the interval that inverts the same
// test, for any two shares of visitors (an experiment's conversion rates). Pure.
//
// Why a sequential test: the controller looks after every report. A fixed-sample test looked at
// that often rolls back healthy canaries far more often than its nominal α; a mixture sequential
// probability ratio test (mSPRT) keeps P(ever trips | no difference) ≤ α however often it is looked
// at. Johari, Pekelis, Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests" (2017,
// arXiv:1512.04922; Operations Research 2022), §4: the two-sample difference of means with a normal
// mixture N(0, τ²) over the difference θ, on the normal approximation of each proportion:
//
//   Λ = sqrt(V / (V + τ²)) · exp( θ̂² τ² / (2 V (V + τ²)) ),   V = p̂c(1−p̂c)/nc + p̂s(1−p̂s)/ns
//
// and the canary is declared worse when Λ ≥ 1/α with θ̂ > 0. Keeping the two-sided Λ and adding the
// one-sided condition is conservative: the one-sided event is contained in the two-sided one.
// Choices here:
// - V uses p̂ = (x + ½)/(n + 1) (a continuity guard): with 0 failures on an arm the plug-in variance
//   would be 0 and a single failure would look infinitely significant.
// - τ = 0.1: the mixture is tuned to differences of about ten points of visitor share, the size a
//   broken release produces; smaller differences are still found, with more visitors.
// - Practical floor: the observed difference must be at least `minDelta` (rollback.relative's, 2
//   points by default) so a tiny but real difference on huge traffic never rolls back.
// - Evaluated only once both arms have MIN_SAMPLE visitors: the normal approximation needs some.
// Measured false-positive rate and detection speed: test/unit/verdict-simulation.test.ts,
// summarised in docs/verdict.md.

export const TAU = 0.1;
export const MIN_SAMPLE = 20;

export interface SequentialResult {
  /** Whether the test was evaluated (both arms have MIN_SAMPLE visitors). */
  evaluated: boolean;
  canaryShare: number;
  stableShare: number;
  /** Observed difference canary − stable. */
  difference: number;
  /** log Λ, the mixture likelihood ratio; compared with log(1/α). */
  logLambda: number;
  threshold: number;
  /** Canary worse: Λ ≥ 1/α, difference > 0 and ≥ the floor. */
  worse: boolean;
}

/** `x` failing of `n` visitors per arm (counts may be fractional: networks are weighted). */
export function compareShares(
  canary: { n: number; x: number },
  stable: { n: number; x: number },
  alpha: number,
  floor: number,
): SequentialResult {
  const cs = canary.n > 0 ? canary.x / canary.n : 0;
  const ss = stable.n > 0 ? stable.x / stable.n : 0;
  const difference = cs - ss;
  const threshold = Math.log(1 / alpha);
  const evaluated = canary.n >= MIN_SAMPLE && stable.n >= MIN_SAMPLE;
  if (!evaluated)
    return { evaluated, canaryShare: cs, stableShare: ss, difference, logLambda: 0, threshold, worse: false };
  const V = varianceOf(canary, stable);
  const logLambda = logMixtureRatio(difference, V, TAU);
  const worse = difference > 0 && difference >= floor && logLambda >= threshold;
  return { evaluated, canaryShare: cs, stableShare: ss, difference, logLambda, threshold, worse };
}

/** V of the difference of two shares, each with the continuity guard p̂ = (x + ½)/(n + 1) (head). */
function varianceOf(a: { n: number; x: number }, b: { n: number; x: number }): number {
  const pa = (a.x + 0.5) / (a.n + 1);
  const pb = (b.x + 0.5) / (b.n + 1);
  return (pa * (1 - pa)) / a.n + (pb * (1 - pb)) / b.n;
}

/** log Λ of the normal-mixture SPRT for an observed difference `d` with variance V (head). */
function logMixtureRatio(d: number, V: number, tau: number): number {
  const t2 = tau * tau;
  return 0.5 * Math.log(V / (V + t2)) + (d * d * t2) / (2 * V * (V + t2));
}

export interface DifferenceInterval {
  /** Both arms have MIN_SAMPLE visitors: the interval means something. */
  evaluated: boolean;
  /** Observed share difference a − b. */
  difference: number;
  /** An always-valid (1 − α) interval for the true difference; null until evaluated. */
  low: number | null;
  high: number | null;
}

/**
 * The confidence sequence that inverts the same test (Johari et al. §4, "always valid confidence
 * intervals"): every difference θ₀ the mSPRT would not reject at α, Λ(θ̂ − θ₀) < 1/α, i.e.
 *
 *   θ̂ ± sqrt( 2V(V + τ²)/τ² · (log(1/α) − ½ log(V/(V + τ²))) )
 *
 * With probability ≥ 1 − α it covers the true difference at every look, however many: a reader
 * may watch it narrow and stop whenever it excludes 0 (test/unit/experiment-stats.test.ts
 * measures the coverage on simulated arms). `tau` is the size of difference it is tuned to find.
 */
export function differenceInterval(
  a: { n: number; x: number },
  b: { n: number; x: number },
  alpha: number,
  tau = TAU,
): DifferenceInterval {
  const difference = (a.n > 0 ? a.x / a.n : 0) - (b.n > 0 ? b.x / b.n : 0);
  if (a.n < MIN_SAMPLE || b.n < MIN_SAMPLE) return { evaluated: false, difference, low: null, high: null };
  const V = varianceOf(a, b);
  const t2 = tau * tau;
  const half = Math.sqrt(((2 * V * (V + t2)) / t2) * (Math.log(1 / alpha) - 0.5 * Math.log(V / (V + t2))));
  return { evaluated: true, difference, low: difference - half, high: difference + half };
}
