// Tester overrides through the real Worker: only a validly signed, unexpired token moves a request;
// at percent 0 with no rules, nothing else of any shape reaches the canary (green).
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { mintOverride } from "../../src/routing/override";
import { echo, useRollout } from "./helpers";

const SECRET = "test-override-secret";
const now = () => Math.floor(Date.now() / 1000);
const run = Math.random().toString(36).slice(2, 8);

/** Requests the green origin received whose path starts with `prefix` (other files share the origins). */
async function greenSaw(prefix: string): Promise<{ method: string; url: string; headers: Record<string, string> }[]> {
  const list = (await (await fetch(inject("greenUrl") + "/__origin/requests")).json()) as {
    method: string;
    url: string;
    headers: Record<string, string>;
  }[];
  return list.filter((r) => r.url.startsWith(prefix));
}

beforeEach(async () => {
  await useRollout({ percent: 0, release: `override-${run}` });
});

describe("at percent 0 with no rules, no request of any shape reaches the canary", () => {
  it("forged override headers and cookies, cohort headers, query params, visitor cookies, Host and URL tricks", async () => {
    const prefix = `/h3-forged-${run}`;
    const expired = await mintOverride(SECRET, { target: "canary", ttlSeconds: 60 }, now() - 3600);
    const otherSecret = await mintOverride("a-different-secret-value", { target: "canary", ttlSeconds: 3600 });
    const valid = await mintOverride(SECRET, { target: "canary", ttlSeconds: 3600 });
    const [v, body, mac] = valid.split(".");
    const tampered = `${v}.${btoa(JSON.stringify({ target: "green", iat: now(), exp: now() + 3600 })).replace(/=+$/, "")}.${mac}`;
    const notYet = await mintOverride(SECRET, { target: "canary", ttlSeconds: 3600, nbf: now() + 3600 });
    const forgedTokens = [
      "canary",
      "green",
      "1",
      "true",
      expired,
      otherSecret,
      tampered,
      notYet,
      `${v}.${body}`,
      `${v}.${body}.`,
      `eyJhbGciOiJub25lIn0.${body}.`,
      valid + "x",
      "v1." + "A".repeat(5000) + ".AAAA",
    ];
    const shapes: { path: string; init: RequestInit; base?: string }[] = [];
    for (const t of forgedTokens) {
      shapes.push({ path: "/h", init: { headers: { "x-edgeshift-override": t } } });
      shapes.push({ path: "/c", init: { headers: { cookie: `edgeshift_override=${t}` } } });
    }
    for (const h of <Record<string, string>[]>[
      { "x-edgeshift-slot": "green" },
      { "x-edgeshift-role": "canary" },
      { "x-edgeshift-bucket": "0" },
      { "x-edgeshift-shadow": "1" },
      { "x-edgeshift-explain": "wrong-token" },
      { "X-EdgeShift-Override": "green" },
      { cookie: "edgeshift_vid=0" },
      { cookie: "edgeshift_vid=green" },
      { cookie: "edgeshift_vid=" + "f".repeat(4096) },
      { cookie: "edgeshift_vid=00000000-0000-4000-8000-000000000000" },
      { cookie: "edgeshift_slot=green; edgeshift_role=canary" },
      { host: new URL(inject("greenUrl")).host },
      { "x-forwarded-host": new URL(inject("greenUrl")).host },
      { "x-original-url": inject("greenUrl") + "/" },
      { "x-rewrite-url": inject("greenUrl") + "/" },
      { forwarded: `host=${new URL(inject("greenUrl")).host}` },
    ]) {
      shapes.push({ path: "/hdr", init: { headers: h } });
    }
    for (const q of [
      "?edgeshift=green",
      "?edgeshift=canary",
      "?slot=green",
      "?edgeshift_override=" + valid,
      "?x-edgeshift-override=" + valid,
    ]) {
      shapes.push({ path: "/q" + q, init: {} });
    }
    for (const m of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
      shapes.push({
        path: "/m",
        init: {
          method: m,
          headers: { "x-edgeshift-override": tampered, "x-edgeshift-slot": "green" },
          body: m === "HEAD" || m === "OPTIONS" ? undefined : "x",
        },
      });
    }
    // Absolute-URL and authority tricks: the path may look like a URL, it is still a path on stable.
    shapes.push({ path: "//" + new URL(inject("greenUrl")).host + "/", init: {} });
    shapes.push({ path: "/" + inject("greenUrl") + "/", init: {} });
    shapes.push({ path: "/@" + new URL(inject("greenUrl")).host, init: {} });

    for (const s of shapes) {
      const path =
        s.path.startsWith("/") && !s.path.startsWith("//") && !s.path.startsWith("/http") && !s.path.startsWith("/@")
          ? prefix + s.path
          : s.path;
      const { r, j } = await echo(path, s.init);
      const what = `${s.init.method ?? "GET"} ${path} ${JSON.stringify(s.init.headers ?? {}).slice(0, 120)}`;
      expect(r.headers.get("x-origin"), what).toBe("blue");
      if (j !== null) expect(j.origin, what).toBe("blue");
    }
    expect(await greenSaw(prefix)).toEqual([]);
    expect((await greenSaw("//")).length + (await greenSaw("/http")).length + (await greenSaw("/@")).length).toBe(0);
  });
});

describe("a valid token", () => {
  it("reaches the canary from the header or the cookie, and is not passed on to the app", async () => {
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: 600, sub: "alice" });
    const h = await echo(`/h3-valid-${run}`, { headers: { "x-edgeshift-override": t } });
    expect(h.j.origin).toBe("green");
    expect(h.j.headers["x-edgeshift-role"]).toBe("canary");
    expect(h.j.headers["x-edgeshift-override"]).toBeUndefined();
    const c = await echo(`/h3-valid-${run}`, { headers: { cookie: `app=1; edgeshift_override=${t}` } });
    expect(c.j.origin).toBe("green");
    expect(c.j.headers.cookie ?? "").not.toContain("edgeshift_override");
    expect(c.j.headers.cookie).toContain("app=1");
    // The positive control for the "green saw nothing" assertions above.
    expect((await greenSaw(`/h3-valid-${run}`)).length).toBe(2);
  });

  it("names a slot or a role: stable/blue pin a tester to stable even at percent 100", async () => {
    await useRollout({ percent: 100, release: `override-100-${run}` });
    for (const [target, origin] of [
      ["stable", "blue"],
      ["blue", "blue"],
      ["green", "green"],
      ["canary", "green"],
    ] as const) {
      const t = await mintOverride(SECRET, { target, ttlSeconds: 600 });
      const { j } = await echo(`/h3-target-${run}`, { headers: { "x-edgeshift-override": t } });
      expect(j.origin, target).toBe(origin);
    }
    expect((await echo(`/h3-target-${run}`)).j.origin).toBe("green");
  });

  it("is ignored once expired", async () => {
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: 60 }, now() - 61);
    const { j } = await echo(`/h3-expired-${run}`, { headers: { "x-edgeshift-override": t } });
    expect(j.origin).toBe("blue");
  });

  it("does not reach a rolled-back canary", async () => {
    await useRollout({
      percent: 50,
      release: `override-rb-${run}`,
      rolledBack: { at: new Date().toISOString(), reason: "test" },
    });
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: 600 });
    const { j } = await echo(`/h3-rb-${run}`, { headers: { "x-edgeshift-override": t } });
    expect(j.origin).toBe("blue");
  });

  it("the Worker under test really has the secret the tokens are signed with", () => {
    expect(env.OVERRIDE_SECRET).toBe(SECRET);
  });
});
