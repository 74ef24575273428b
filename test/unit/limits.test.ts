// The document's bounds (src/model/limits.ts, the list and label limits in src/model/rollout.ts):
// regression tests for issue 9, where an unbounded document overflowed the controller's storage
// and a CR/LF release silently took the canary's traffic away.
import { describe, expect, it } from "vitest";
import { parseRollout, MAX_PROBLEMS } from "../../src/model/parse";
import { LIST_LIMITS } from "../../src/model/rollout";
import { MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_TEXT_BYTES, nestingDepth } from "../../src/model/limits";
import { utf8Bytes } from "../../src/lib/utf8";
import { patchText } from "../../src/controller/kv-patch";
import { largestDocument } from "../worker/largest-document";
import { explainValue } from "../../src/proxy/explain";
import { upstreamHeaders } from "../../src/proxy/headers";

const problems = (doc: unknown) => {
  const r = parseRollout(typeof doc === "string" ? doc : JSON.stringify(doc));
  return r.ok ? [] : r.problems;
};
const ids = (n: number, width = 8) => Array.from({ length: n }, (_, i) => `u${String(i).padStart(width, "0")}`);

/** 20,000 empty header values: valid compact (~61 KB), past the text limit when indented (~5×). */
function manyShortValues() {
  return { rules: Array.from({ length: 20 }, () => ({ header: { name: "x", values: Array(1000).fill("") } })) };
}

describe("document size", () => {
  it("rejects the 1.2 MB / 75k-value document of issue 9, naming the list, its size and the limit", () => {
    const doc = { release: "v2", percent: 10, rules: [{ header: { name: "x-user-id", values: ids(75_000, 10) } }] };
    expect(JSON.stringify(doc).length).toBeGreaterThan(1_000_000);
    const [p, ...rest] = problems(doc);
    expect(rest).toEqual([]);
    expect(p.path).toBe("rules.0.header.values");
    expect(p.message).toMatch(/compact JSON .* at most 64 KiB/);
    expect(p.message).toMatch(/rules\.0\.header\.values holds 1\.\d MiB of it \(75000 entries\)/);
    expect(p.message).toMatch(/target a group header/);
  });

  it("accepts a document at the limit, one byte more is rejected; percent, canary and rolledBack do not count", () => {
    const doc = largestDocument();
    const content = utf8Bytes(JSON.stringify({ ...doc, percent: undefined }));
    expect(content).toBeGreaterThan(MAX_DOCUMENT_BYTES - 100);
    expect(problems(doc)).toEqual([]);
    expect(problems({ ...doc, canary: "blue", rolledBack: { at: "t", reason: "r".repeat(10_000) } })).toEqual([]);
    expect(problems({ ...doc, release: "v2" + "x".repeat(100) })[0].message).toMatch(/at most 64 KiB/);
  });

  it("counts UTF-8 bytes (what KV and SQLite count), not characters", () => {
    expect(utf8Bytes("aé€😀")).toBe(1 + 2 + 3 + 4);
    expect(utf8Bytes("\ud800")).toBe(3);
  });

  it("limits the text with its whitespace, and rolledBack on its own", () => {
    const indented = JSON.stringify(manyShortValues(), null, 2);
    expect(utf8Bytes(indented)).toBeGreaterThan(MAX_TEXT_BYTES);
    expect(problems(indented)[0].message).toMatch(/with its whitespace; at most 256 KiB: indent less/);
    const rb = problems({ rolledBack: { at: "t", reason: "r", figures: { x: "y".repeat(20_000) } } });
    expect(rb).toEqual([{ path: "rolledBack", message: expect.stringMatching(/at most 16 KiB/) }]);
  });

  it("the controller's rewrite of the largest document stays valid: indented when it fits, else compact", () => {
    const doc = largestDocument();
    const text = patchText(JSON.stringify(doc), {
      percent: 0,
      rolledBack: {
        at: new Date().toISOString(),
        reason: "canary failing",
        release: "v2",
        figures: { tripped: ["error-rate"] },
      },
    });
    const r = parseRollout(text);
    expect(r.ok).toBe(true);
    const many = manyShortValues();
    expect(problems(many)).toEqual([]);
    const patched = patchText(JSON.stringify(many), { percent: 0, rolledBack: { at: "t", reason: "r" } });
    expect(patched.includes("\n")).toBe(false);
    expect(parseRollout(patched).ok).toBe(true);
  });
});

describe("nesting depth", () => {
  it("rejects a 100k-deep array before JSON.parse, without recursion anywhere", () => {
    const deep = `{"rolledBack":{"at":"t","reason":"r","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
    const [p] = problems(deep);
    expect(p.message).toMatch(/nest more than 32 deep/);
    // An unclosed one too: the scan stops at the first level past the limit.
    expect(problems("[".repeat(1_000_000))[0].message).toMatch(/nest more than 32 deep/);
  });

  it("counts brackets outside strings only", () => {
    expect(nestingDepth('{"a":"[[[[{{{{\\"[["}', MAX_DEPTH)).toBe(1);
    expect(nestingDepth('{"a":[[{"b":[]}]]}', MAX_DEPTH)).toBe(5);
    const atLimit = "[".repeat(MAX_DEPTH - 3) + "]".repeat(MAX_DEPTH - 3);
    expect(problems(`{"rolledBack":{"at":"t","reason":"r","x":${atLimit}}}`)).toEqual([]);
  });
});

describe("list and string lengths", () => {
  const rule = (over: Record<string, unknown>) => ({ rules: [{ ...over }] });
  it.each([
    [
      "rules.0.header.values",
      rule({ header: { name: "x", values: ids(LIST_LIMITS.headerValues + 1, 0) } }),
      /at most 1000 entries.*\(got an array of 1001\)/,
    ],
    ["rules.0.cidr", rule({ cidr: Array(LIST_LIMITS.cidr + 1).fill("10.0.0.1") }), /cidr may hold at most 1000/],
    ["rules.0.country", rule({ country: Array(LIST_LIMITS.countries + 1).fill("NZ") }), /at most 300/],
    ["locations.colos", { locations: { colos: Array(LIST_LIMITS.colos + 1).fill("AKL") } }, /at most 500/],
    [
      "shadow.compareHeaders",
      { shadow: { compareHeaders: Array(LIST_LIMITS.compareHeaders + 1).fill("etag") } },
      /at most 32/,
    ],
    ["rules", { rules: Array(LIST_LIMITS.rules + 1).fill({ country: ["NZ"] }) }, /at most 50/],
    ["rules.0.header.values.0", rule({ header: { name: "x", values: ["v".repeat(1025)] } }), /at most 1024 characters/],
    ["rules.0.cidr.0", rule({ cidr: ["1".repeat(65)] }), /at most 64 characters/],
  ])("%s is bounded, and the message names the limit", (path, doc, message) => {
    const p = problems(doc).find((x) => x.path === path);
    expect(p?.message).toMatch(message);
  });

  it("reports at most MAX_PROBLEMS problems, then how many more", () => {
    const ps = problems({ rules: [{ country: Array(200).fill("N") }] });
    expect(ps).toHaveLength(MAX_PROBLEMS + 1);
    expect(ps[MAX_PROBLEMS].message).toBe(`and ${200 - MAX_PROBLEMS} more problems: fix these first`);
  });

  it("clips long unknown field names in messages", () => {
    const [p] = problems({ ["k".repeat(5000)]: 1 });
    expect(p.message.length).toBeLessThan(300);
  });
});

describe("header-safe labels", () => {
  it.each([
    ["release", { release: "v2\r\nx-injected: 1" }],
    ["release", { release: "v2\n" }],
    ["release", { release: "v2\u0000" }],
    ["release", { release: "v2\ttab" }],
    ["release", { release: "vé" }],
    ["release", { release: " v2" }],
    ["release", { release: "" }],
    ["salt", { salt: "s\r\n" }],
    ["salt", { salt: "日本" }],
    ["rules.0.name", { rules: [{ name: "beta\r\n", country: ["NZ"] }] }],
  ])("%s: %j is a validation error naming the field and the fix", (path, doc) => {
    const p = problems(doc).find((x) => x.path === path);
    expect(p?.message).toMatch(/visible ASCII characters .* line breaks, tabs and non-ASCII are not allowed/);
  });

  it("accepts visible ASCII with inner spaces, and the empty salt", () => {
    expect(
      problems({ release: "v2.3.1+build/7 (hotfix)", salt: "", rules: [{ name: "beta testers", country: ["NZ"] }] }),
    ).toEqual([]);
    expect(problems({ salt: "checkout-2026" })).toEqual([]);
  });

  it("every label the schema accepts can be set as a header value", () => {
    for (let c = 0x20; c < 0x7f; c++) {
      const release = `a${String.fromCharCode(c)}b`;
      expect(problems({ release })).toEqual([]);
      expect(() => new Headers().set("x-edgeshift-release", release)).not.toThrow();
    }
  });
});

describe("a text far past the limits", () => {
  it("is refused on its length alone, without parsing (KV would take 25 MiB)", () => {
    const huge = `{"rules":[{"header":{"name":"x","values":["${"v".repeat(5 * 1024 * 1024)}"]}}]}`;
    const [p, ...rest] = problems(huge);
    expect(rest).toEqual([]);
    expect(p.message).toMatch(
      /^the text is 5\.0 MiB; a document may be at most 64 KiB as compact JSON \(256 KiB with whitespace\)/,
    );
  });
});

describe("document strings in headers", () => {
  it("every accepted label, at its longest and with every visible ASCII character, fits x-edgeshift-release and the explain header", () => {
    const visible = Array.from({ length: 0x7e - 0x20 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
    const release = (visible + " " + visible).slice(0, 128);
    const name = visible.slice(0, 30) + " " + visible.slice(30, 63);
    const r = parseRollout(JSON.stringify({ release, salt: release, rules: [{ name, country: ["NZ"] }] }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const h = upstreamHeaders(new Headers(), "https://app.example/", {
      slot: "green",
      role: "canary",
      release: r.doc.release,
    });
    expect(h.get("x-edgeshift-release")).toBe(release);
    const value = explainValue({
      decision: { slot: "green", role: "canary", reason: "rule", bucket: 1, rule: r.doc.rules[0].name! },
      threshold: 100,
      release: r.doc.release,
      source: "kv",
      failover: null,
      answeredBy: "green",
    });
    expect(() => new Headers().set("x-edgeshift-explain", value)).not.toThrow();
  });
});
