import { describe, expect, it } from "vitest";
import { compileRouting, decide } from "../../src/routing/decide";
import { rolloutSchema, type RolloutInput } from "../../src/model/rollout";
import type { RequestFacts } from "../../src/routing/targeting";
import { keysOf } from "./stats";

const compile = (d: RolloutInput) => compileRouting(rolloutSchema.parse(d), "fp", "kv");
const facts = (
  h: Record<string, string> = {},
  country: string | null = null,
  colo: string | null = null,
): RequestFacts => ({ headers: new Headers(h), ip: h["cf-connecting-ip"] ?? null, country, colo });
const keys = keysOf("uuid", 5000);

describe("decide", () => {
  it("at percent 0 with no rules, no key reaches the canary", () => {
    const c = compile({ percent: 0 });
    for (const k of keys) expect(decide(c, k, null, facts()).role).toBe("stable");
  });

  it("at percent 100 every key reaches the canary, by bucket", () => {
    const c = compile({ percent: 100, canary: "blue" });
    for (const k of keys.slice(0, 500))
      expect(decide(c, k, null, null)).toMatchObject({ slot: "blue", role: "canary", reason: "bucket" });
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
      expect(decide(c, "k", { target, exp: 2e9 }, facts())).toMatchObject({
        slot: "blue",
        role: "stable",
        reason: "rolled-back",
      });
    }
    expect(decide(c, "k", null, null).reason).toBe("rolled-back");
  });

  it("a valid override picks its target, by role or by slot, at percent 0", () => {
    const c = compile({ percent: 0 });
    expect(decide(c, "k", { target: "canary", exp: 2e9 }, null)).toMatchObject({
      slot: "green",
      role: "canary",
      reason: "override",
    });
    expect(decide(c, "k", { target: "blue", exp: 2e9 }, null)).toMatchObject({
      slot: "blue",
      role: "stable",
      reason: "override",
    });
    const full = compile({ percent: 100 });
    expect(decide(full, "k", { target: "stable", exp: 2e9 }, null)).toMatchObject({
      slot: "blue",
      role: "stable",
      reason: "override",
    });
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

describe("decide with targeting (order: rolled-back ▸ override ▸ rule ▸ location ▸ bucket)", () => {
  const doc = {
    percent: 0,
    rules: [
      { name: "staff", header: { name: "x-employee", values: ["yes"] } },
      { name: "partner-stable", slot: "stable" as const, cidr: ["203.0.113.0/24"] },
    ],
  };

  it("the first matching rule sends its requests to its role at percent 0", () => {
    const c = compile(doc);
    expect(decide(c, "k", null, facts({ "x-employee": "yes" }))).toMatchObject({
      slot: "green",
      role: "canary",
      reason: "rule",
      rule: "staff",
    });
    expect(decide(c, "k", null, facts({ "x-employee": "no" }))).toMatchObject({ role: "stable", reason: "bucket" });
  });

  it("a stable rule keeps matching requests off the canary even at 100 %", () => {
    const c = compile({ ...doc, percent: 100 });
    expect(decide(c, "k", null, facts({ "cf-connecting-ip": "203.0.113.5" }))).toMatchObject({
      slot: "blue",
      reason: "rule",
      rule: "partner-stable",
    });
    expect(decide(c, "k", null, facts({ "cf-connecting-ip": "198.51.100.5" }))).toMatchObject({
      slot: "green",
      reason: "bucket",
    });
  });

  it("an override beats rules; rolledBack beats both", () => {
    const c = compile({ ...doc, percent: 100 });
    expect(decide(c, "k", { target: "stable", exp: 2e9 }, facts({ "x-employee": "yes" }))).toMatchObject({
      slot: "blue",
      reason: "override",
    });
    const rb = compile({ ...doc, rolledBack: { at: "t", reason: "r" } });
    expect(decide(rb, "k", { target: "canary", exp: 2e9 }, facts({ "x-employee": "yes" }))).toMatchObject({
      slot: "blue",
      reason: "rolled-back",
    });
  });

  it("per-location staging keeps requests from elsewhere on stable, rules still apply", () => {
    const c = compile({
      percent: 100,
      locations: { countries: ["NZ"] },
      rules: [{ name: "staff", header: { name: "x-employee", values: ["yes"] } }],
    });
    expect(decide(c, "k", null, facts({}, "NZ"))).toMatchObject({ slot: "green", reason: "bucket" });
    expect(decide(c, "k", null, facts({}, "US"))).toMatchObject({ slot: "blue", reason: "location" });
    expect(decide(c, "k", null, facts({ "x-employee": "yes" }, "US"))).toMatchObject({ slot: "green", reason: "rule" });
  });
});
