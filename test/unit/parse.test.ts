import { describe, expect, it } from "vitest";
import { parseRollout } from "../../src/model/parse";
import { ALL_STABLE } from "../../src/model/rollout";

describe("parseRollout", () => {
  it("a missing key is valid: everyone on stable", () => {
    expect(parseRollout(null)).toEqual({ ok: true, doc: ALL_STABLE, fingerprint: "none" });
  });

  it("fingerprints the exact text: same text same id, any edit a new id", () => {
    const a = parseRollout('{"percent": 5}');
    const b = parseRollout('{"percent": 5}');
    const c = parseRollout('{"percent":5}');
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
  });

  it("reports a typo with a suggestion, naming the field", () => {
    const r = parseRollout('{"precent": 5}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.summary).toContain('unknown field "precent" (did you mean "percent"?)');
  });

  it("names field, value and the fix for out-of-range and mistyped values", () => {
    const r = parseRollout('{"percent": 150, "canary": "red", "rollback": {"maxErrorRate": 2}}');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.problems.map((p) => [p.path, p.message]));
    expect(byPath.percent).toMatch(/at most 100.*got 150/);
    expect(byPath.canary).toMatch(/"green" or "blue".*got "red"/);
    expect(byPath["rollback.maxErrorRate"]).toContain("got 2");
  });

  it("explains bad JSON and non-objects", () => {
    const bad = parseRollout("{percent: 5}");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.summary).toMatch(/not valid JSON/);
    const arr = parseRollout("[1]");
    if (!arr.ok) expect(arr.summary).toMatch(/must be a JSON object.*got an array/);
    expect(arr.ok).toBe(false);
  });

  it("reports unknown fields inside nested objects with the nested path", () => {
    const r = parseRollout('{"rollback": {"maxErrorRat": 0.1}}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.summary).toContain('rollback: unknown field "maxErrorRat" (did you mean "maxErrorRate"?)');
  });
});
