// Targeting rules and per-location staging through the real Worker, with request.cf facts passed
// the way Miniflare accepts them (`cf` in the RequestInit) and CF-Connecting-IP as the client IP.
import { beforeEach, describe, expect, it } from "vitest";
import type { RolloutInput } from "../../src/model/rollout";
import { echo, useRollout } from "./helpers";

const run = Math.random().toString(36).slice(2, 8);
let n = 0;
const rollout = (d: RolloutInput) => useRollout({ release: `targeting-${run}-${n++}`, ...d });
const originFor = async (init: RequestInit & { cf?: Record<string, unknown> } = {}) =>
  (await echo(`/h3-t-${run}`, init)).j.origin as string;

beforeEach(() => {
  n++;
});

describe("rules send chosen requests to a role before percentages", () => {
  it("by header value: exact value, any listed one; others follow percent", async () => {
    await rollout({ percent: 0, rules: [{ name: "staff", header: { name: "X-Employee", values: ["yes", "true"] } }] });
    expect(await originFor({ headers: { "x-employee": "yes" } })).toBe("green");
    expect(await originFor({ headers: { "X-EMPLOYEE": "true" } })).toBe("green");
    expect(await originFor({ headers: { "x-employee": "no" } })).toBe("blue");
    expect(await originFor()).toBe("blue");
  });

  it("tells the origin and (with the admin token) the operator which rule routed", async () => {
    await rollout({ percent: 0, rules: [{ name: "staff", header: { name: "x-employee", values: ["yes"] } }] });
    const { r, j } = await echo(`/h3-t-${run}`, {
      headers: { "x-employee": "yes", "x-edgeshift-explain": "test-admin-token-0123456789abcdef" },
    });
    expect(j.headers["x-edgeshift-role"]).toBe("canary");
    expect(r.headers.get("x-edgeshift-explain")).toContain("reason=rule");
    expect(r.headers.get("x-edgeshift-explain")).toContain("rule=staff");
  });

  it("by CIDR on CF-Connecting-IP, IPv4 and IPv6, IPv4-mapped included", async () => {
    await rollout({ percent: 0, rules: [{ cidr: ["203.0.113.0/24", "2001:db8::/32"] }] });
    expect(await originFor({ headers: { "cf-connecting-ip": "203.0.113.200" } })).toBe("green");
    expect(await originFor({ headers: { "cf-connecting-ip": "::ffff:203.0.113.9" } })).toBe("green");
    expect(await originFor({ headers: { "cf-connecting-ip": "2001:db8:1::5" } })).toBe("green");
    expect(await originFor({ headers: { "cf-connecting-ip": "203.0.114.1" } })).toBe("blue");
    expect(await originFor({ headers: { "cf-connecting-ip": "2001:db9::1" } })).toBe("blue");
    expect(await originFor({ headers: { "cf-connecting-ip": "not-an-ip" } })).toBe("blue");
  });

  it("by country and colo (request.cf), all conditions of a rule together", async () => {
    await rollout({ percent: 0, rules: [{ name: "nz-akl", country: ["NZ"], colo: ["AKL"] }] });
    expect(await originFor({ cf: { country: "NZ", colo: "AKL" } })).toBe("green");
    expect(await originFor({ cf: { country: "NZ", colo: "SYD" } })).toBe("blue");
    expect(await originFor({ cf: { country: "AU", colo: "AKL" } })).toBe("blue");
  });

  it("first matching rule wins; a stable rule keeps its requests off the canary even at percent 100", async () => {
    await rollout({
      percent: 100,
      rules: [
        { name: "office", slot: "stable", cidr: ["10.0.0.0/8"] },
        { name: "beta", header: { name: "x-beta", values: ["1"] } },
      ],
    });
    expect(await originFor({ headers: { "cf-connecting-ip": "10.1.2.3", "x-beta": "1" } })).toBe("blue");
    expect(await originFor({ headers: { "cf-connecting-ip": "192.0.2.1", "x-beta": "1" } })).toBe("green");
    expect(await originFor({ headers: { "cf-connecting-ip": "192.0.2.1" } })).toBe("green");
  });

  it("a rolled-back canary is reached by no rule", async () => {
    await rollout({
      percent: 100,
      rules: [{ header: { name: "x-beta", values: ["1"] } }],
      rolledBack: { at: new Date().toISOString(), reason: "test" },
    });
    expect(await originFor({ headers: { "x-beta": "1" } })).toBe("blue");
  });
});

describe("per-location staging", () => {
  it("only listed colos or countries reach the canary by percent; elsewhere stays on stable", async () => {
    await rollout({ percent: 100, locations: { colos: ["AKL"], countries: ["AU"] } });
    expect(await originFor({ cf: { country: "NZ", colo: "AKL" } })).toBe("green");
    expect(await originFor({ cf: { country: "AU", colo: "SYD" } })).toBe("green");
    expect(await originFor({ cf: { country: "US", colo: "DFW" } })).toBe("blue");
    expect(await originFor({ cf: { country: "GB", colo: "LHR" } })).toBe("blue");
  });

  it("a matching rule is not limited by locations", async () => {
    await rollout({
      percent: 0,
      locations: { countries: ["NZ"] },
      rules: [{ header: { name: "x-beta", values: ["1"] } }],
    });
    expect(await originFor({ cf: { country: "US", colo: "DFW" }, headers: { "x-beta": "1" } })).toBe("green");
  });
});
