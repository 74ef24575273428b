// OFREP through the real Worker (src/admin/ofrep-api.ts): the protocol's shapes and error codes, the
// two callers (a browser sees only `browser` flags, keyed by its own visitor; an app server with
// FLAGS_TOKEN sees all, keyed by its context), and ETag/304 for bulk evaluation.
import { env, SELF } from "cloudflare:test";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { mintOverride } from "../../src/routing/override";
import { echo, useRollout, visitorCookieOf } from "./helpers";

const FLAGS_TOKEN = "test-flags-token-0123456789abcdef0123";
const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
const BASE = "https://app.example/__edgeshift/ofrep/v1/evaluate/flags";
const run = Math.random().toString(36).slice(2, 8);

function ofrep(path: string, body: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch(BASE + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}
const server = { authorization: `Bearer ${FLAGS_TOKEN}` };

beforeEach(async () => {
  await env.ROLLOUT_CONFIG.put(
    "flags",
    JSON.stringify({
      flags: {
        banner: { browser: true, rollout: { percent: 50 } },
        theme: {
          browser: true,
          variations: { light: "light", dark: "dark" },
          default: "light",
          rules: [{ variation: "dark", country: ["NZ"] }],
        },
        "pricing-v2": { rollout: { percent: 100 } },
      },
    }),
  );
  await useRollout({ percent: 0, release: `ofrep-${run}` });
});

afterAll(async () => {
  await env.ROLLOUT_CONFIG.delete("flags");
});

describe("a browser (no credential)", () => {
  it("sees only the flags marked browser, keyed by its own visitor id, and gets the cookie if it had none", async () => {
    const r = await ofrep("", { context: {} });
    expect(r.status).toBe(200);
    const vid = visitorCookieOf(r);
    expect(vid).toBeTruthy();
    const body = (await r.json()) as { flags: { key: string }[] };
    expect(body.flags.map((f) => f.key).sort()).toEqual(["banner", "theme"]);
    expect(body.flags.find((f) => f.key === "theme")).toEqual({
      key: "theme",
      value: "light",
      variant: "light",
      reason: "DEFAULT",
    });
  });

  it("cannot pick its variation by naming another targeting key: the page agrees with what the origin gets", async () => {
    // Visitors whose banner is on and off (50 %), found by asking with their cookies.
    const byVisitor = new Map<string, boolean>();
    for (let i = 0; i < 16 && new Set(byVisitor.values()).size < 2; i++) {
      const r = await ofrep("/banner", {});
      byVisitor.set(visitorCookieOf(r)!, ((await r.json()) as { value: boolean }).value);
    }
    expect(new Set(byVisitor.values()).size).toBe(2);
    const [onVid] = [...byVisitor].find(([, v]) => v)!;
    const [offVid] = [...byVisitor].find(([, v]) => !v)!;
    const asked = await ofrep("/banner", { context: { targetingKey: onVid } }, { cookie: `edgeshift_vid=${offVid}` });
    expect(((await asked.json()) as { value: boolean }).value).toBe(false);
    const { j } = await echo("/page", { headers: { cookie: `edgeshift_vid=${offVid}` } });
    expect(JSON.parse(j.headers["x-edgeshift-flags"]).banner).toBe(false);
  });

  it("a flag not marked browser is not found, as is one that does not exist", async () => {
    for (const key of ["pricing-v2", "nope"]) {
      const r = await ofrep(`/${key}`, { context: {} });
      expect(r.status).toBe(404);
      expect(await r.json()).toMatchObject({ key, errorCode: "FLAG_NOT_FOUND" });
    }
  });

  it("bulk: the ETag names the answer; If-None-Match gets 304 until the flags change", async () => {
    const vid = visitorCookieOf(await ofrep("", {}))!;
    const h = { cookie: `edgeshift_vid=${vid}` };
    const first = await ofrep("", {}, h);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/);
    const again = await ofrep("", {}, { ...h, "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
    expect((await ofrep("", {}, { ...h, "if-none-match": `"other", W/${etag}` })).status).toBe(304);
    await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ flags: { banner: { browser: true, on: false } } }));
    await useRollout({ percent: 0, release: `ofrep-${run}` });
    const changed = await ofrep("", {}, { ...h, "if-none-match": etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect(((await changed.json()) as { flags: unknown[] }).flags).toEqual([
      { key: "banner", value: false, variant: "off", reason: "DISABLED" },
    ]);
  });

  it("a tester's signed token picks a variation here as on the proxy", async () => {
    const token = await mintOverride("test-override-secret", { flags: { theme: "dark" }, ttlSeconds: 600 });
    const r = await ofrep("/theme", {}, { "x-edgeshift-override": token });
    expect(await r.json()).toMatchObject({ value: "dark", reason: "TARGETING_MATCH" });
  });
});

describe("an app server (FLAGS_TOKEN or an admin token)", () => {
  it("sees every flag for the targeting key it names, with rules read from the context", async () => {
    const r = await ofrep("", { context: { targetingKey: "user-1", country: "nz" } }, server);
    const flags = ((await r.json()) as { flags: { key: string; value: unknown; reason: string }[] }).flags;
    expect(flags.map((f) => f.key).sort()).toEqual(["banner", "pricing-v2", "theme"]);
    expect(flags.find((f) => f.key === "theme")).toMatchObject({ value: "dark", reason: "TARGETING_MATCH" });
    expect(visitorCookieOf(r)).toBeNull();
    // The same key always gets the same answer, and X-API-Key or an admin token work the same.
    const byApiKey = await ofrep("/banner", { context: { targetingKey: "user-1" } }, { "x-api-key": FLAGS_TOKEN });
    const byAdmin = await ofrep(
      "/banner",
      { context: { targetingKey: "user-1" } },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(await byApiKey.json()).toEqual(await byAdmin.json());
  });

  it("says what is wrong with a request, in the protocol's codes", async () => {
    const cases: [unknown, Record<string, string>, number, string][] = [
      [{ context: {} }, server, 400, "TARGETING_KEY_MISSING"],
      ["{not json", server, 400, "PARSE_ERROR"],
      [{ context: [] }, server, 400, "INVALID_CONTEXT"],
      [{ context: { targetingKey: 7 } }, server, 400, "INVALID_CONTEXT"],
      [
        { context: { targetingKey: "u" } },
        { authorization: "Bearer wrong-token-wrong-token-wrong-token" },
        401,
        "GENERAL",
      ],
    ];
    for (const [body, headers, status, code] of cases) {
      const r = await ofrep("/banner", body, headers);
      expect(r.status, JSON.stringify(body)).toBe(status);
      // A single evaluation's failure names its flag (the protocol's evaluationFailure requires key).
      expect(await r.json()).toMatchObject(status === 400 ? { key: "banner", errorCode: code } : { errorCode: code });
    }
    const big = await ofrep("", { context: { targetingKey: "u", blob: "x".repeat(20_000) } }, server);
    expect(big.status).toBe(413);
  });

  it("guessing FLAGS_TOKEN is braked like guessing an admin token: 429 with Retry-After, the right token refused meanwhile", async () => {
    const from = { "cf-connecting-ip": "198.51.100.77" };
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await ofrep(
        "",
        { context: { targetingKey: "u" } },
        { ...from, authorization: `Bearer guess-${i}-${"x".repeat(32)}` },
      );
      statuses.push(r.status);
      if (r.status === 429) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    expect(statuses).toContain(429);
    expect((await ofrep("", { context: { targetingKey: "u" } }, { ...from, ...server })).status).toBe(429);
    // Another address is not affected.
    expect(
      (await ofrep("", { context: { targetingKey: "u" } }, { "cf-connecting-ip": "198.51.100.78", ...server })).status,
    ).toBe(200);
  });
});
