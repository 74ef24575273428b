// "Did you mean …?" (src/lib/closest.ts): a guess only where one word is plausibly meant.
import { describe, expect, it } from "vitest";
import { closest } from "../../src/lib/closest";

describe("closest", () => {
  it("an adjacent transposition is one typo", () => {
    expect(closest("precent", ["percent", "canary", "steps"])).toBe("percent");
    expect(closest("stauts", ["status", "start", "set"])).toBe("status");
  });

  it("no guess when two are as near: 'of' could be on or off", () => {
    expect(closest("of", ["on", "off", "set"])).toBeUndefined();
    expect(closest("of", ["off", "set"])).toBe("off");
  });

  it("no guess when nothing is near, whatever the case", () => {
    expect(closest("deploy", ["status", "set", "start"])).toBeUndefined();
    expect(closest("RELASE", ["release"])).toBe("release");
  });
});
