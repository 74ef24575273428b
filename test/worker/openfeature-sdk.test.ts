// The official OpenFeature server SDK with the official OFREP provider, pointed at the real Worker
// (its fetch goes to SELF): what an app server does with `baseUrl: "https://<app>/__edgeshift"`.
// The browser SDK is driven in Chromium by test/e2e/ofrep-browser.test.ts.
import { env, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { useRollout } from "./helpers";

const FLAGS_TOKEN = "test-flags-token-0123456789abcdef0123";
const run = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  await env.ROLLOUT_CONFIG.put(
    "flags",
    JSON.stringify({
      flags: {
        "new-checkout": { rollout: { percent: 30 } },
        theme: {
          variations: { light: "light", dark: "dark" },
          default: "light",
          rules: [{ variation: "dark", country: ["NZ"] }],
        },
        "max-items": {
          variations: { few: 3, many: 50 },
          default: "few",
          rules: [{ variation: "many", colo: ["AKL"] }],
        },
        limits: { variations: { base: { rps: 10 }, pro: { rps: 100 } }, off: "base", on: false },
      },
    }),
  );
  await useRollout({ percent: 0, release: `sdk-${run}` });
  await OpenFeature.setProviderAndWait(
    new OFREPProvider({
      baseUrl: "https://app.example/__edgeshift",
      headers: [["authorization", `Bearer ${FLAGS_TOKEN}`]],
      fetchImplementation: (req: Request) => SELF.fetch(req),
    }),
  );
});

afterAll(async () => {
  await OpenFeature.close();
  await env.ROLLOUT_CONFIG.delete("flags");
});

describe("@openfeature/server-sdk with @openfeature/ofrep-provider", () => {
  const client = () => OpenFeature.getClient();

  it("reads each type with its reason and variant, per targeting key", async () => {
    const c = client();
    const d = await c.getStringDetails("theme", "fallback", { targetingKey: "u1", country: "NZ" });
    expect(d).toMatchObject({ value: "dark", variant: "dark", reason: "TARGETING_MATCH" });
    expect(await c.getNumberValue("max-items", 0, { targetingKey: "u1", colo: "AKL" })).toBe(50);
    expect(await c.getNumberValue("max-items", 0, { targetingKey: "u1" })).toBe(3);
    expect(await c.getObjectDetails("limits", {}, { targetingKey: "u1" })).toMatchObject({
      value: { rps: 10 },
      reason: "DISABLED",
    });
    let on = 0;
    for (let i = 0; i < 60; i++)
      if (await c.getBooleanValue("new-checkout", false, { targetingKey: `user-${i}` })) on++;
    expect(on).toBeGreaterThan(6);
    expect(on).toBeLessThan(34);
    // Sticky: one user, one answer.
    const first = await c.getBooleanValue("new-checkout", false, { targetingKey: "user-7" });
    for (let i = 0; i < 3; i++)
      expect(await c.getBooleanValue("new-checkout", !first, { targetingKey: "user-7" })).toBe(first);
  });

  it("a missing flag, a missing targeting key and a wrong type come back as the SDK's errors with the code default", async () => {
    const c = client();
    expect(await c.getBooleanDetails("no-such-flag", true, { targetingKey: "u1" })).toMatchObject({
      value: true,
      errorCode: "FLAG_NOT_FOUND",
    });
    expect(await c.getBooleanDetails("new-checkout", true, {})).toMatchObject({
      value: true,
      errorCode: "TARGETING_KEY_MISSING",
    });
    expect(await c.getNumberDetails("theme", 1, { targetingKey: "u1" })).toMatchObject({
      value: 1,
      errorCode: "TYPE_MISMATCH",
    });
  });
});
