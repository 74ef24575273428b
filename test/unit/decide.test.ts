import { describe, expect, it } from "vitest";
import { compileRouting, decide } from "../../src/routing/decide";
import { rolloutSchema, type RolloutInput } from "../../src/config/schema";
import type { RequestFacts } from "../../src/routing/targeting";
import { keysOf } from "./stats";

const compile = (d: RolloutInput) => compileRouting(rolloutSchema.parse(d), "fp", "kv");
const facts = (h: Record<string, string> = {}, country: string | null = null, colo: string | null = null): RequestFacts => ({ headers: new Headers(h), ip: h["cf-connecting-ip"] ?? null, country, colo });
const keys = keysOf("uuid", 5000);

describe("decide", () => {
  it("at percent 0 with no rules, no key reaches the canary", () => {
    const c = compile({ percent: 0 });
    for (const k of keys) expect(decide(c, k, null, facts()).role).toBe("stable");
  });

  it("at percent 100 every key reaches the canary, by bucket", () => {
    const c = compile({ percent: 100, canary: "blue" });
    for (const k of keys.slice(0, 500)) expect(decide(c, k, null, null)).toMatchObject({ slot: "blue", role: "canary", reason: "bucket" });
  });

  it("routes by bucket < threshold and reports the bucket", () => {
    const c = compile({ percent: 30, release: "r1" });
    let canary = 0;
    for (const k of keys) {
      const d = decide(c, k, null, null);
      expect(d.reason).toBe("bucket");
      expect(d.role === "canary").toBe(d.bucket < 3000);
      expect(d.slot).toBe(d.role === "canary" ? "green" : "blue");
      if (d.role === "canary") canary++;
    }
    expect(canary / keys.length).toBeGreaterThan(0.27);
    expect(canary / keys.length).toBeLessThan(0.33);
  });

  it("rolledBack wins over everything, overrides included", () => {
    const c = compile({ percent: 100, rolledBack: { at: "2026-01-01T00:00:00Z", reason: "error rate" } });
    for (const target of ["canary", "green"] as const) {
      expect(decide(c, "k", { target, exp: 2e9 }, facts())).toMatchObject({ slot: "blue", role: "stable", reason: "rolled-back" });
    }
    expect(decide(c, "k", null, null).reason).toBe("rolled-back");
  });

  it("a valid override picks its target, by role or by slot, at percent 0", () => {
    const c = compile({ percent: 0 });
    expect(decide(c, "k", { target: "canary", exp: 2e9 }, null)).toMatchObject({ slot: "green", role: "canary", reason: "override" });
    expect(decide(c, "k", { target: "blue", exp: 2e9 }, null)).toMatchObject({ slot: "blue", role: "stable", reason: "override" });
    const full = compile({ percent: 100 });
    expect(decide(full, "k", { target: "stable", exp: 2e9 }, null)).toMatchObject({ slot: "blue", role: "stable", reason: "override" });
  });

  it("compiles the salt once: release changes the population, salt pins it", () => {
    const a = compile({ percent: 50, release: "a" });
    const b = compile({ percent: 50, release: "b" });
    const pinnedA = compile({ percent: 50, release: "a", salt: "fixed" });
    const pinnedB = compile({ percent: 50, release: "b", salt: "fixed" });
    let differ = 0;
    for (const k of keys.slice(0, 1000)) {
      if (decide(a, k, null, null).bucket !== decide(b, k, null, null).bucket) differ++;
      expect(decide(pinnedA, k, null, null).bucket).toBe(decide(pinnedB, k, null, null).bucket);
    }
    expect(differ).toBeGreaterThan(990);
  });
});
