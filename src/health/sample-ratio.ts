// Sample-ratio mismatch (SRM): is the canary getting the share of NEW visitors that `percent` says?
// Pure. Only visitors assigned by bucket count (the proxy records them when it mints the visitor
// cookie and the decision's reason is "bucket"), so rules, overrides and location staging do not
// skew the ratio. A mismatch means stickiness or routing is broken (a cache keyed wrongly, a cookie
// stripped by the app, stale isolates): every number the plan judges would then be suspect.
//
// Test: chi-square goodness of fit, 1 degree of freedom, against expected share percent / 100.
// | situation                                          | verdict                                    |
// |----------------------------------------------------|--------------------------------------------|
// | fewer than MIN_SAMPLES new visitors                | not judged ("n of 200 new visitors")       |
// | an expected cell below 5 (chi-square unreliable)   | not judged (e.g. 1 % of 300: wait for 500) |
// | p < P_THRESHOLD                                     | mismatch, with the observed/expected share |
// | percent 0 or 100                                   | mismatch iff any visitor on the wrong side |
// p < 0.001 keeps false alarms to about one in a thousand checked steps, while a real routing fault
// (say 12 % observed vs 5 % expected over 1,800 visitors: chi² ≈ 190) is many orders beyond it.
import { formatConfiguredPercent, formatPercent } from "../lib/percent";

export const MIN_SAMPLES = 200;
export const P_THRESHOLD = 0.001;
const MIN_EXPECTED_CELL = 5;

export interface SampleRatioResult {
  /** False: not enough data to judge (see `detail`). */
  judged: boolean;
  mismatch: boolean;
  n: number;
  observedShare: number;
  expectedShare: number;
  chi2: number;
  p: number;
  detail: string;
}

/** `canary`/`stable`: new visitors assigned by bucket to each role; `percent`: the canary's share 0–100. */
export function sampleRatio(canary: number, stable: number, percent: number): SampleRatioResult {
  const n = canary + stable;
  const expectedShare = percent / 100;
  const observedShare = n > 0 ? canary / n : 0;
  const base = { n, observedShare, expectedShare };
  if (n < MIN_SAMPLES) return notJudged(base, `${fmtInt(n)} of ${MIN_SAMPLES} new visitors`);
  if (expectedShare <= 0 || expectedShare >= 1) {
    const wrong = expectedShare <= 0 ? canary : stable;
    const mismatch = wrong > 0;
    return {
      ...base,
      judged: true,
      mismatch,
      chi2: mismatch ? Infinity : 0,
      p: mismatch ? 0 : 1,
      detail: mismatch ? explain(base) : okDetail(base),
    };
  }
  const eC = n * expectedShare;
  const eS = n - eC;
  if (Math.min(eC, eS) < MIN_EXPECTED_CELL) {
    const need = Math.ceil(MIN_EXPECTED_CELL / Math.min(expectedShare, 1 - expectedShare));
    return notJudged(
      base,
      `${fmtInt(n)} of ${fmtInt(need)} new visitors needed at ${formatConfiguredPercent(percent)}`,
    );
  }
  const chi2 = (canary - eC) ** 2 / eC + (stable - eS) ** 2 / eS;
  const p = chiSquare1Sf(chi2);
  const mismatch = p < P_THRESHOLD;
  return { ...base, judged: true, mismatch, chi2, p, detail: mismatch ? explain(base) : okDetail(base) };
}

function notJudged(
  base: { n: number; observedShare: number; expectedShare: number },
  progress: string,
): SampleRatioResult {
  return { ...base, judged: false, mismatch: false, chi2: 0, p: 1, detail: `${progress}: sample ratio not judged yet` };
}

function explain(x: { n: number; observedShare: number; expectedShare: number }): string {
  return `observed canary share ${formatPercent(x.observedShare)} of ${fmtInt(x.n)} new visitors vs ${formatConfiguredPercent(x.expectedShare * 100)} expected: stickiness or routing broken?`;
}

function okDetail(x: { n: number; observedShare: number; expectedShare: number }): string {
  return `canary share ${formatPercent(x.observedShare)} of ${fmtInt(x.n)} new visitors, ${formatConfiguredPercent(x.expectedShare * 100)} expected: consistent`;
}

const fmtInt = (n: number) => n.toLocaleString("en-US");

/** Upper tail of chi-square with 1 degree of freedom: P(X ≥ x) = erfc(√(x/2)). */
export function chiSquare1Sf(x: number): number {
  if (!(x > 0)) return 1;
  return erfc(Math.sqrt(x / 2));
}

/** Complementary error function, Chebyshev fit (Numerical Recipes `erfcc`): relative error < 1.2e-7 everywhere. */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
