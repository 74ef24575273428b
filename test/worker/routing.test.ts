// Cohort assignment end to end in workerd: real KV document, real origins.
import { describe, expect, it } from "vitest";
import { bucketOf, seedOf, thresholdOf } from "../../src/routing/bucket";
import { echo, useRollout, visitorCookieOf } from "./helpers";
import { mintOverride } from "../../src/routing/override";

const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);

describe("split by percent", () => {
  it("routes each key exactly by its bucket (stickyBy header), ~percent of them to the canary", async () => {
    await useRollout({ percent: 30, release: "r7", stickyBy: "header:x-user-id" });
    const seed = seedOf("r7");
    let canary = 0;
    for (const u of users) {
      const { r, j } = await echo("/", { headers: { "x-user-id": u } });
      const expected = bucketOf(u, seed) < thresholdOf(30) ? "green" : "blue";
      expect(j.origin, u).toBe(expected);
      expect(Number(j.headers["x-edgeshift-bucket"])).toBe(bucketOf(u, seed));
      // The key came from the header: no visitor cookie is needed or set.
      expect(visitorCookieOf(r)).toBeNull();
      if (expected === "green") canary++;
    }
    expect(canary).toBeGreaterThan(40);
    expect(canary).toBeLessThan(80);
  });

  it("percent 0 sends nobody to the canary, 100 everybody; canary: blue swaps the roles", async () => {
    await useRollout({ percent: 0 });
    for (let i = 0; i < 40; i++) expect((await echo("/")).j.origin).toBe("blue");
    await useRollout({ percent: 100 });
    for (let i = 0; i < 40; i++) expect((await echo("/")).j.origin).toBe("green");
    await useRollout({ percent: 100, canary: "blue" });
    const { j } = await echo("/");
    expect(j.origin).toBe("blue");
    expect(j.headers["x-edgeshift-role"]).toBe("canary");
  });

  it("a missing key means everyone on stable", async () => {
    await useRollout(null);
    for (let i = 0; i < 20; i++) expect((await echo("/")).j.origin).toBe("blue");
  });
});

describe("stickiness", () => {
  it("a returning visitor keeps its slot; raising percent never moves a canary visitor back", async () => {
    await useRollout({ percent: 20, release: "r1" });
    const visitors: { cookie: string; slot: string }[] = [];
    for (let i = 0; i < 60; i++) {
      const { r, j } = await echo("/");
      visitors.push({ cookie: visitorCookieOf(r)!, slot: j.origin });
    }
    for (const v of visitors.slice(0, 20))
      expect((await echo("/", { headers: { cookie: `edgeshift_vid=${v.cookie}` } })).j.origin).toBe(v.slot);
    for (const p of [50, 80]) {
      await useRollout({ percent: p, release: "r1" });
      let moved = 0;
      for (const v of visitors) {
        const { r, j } = await echo("/", { headers: { cookie: `edgeshift_vid=${v.cookie}` } });
        expect(visitorCookieOf(r)).toBeNull();
        if (v.slot === "green") expect(j.origin).toBe("green");
        if (j.origin !== v.slot) moved++;
        v.slot = j.origin;
      }
      expect(moved).toBeGreaterThan(0);
    }
  }, 60_000);

  it("stickyBy cookie:<name> and ip use the app's key; without it the visitor cookie is used and set", async () => {
    await useRollout({ percent: 50, release: "r2", stickyBy: "cookie:session" });
    const seed = seedOf("r2");
    for (const s of users.slice(0, 30)) {
      const { r, j } = await echo("/", { headers: { cookie: `session=${s}` } });
      expect(j.origin).toBe(bucketOf(s, seed) < 5000 ? "green" : "blue");
      expect(j.headers.cookie).toBe(`session=${s}`);
      expect(visitorCookieOf(r)).toBeNull();
    }
    const fallback = await echo("/");
    expect(visitorCookieOf(fallback.r)).not.toBeNull();

    await useRollout({ percent: 50, release: "r2", stickyBy: "ip" });
    for (const ip of ["203.0.113.1", "203.0.113.2", "2001:db8::7"]) {
      const { r, j } = await echo("/", { headers: { "cf-connecting-ip": ip } });
      expect(j.origin).toBe(bucketOf(ip, seed) < 5000 ? "green" : "blue");
      expect(visitorCookieOf(r)).toBeNull();
    }
  }, 30_000);
});

describe("nothing a client sends picks its slot", () => {
  it("at percent 0 no forged header, cookie or query parameter reaches the canary", async () => {
    await useRollout({ percent: 0 });
    const tricks: RequestInit[] = [
      { headers: { "x-edgeshift-slot": "green", "x-edgeshift-role": "canary", "x-edgeshift-bucket": "0" } },
      { headers: { "x-edgeshift-override": "green" } },
      { headers: { "x-edgeshift-override": "eyJ0YXJnZXQiOiJjYW5hcnkiLCJleHAiOjk5OTk5OTk5OTl9.forged" } },
      {
        headers: {
          cookie: "edgeshift_override=canary; edgeshift_slot=green; edgeshift_vid=AAAAAAAAAAAAAAAAAAAAAA.00000000",
        },
      },
    ];
    for (const t of tricks) expect((await echo("/?edgeshift=green&slot=green&canary=1", t)).j.origin).toBe("blue");
  });

  it("a rolled-back canary gets no traffic at any percent", async () => {
    await useRollout({ percent: 100, rolledBack: { at: "2026-11-25T08:00:00Z", reason: "error rate 0.31 > 0.05" } });
    for (let i = 0; i < 30; i++)
      expect((await echo("/", { headers: { "x-edgeshift-override": "canary" } })).j.origin).toBe("blue");
  });
});

describe("signed overrides and rules through the Worker", () => {
  it("a valid token (header or cookie) reaches the canary at percent 0; the token never reaches the origin", async () => {
    await useRollout({ percent: 0 });
    const token = await mintOverride("test-override-secret", { target: "canary", ttlSeconds: 600, sub: "tester" });
    const viaHeader = await echo("/", {
      headers: { "x-edgeshift-override": token, "x-edgeshift-explain": "test-admin-token-0123456789abcdef" },
    });
    expect(viaHeader.j.origin).toBe("green");
    expect(viaHeader.r.headers.get("x-edgeshift-explain")).toContain("reason=override");
    expect(viaHeader.j.headers["x-edgeshift-override"]).toBeUndefined();
    const viaCookie = await echo("/", { headers: { cookie: `app=1; edgeshift_override=${token}` } });
    expect(viaCookie.j.origin).toBe("green");
    expect(viaCookie.j.headers.cookie).toBe("app=1");
    const wrongSecret = await mintOverride("another-secret-entirely", { target: "canary", ttlSeconds: 600 });
    expect((await echo("/", { headers: { "x-edgeshift-override": wrongSecret } })).j.origin).toBe("blue");
  });

  it("a header rule sends matching requests to the canary at percent 0, and explains which rule", async () => {
    await useRollout({ percent: 0, rules: [{ name: "staff", header: { name: "x-employee", values: ["yes"] } }] });
    const { r, j } = await echo("/", {
      headers: { "x-employee": "yes", "x-edgeshift-explain": "test-admin-token-0123456789abcdef" },
    });
    expect(j.origin).toBe("green");
    expect(r.headers.get("x-edgeshift-explain")).toContain("reason=rule; bucket=");
    expect(r.headers.get("x-edgeshift-explain")).toContain("rule=staff");
    expect((await echo("/", { headers: { "x-employee": "no" } })).j.origin).toBe("blue");
  });
});
