import { describe, expect, it } from "vitest";
import { statusPageHtml } from "../../src/admin/page";
import {
  formatConfiguredPercent,
  formatPercent,
  formatPoints,
  formatSignedPercent,
  signedPercent,
} from "../../src/lib/percent";

describe("formatPercent: a measured share, fixed decimals", () => {
  it("writes a space before % and keeps the decimals, so 0.0 % still reads as measured", () => {
    expect(formatPercent(0.05)).toBe("5.0 %");
    expect(formatPercent(0)).toBe("0.0 %");
    expect(formatPercent(1)).toBe("100.0 %");
    expect(formatPercent(0.0706, 2)).toBe("7.06 %");
    expect(formatPercent(0.123, 0)).toBe("12 %");
  });
});

describe("formatConfiguredPercent: a percent a person set, as written", () => {
  it("drops trailing zeros and keeps the document's 0.01 resolution", () => {
    expect(formatConfiguredPercent(5)).toBe("5 %");
    expect(formatConfiguredPercent(0)).toBe("0 %");
    expect(formatConfiguredPercent(0.25)).toBe("0.25 %");
    expect(formatConfiguredPercent(12.5)).toBe("12.5 %");
  });

  it("hides float noise in the stable side's complement", () => {
    expect(100 - 70.01).not.toBe(29.99);
    expect(formatConfiguredPercent(100 - 70.01)).toBe("29.99 %");
  });
});

describe("a difference of two shares: signed, in points when absolute", () => {
  it("writes the sign, so a reader never takes a drop for a rise", () => {
    expect(formatPoints(0.021)).toBe("+2.1 points");
    expect(formatPoints(-0.004)).toBe("-0.4 points");
    expect(formatSignedPercent(0.12)).toBe("+12.0 %");
    expect(formatSignedPercent(-1)).toBe("-100.0 %");
  });

  it("a bound that rounds to zero keeps the side of zero it is on; only exactly 0 has no sign", () => {
    expect(signedPercent(0.0004)).toBe("+0.0");
    expect(signedPercent(-0.0004)).toBe("-0.0");
    expect(signedPercent(0)).toBe("0.0");
    expect(formatPoints(0, 2)).toBe("0.00 points");
  });
});

describe("the status page's browser script formats percents like src/lib/percent.ts", () => {
  // The page's script is a string served to the browser; take its one-line helpers from the
  // served HTML and run them here.
  const html = statusPageHtml();
  const helper = (name: string): ((...a: (number | string)[]) => string) => {
    const m = new RegExp(`^const ${name} = (.+);$`, "m").exec(html);
    if (!m) throw new Error(`the status page no longer defines \`const ${name} = …;\` on one line`);
    return new Function(`return ${m[1]};`)() as (...a: (number | string)[]) => string;
  };
  const pagePct = helper("pct");
  const pageSetPct = helper("setPct");
  const pageSigned = helper("signed");

  it.each([0, 0.00049, 0.05, 0.0706, 0.1234, 0.5, 1])("share %s", (share) => {
    for (const d of [0, 1, 2]) expect(pagePct(share, d)).toBe(formatPercent(share, d));
    expect(pagePct(share)).toBe(formatPercent(share));
  });

  it.each([0, 0.01, 0.25, 5, 12.5, 100 - 70.01, 100])("set percent %s", (p) => {
    expect(pageSetPct(p)).toBe(formatConfiguredPercent(p));
  });

  it.each([0, 0.00049, -0.00049, 0.021, -0.004, 0.3061, -1, 3.06])("difference %s", (share) => {
    for (const d of [0, 1, 2]) {
      expect(pageSigned(share, d)).toBe(formatPoints(share, d));
      expect(pageSigned(share, d, "%")).toBe(formatSignedPercent(share, d));
    }
    expect(pageSigned(share)).toBe(formatPoints(share));
  });
});
