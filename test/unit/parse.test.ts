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

  const problemsOf = (doc: unknown) => {
    const r = parseRollout(JSON.stringify(doc));
    if (r.ok) throw new Error(`expected ${JSON.stringify(doc)} to be invalid`);
    return Object.fromEntries(r.problems.map((p) => [p.path, p.message]));
  };

  it("share fields say they are 0–1, and turn a percent given by mistake into the share to write", () => {
    expect(problemsOf({ rollback: { maxErrorRate: 5 } })["rollback.maxErrorRate"]).toBe(
      "maxErrorRate must be a share 0–1: 0.05 means 5 %, so 5 % is 0.05 (got 5)",
    );
    expect(problemsOf({ rollback: { maxShadowMismatchRate: 20 } })["rollback.maxShadowMismatchRate"]).toContain(
      "so 20 % is 0.2 (got 20)",
    );
    expect(problemsOf({ rollback: { relative: { minDelta: -0.1 } } })["rollback.relative.minDelta"]).toBe(
      "minDelta must be a share 0–1: 0.05 means 5 % (got -0.1)",
    );
    expect(problemsOf({ rollback: { maxErrorRate: "5%" } })["rollback.maxErrorRate"]).toMatch(/share 0–1.*got "5%"/);
  });

  it("seconds fields give the whole-seconds range and an example, whichever way the value misses", () => {
    for (const bad of [1, 7200, 30.5, "60"])
      expect(problemsOf({ rollback: { windowSeconds: bad } })["rollback.windowSeconds"]).toMatch(
        /^windowSeconds must be whole seconds, 5–3600, e\.g\. 60 \(got /,
      );
    expect(problemsOf({ stepSeconds: 0 }).stepSeconds).toBe(
      "stepSeconds must be whole seconds, 1–2592000 (30 days), e.g. 300 (got 0)",
    );
    expect(problemsOf({ steps: [1, { percent: 50, seconds: 1.5 }] })["steps.1.seconds"]).toMatch(
      /whole seconds, 1–2592000 \(30 days\).*got 1\.5/,
    );
  });

  it("a problem inside a `false | {…}` field is reported at its own path, not as the whole object", () => {
    expect(problemsOf({ rollback: { latency: { percentile: 80 } } })).toEqual({
      "rollback.latency.percentile": "percentile must be 50, 90, 95 or 99 (got 80)",
    });
    expect(problemsOf({ rollback: { minRequests: 1.5 } })["rollback.minRequests"]).toMatch(/whole number.*got 1\.5/);
    // A value that fits no branch gets the field's own sentence listing the forms it takes.
    expect(problemsOf({ rollback: true }).rollback).toBe(
      'rollback must be false (no automatic rollback) or an object such as {"maxErrorRate": 0.05} (got true)',
    );
    expect(problemsOf({ timeoutMs: "fast" }).timeoutMs).toMatch(/whole milliseconds 100–120000, or one per slot/);
  });

  it("fields without a message of their own keep zod's English wording (zod/mini ships none by default)", () => {
    expect(problemsOf({ attempt: -1 }).attempt).toBe("Too small: expected number to be >=0 (got -1)");
    expect(problemsOf({ autoPromote: "yes" }).autoPromote).toBe(
      'Invalid input: expected boolean, received string (got "yes")',
    );
  });
  it("a __proto__ or constructor key pollutes nothing: refused where fields are known, dropped where they are free", () => {
    expect(problemsOf(JSON.parse('{"__proto__":{"percent":100}}'))[""]).toMatch(/unknown field "__proto__"/);
    expect(problemsOf(JSON.parse('{"constructor":{"prototype":{"percent":100}}}'))[""]).toMatch(
      /unknown field "constructor"/,
    );
    const r = parseRollout(
      '{"rolledBack":{"at":"t","reason":"r","__proto__":{"polluted":1},"figures":{"__proto__":{"polluted":2}}}}',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const figures = r.doc.rolledBack!.figures!;
    expect(Object.getPrototypeOf(figures)).toBe(Object.prototype);
    expect((figures as Record<string, unknown>).polluted).toBeUndefined();
    expect((r.doc.rolledBack as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
