// Feature flags: the `flags` document's validation (errors that name the field and the fix) and
// evaluation at the edge (src/flags/evaluate.ts): order, sticky and monotone rollout, independent
// buckets per flag, and the origin header.
import { describe, expect, it } from "vitest";
import { parseFlags } from "../../src/model/parse";
import { FLAG_LIMITS, flagsDocumentSchema } from "../../src/model/flags";
import { compileFlags, evaluateFlag, originFlagsHeader, rangesOf, type CompiledFlags } from "../../src/flags/evaluate";
import type { RequestFacts } from "../../src/routing/targeting";

const compile = (flags: Record<string, unknown>): CompiledFlags => {
  const r = parseFlags(JSON.stringify({ flags }));
  if (!r.ok) throw new Error(r.summary);
  return compileFlags(r.doc, r.fingerprint);
};
const problems = (flags: unknown) => {
  const r = parseFlags(JSON.stringify({ flags }));
  if (r.ok) throw new Error("expected problems");
  return r.problems;
};
const facts = (headers: Record<string, string> = {}, f: Partial<RequestFacts> = {}): RequestFacts => ({
  headers: new Headers(headers),
  ip: f.ip ?? null,
  country: f.country ?? null,
  colo: f.colo ?? null,
});
const eval1 = (c: CompiledFlags, flag: string, key: string, f: RequestFacts | null = null, o = null) =>
  evaluateFlag(c.byKey.get(flag)!, key, f, o);
const visitors = (n: number) => Array.from({ length: n }, (_, i) => `visitor-${i}`);

describe("the flags document", () => {
  it("a missing key is no flags, and a boolean flag needs only its rollout", () => {
    expect(parseFlags(null)).toMatchObject({ ok: true, doc: { flags: {} }, fingerprint: "none" });
    const c = compile({ "new-checkout": { rollout: { percent: 10 } } });
    const f = c.byKey.get("new-checkout")!;
    expect(f.flag.variations).toEqual({ off: false, on: true });
    expect([f.off, f.fallback, f.type]).toEqual(["off", "off", "boolean"]);
    expect(f.flag.on).toBe(true);
    expect([f.flag.origin, f.flag.browser]).toEqual([true, false]);
  });

  it.each([
    [{ "bad key!": {} }, "flags.bad key!", "a flag's key must be 1–64 letters"],
    [{ f: { on: "yes" } }, "flags.f.on", "on must be true or false"],
    [{ f: { variations: { a: 1, b: "x" }, off: "a" } }, "flags.f.variations", "must all be of one type"],
    [{ f: { variations: { a: null }, off: "a" } }, "flags.f.variations.a", "not null"],
    [{ f: { variations: { a: "x", b: "y" } } }, "flags.f.off", 'e.g. "off": "a"'],
    [{ f: { off: "nope" } }, "flags.f.off", 'off "nope" is not one of this flag\'s variations (off, on)'],
    [{ f: { rules: [{ variation: "maybe", country: ["NZ"] }] } }, "flags.f.rules.0.variation", '"maybe"'],
    [{ f: { rules: [{ variation: "on" }] } }, "flags.f.rules.0", "at least one of header, cidr, country, colo"],
    [{ f: { rollout: { percent: 150 } } }, "flags.f.rollout.percent", "at most 100"],
    [
      { f: { variations: { a: "x", b: "y", c: "z" }, default: "a", rollout: { percent: 5 } } },
      "flags.f.rollout.split",
      '"split": {"b": 50, "c": 50}',
    ],
    [{ f: { rollout: { percent: 5, split: { on: 0 } } } }, "flags.f.rollout.split.on", "above 0"],
    [{ f: { rollot: {} } }, "flags.f", 'did you mean "rollout"'],
    [{ f: { variations: { a: "x".repeat(1025) }, off: "a" } }, "flags.f.variations.a", "at most 1024 characters"],
  ])("%j: %s says %s", (flags, path, message) => {
    const p = problems(flags);
    expect(p.map((x) => x.path)).toContain(path);
    expect(p.find((x) => x.path === path)!.message).toContain(message);
  });

  it("refuses more flags than the limit, and a header the origin could not take", () => {
    const many = Object.fromEntries(Array.from({ length: FLAG_LIMITS.flags + 1 }, (_, i) => [`f${i}`, {}]));
    expect(problems(many)[0].message).toContain(`at most ${FLAG_LIMITS.flags} flags`);
    const big = { blob: "x".repeat(3000) };
    const heavy = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [`j${i}`, { variations: { a: big, b: { ...big, y: 1 } }, off: "a" }]),
    );
    expect(problems(heavy)[0].message).toContain('set "origin": false');
    const hidden = Object.fromEntries(Object.entries(heavy).map(([k, f]) => [k, { ...f, origin: false }]));
    expect(flagsDocumentSchema.safeParse({ flags: hidden }).success).toBe(true);
  });

  it("a document that is not JSON or not an object says so with an example", () => {
    const r = parseFlags("{flags:");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.summary).toContain("not valid JSON");
    const a = parseFlags("[]");
    if (!a.ok) expect(a.summary).toContain('{"flags": {"new-checkout"');
  });
});

describe("evaluation", () => {
  it("off serves the off variation to everyone, before overrides and rules", () => {
    const c = compile({ f: { on: false, rollout: { percent: 100 }, rules: [{ variation: "on", country: ["NZ"] }] } });
    expect(eval1(c, "f", "v", facts({}, { country: "NZ" }))).toEqual({
      key: "f",
      variation: "off",
      value: false,
      reason: "DISABLED",
    });
  });

  it("a rule wins over the rollout; the first matching rule wins", () => {
    const c = compile({
      theme: {
        variations: { light: "light", dark: "dark", blue: "blue" },
        default: "light",
        rollout: { percent: 100, split: { blue: 1 } },
        rules: [
          { name: "staff", variation: "dark", header: { name: "X-Staff", values: ["1"] } },
          { variation: "light", country: ["NZ"] },
        ],
      },
    });
    expect(eval1(c, "theme", "v", facts({ "x-staff": "1" }, { country: "NZ" }))).toMatchObject({
      variation: "dark",
      reason: "TARGETING_MATCH",
    });
    expect(eval1(c, "theme", "v", facts({}, { country: "NZ" }))).toMatchObject({ variation: "light" });
    expect(eval1(c, "theme", "v", facts())).toMatchObject({ variation: "blue", value: "blue", reason: "SPLIT" });
  });

  it("an override names a variation of the flag; unknown names and other flags are ignored", () => {
    const c = compile({ f: {}, g: {} });
    expect(eval1(c, "f", "v", null, { f: "on" } as never)).toMatchObject({
      variation: "on",
      reason: "TARGETING_MATCH",
    });
    expect(eval1(c, "f", "v", null, { f: "constructor" } as never)).toMatchObject({ variation: "off" });
    expect(eval1(c, "g", "v", null, { f: "on" } as never)).toMatchObject({ variation: "off", reason: "STATIC" });
  });

  it("nothing decides: the default, STATIC without rules or rollout, DEFAULT outside the rollout", () => {
    const c = compile({ s: { default: "on" }, r: { rollout: { percent: 0 } }, q: { rollout: { percent: 1 } } });
    expect(eval1(c, "s", "v")).toMatchObject({ variation: "on", reason: "STATIC" });
    expect(eval1(c, "r", "v")).toMatchObject({ variation: "off", reason: "STATIC" });
    const outside = visitors(200)
      .map((k) => eval1(c, "q", k))
      .find((e) => e.variation === "off");
    expect(outside).toMatchObject({ reason: "DEFAULT" });
  });

  it("the rollout's share is the percent, sticky per visitor", () => {
    const c = compile({ f: { rollout: { percent: 25 } } });
    const on = visitors(20_000).filter((k) => eval1(c, "f", k).value === true).length;
    expect(on / 20_000).toBeGreaterThan(0.235);
    expect(on / 20_000).toBeLessThan(0.265);
    for (const k of visitors(50)) expect(eval1(c, "f", k)).toEqual(eval1(c, "f", k));
  });

  it("raising the percent never takes a variation from anyone who had it, for every variation of a split", () => {
    const at = (percent: number) =>
      compile({
        exp: {
          variations: { control: "c", a: "a", b: "b" },
          default: "control",
          rollout: { percent, split: { a: 1, b: 3 } },
        },
      });
    const steps = [1, 5, 20, 50, 100].map(at);
    for (const k of visitors(5000)) {
      let had: string | null = null;
      for (const c of steps) {
        const v = eval1(c, "exp", k).variation;
        if (had !== null) expect(v).toBe(had);
        if (v !== "control") had = v;
      }
    }
    // The weights hold at every step: b is three times a.
    const counts = { a: 0, b: 0 };
    for (const k of visitors(20_000)) {
      const v = eval1(steps[3], "exp", k).variation;
      if (v !== "control") counts[v as "a" | "b"]++;
    }
    expect(counts.b / counts.a).toBeGreaterThan(2.6);
    expect(counts.b / counts.a).toBeLessThan(3.4);
  });

  it("ranges: each variation's stretch is in use from its start, at percent 100 the whole space", () => {
    expect(
      rangesOf(100, [
        ["a", 1],
        ["b", 1],
      ]),
    ).toEqual([
      { variation: "a", start: 0, end: 5000 },
      { variation: "b", start: 5000, end: 10000 },
    ]);
    expect(
      rangesOf(10, [
        ["a", 1],
        ["b", 1],
      ]),
    ).toEqual([
      { variation: "a", start: 0, end: 500 },
      { variation: "b", start: 5000, end: 5500 },
    ]);
    expect(rangesOf(0, [["a", 1]])).toEqual([]);
  });

  it("one flag's bucket says nothing about another's (per-flag salt)", () => {
    const c = compile({ x: { rollout: { percent: 50 } }, y: { rollout: { percent: 50 } } });
    let both = 0;
    const n = 20_000;
    for (const k of visitors(n)) if (eval1(c, "x", k).value && eval1(c, "y", k).value) both++;
    // Independent halves overlap on a quarter.
    expect(both / n).toBeGreaterThan(0.235);
    expect(both / n).toBeLessThan(0.265);
    // The same salt makes two flags agree, which is what `salt` is for.
    const s = compile({ x: { salt: "s", rollout: { percent: 50 } }, y: { salt: "s", rollout: { percent: 50 } } });
    for (const k of visitors(500)) expect(eval1(s, "x", k).value).toBe(eval1(s, "y", k).value);
  });
});

describe("the origin header", () => {
  it("one JSON object of the flags sent to the origin, ASCII only", () => {
    const c = compile({
      a: { default: "on" },
      theme: { variations: { x: "crème ☕" }, off: "x" },
      limits: { variations: { small: { n: 1 } }, off: "small" },
      secret: { origin: false },
    });
    const h = originFlagsHeader(c, "v", null, null)!;
    expect(h).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(h)).toEqual({ a: true, theme: "crème ☕", limits: { n: 1 } });
    // A valid header value as the runtime takes it.
    expect(new Headers({ "x-edgeshift-flags": h }).get("x-edgeshift-flags")).toBe(h);
  });

  it("no flags for the origin, no header", () => {
    expect(originFlagsHeader(compile({}), "v", null, null)).toBeNull();
    expect(originFlagsHeader(compile({ s: { origin: false } }), "v", null, null)).toBeNull();
  });
});
