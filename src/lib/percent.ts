// How a percent is written for a person, everywhere (CLI, status page, event reasons, verdicts):
// a space before "%", as the README writes it. Two kinds of number, two rules, one module:
//
// | the number                                            | rule                      | examples                |
// |-------------------------------------------------------|---------------------------|-------------------------|
// | measured, or a threshold compared with a measurement: | fixed decimals (default   | "5.0 %", "0.0 %",       |
// | a share 0–1 (error rate, observed split, mismatches)  | 1), so a column lines up  | "7.06 %" (decimals 2)   |
// |                                                       | and 0.0 % reads as "seen" |                         |
// | set by a person: a percent 0–100 (split, plan step)   | as written: shortest form,| "5 %", "0.25 %",        |
// |                                                       | at most 2 decimals        | "29.99 %" (100 − 70.01) |
//
// Two decimals at most because the document keeps `percent` at 0.01 resolution; rounding there
// also hides float noise such as 100 − 70.01 = 29.989999999999995.
// The status page's browser script cannot import this: it mirrors both rules, and
// test/unit/percent.test.ts checks the page and this module give the same strings.

/** A share 0–1 as a percent with fixed decimals: formatPercent(0.05) → "5.0 %". */
export function formatPercent(share: number, decimals = 1): string {
  return `${(share * 100).toFixed(decimals)} %`;
}

/** A percent 0–100 as a person set it: formatConfiguredPercent(5) → "5 %", (0.25) → "0.25 %". */
export function formatConfiguredPercent(percent: number): string {
  return `${Number(percent.toFixed(2))} %`;
}
