// The always-valid comparison of canary and stable: is the canary's share of failing visitors
// (visitors with at least one error) higher than stable's? Pure.
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
  const pc = (canary.x + 0.5) / (canary.n + 1);
  const ps = (stable.x + 0.5) / (stable.n + 1);
  const V = (pc * (1 - pc)) / canary.n + (ps * (1 - ps)) / stable.n;
  const t2 = TAU * TAU;
  const logLambda = 0.5 * Math.log(V / (V + t2)) + (difference * difference * t2) / (2 * V * (V + t2));
  const worse = difference > 0 && difference >= floor && logLambda >= threshold;
  return { evaluated, canaryShare: cs, stableShare: ss, difference, logLambda, threshold, worse };
}
