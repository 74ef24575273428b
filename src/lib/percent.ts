// How a percent is written for a person, everywhere (CLI, status page, event reasons, verdicts):
// a space before "%", as the README writes it. Three kinds of number, three rules, one module:
//
// | the number                                            | rule                      | examples                |
// |-------------------------------------------------------|---------------------------|-------------------------|
// | measured, or a threshold compared with a measurement: | fixed decimals (default   | "5.0 %", "0.0 %",       |
// | a share 0–1 (error rate, observed split, mismatches)  | 1), so a column lines up  | "7.06 %" (decimals 2)   |
// |                                                       | and 0.0 % reads as "seen" |                         |
// | set by a person: a percent 0–100 (split, plan step)   | as written: shortest form,| "5 %", "0.25 %",        |
// |                                                       | at most 2 decimals        | "29.99 %" (100 − 70.01) |
// | a difference of two measured shares (an experiment's  | signed, fixed decimals;   | "+2.1 points",          |
// | treatment − control), absolute or relative            | absolute in points, so it | "-0.4 points",          |
// |                                                       | is never read as a ratio  | "+12.0 %" (lift)        |
//
// Two decimals at most because the document keeps `percent` at 0.01 resolution; rounding there
// also hides float noise such as 100 − 70.01 = 29.989999999999995.
// Points, not "%", for an absolute difference: 10 % → 12 % is "+2.0 points" but a "+20.0 %" lift, and
// writing both with "%" is how the two get confused. A difference that rounds to zero keeps its sign
// ("+0.0": above zero by less than the last decimal), so an interval's bound shows which side of zero
// it is on, as the state it decides ("better" needs the whole interval above zero) does.
// The status page's browser script cannot import this: it mirrors the rules (`pct`, `setPct`,
// `signed`), and
// test/unit/percent.test.ts checks the page and this module give the same strings.

/** A share 0–1 as a percent with fixed decimals: formatPercent(0.05) → "5.0 %". */
export function formatPercent(share: number, decimals = 1): string {
  return `${(share * 100).toFixed(decimals)} %`;
}

/** A percent 0–100 as a person set it: formatConfiguredPercent(5) → "5 %", (0.25) → "0.25 %". */
export function formatConfiguredPercent(percent: number): string {
  return `${Number(percent.toFixed(2))} %`;
}

/** A difference of two shares in percentage points: formatPoints(0.021) → "+2.1 points". */
export function formatPoints(difference: number, decimals = 1): string {
  return `${signedPercent(difference, decimals)} points`;
}

/** A relative change as a signed percent: formatSignedPercent(0.12) → "+12.0 %". */
export function formatSignedPercent(change: number, decimals = 1): string {
  return `${signedPercent(change, decimals)} %`;
}

/** The number of either without its unit (an interval's bounds): signedPercent(-0.004) → "-0.4". */
export function signedPercent(share: number, decimals = 1): string {
  if (share === 0) return (0).toFixed(decimals);
  const s = Math.abs(share * 100).toFixed(decimals);
  return `${share > 0 ? "+" : "-"}${s}`;
}
