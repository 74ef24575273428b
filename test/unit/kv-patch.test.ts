// The controller's read-modify-write of the operator's document, and when an operator's write wins.
import { describe, expect, it } from "vitest";
import { kvWriteAction, patchText } from "../../src/controller/kv-patch";

describe("patchText", () => {
  it("changes only the patched fields, keeps every other field and its order", () => {
    const operator = JSON.stringify({ release: "v2", percent: 20, salt: "keep-me", custom: { a: 1 } });
    const text = patchText(operator, { percent: 0, rolledBack: { at: "t", reason: "r" } });
    expect(Object.keys(JSON.parse(text))).toEqual(["release", "percent", "salt", "custom", "rolledBack"]);
    expect(JSON.parse(text)).toEqual({
      release: "v2",
      percent: 0,
      salt: "keep-me",
      custom: { a: 1 },
      rolledBack: { at: "t", reason: "r" },
    });
  });

  it("undefined in the patch removes the field (a promotion drops steps and release)", () => {
    const text = patchText(JSON.stringify({ steps: [10, 100], release: "v2", canary: "green" }), {
      canary: "blue",
      steps: undefined,
      release: undefined,
    });
    expect(JSON.parse(text)).toEqual({ canary: "blue" });
  });

  it("an unreadable or non-object base: the patch alone", () => {
    for (const base of [null, "", "{not json", "[1,2]", "42"])
      expect(JSON.parse(patchText(base, { percent: 0 }))).toEqual({ percent: 0 });
  });

  it("writes readable JSON (two-space indent), as an operator would", () => {
    expect(patchText("{}", { percent: 5 })).toBe('{\n  "percent": 5\n}');
  });
});

describe("kvWriteAction", () => {
  it("nothing to do when KV already holds the text", () => {
    expect(kvWriteAction("same", "same", false)).toBe("done");
  });
  it("writes over a version the controller knows (a stale read is no reason to hold back)", () => {
    expect(kvWriteAction("older", "mine", true)).toBe("write");
  });
  it("yields to a version it does not know: the operator wrote, and the operator wins", () => {
    expect(kvWriteAction("theirs", "mine", false)).toBe("yield");
    expect(kvWriteAction(null, "mine", false)).toBe("yield");
  });
});
