// A failing KV or Durable Object never takes user traffic down. The runtime's real KV and DO do not
// fail on demand, so these tests hand the Worker's real fetch handler an env whose ROLLOUT_CONFIG or
// CONTROLLER binding throws or never answers; the origins are the real test servers.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { getConfigState, resetConfigCache, expireConfigCache } from "../../src/worker/config-cache";
import { recorder } from "../../src/worker/telemetry";
import type { Env } from "../../src/env";
import { useRollout } from "./helpers";

const failingKv = (how: "throw" | "hang") =>
  ({
    get: () => (how === "throw" ? Promise.reject(new Error("KV unavailable (injected)")) : new Promise(() => {})),
  }) as unknown as KVNamespace;

async function call(e: Env, path = "/page"): Promise<{ status: number; origin: string | undefined; ms: number }> {
  const ctx = createExecutionContext();
  const t0 = Date.now();
  const r = await worker.fetch(
    new Request("https://app.example" + path, { headers: { "x-user-id": "fixed" } }),
    e,
    ctx,
  );
  const j = await r.json<{ origin?: string }>().catch(() => ({}) as { origin?: string });
  const ms = Date.now() - t0;
  await waitOnExecutionContext(ctx);
  return { status: r.status, origin: j.origin, ms };
}

let errors: { mock: { calls: unknown[][] }; mockRestore(): void } | undefined;
const quiet = () => (errors = vi.spyOn(console, "error").mockImplementation(() => {}));
afterEach(() => {
  errors?.mockRestore();
  errors = undefined;
  resetConfigCache();
});

describe("KV fails", () => {
  it("a warm isolate keeps routing by its last good copy, says why in the state and the log, and recovers", async () => {
    await useRollout({ percent: 100, stickyBy: "header:x-user-id" });
    expect((await call(env as Env)).origin).toBe("green");
    const good = getConfigState().fingerprint;
    quiet();
    expireConfigCache();
    const broken = { ...(env as Env), ROLLOUT_CONFIG: failingKv("throw") };
    for (let i = 0; i < 3; i++) expect(await call(broken)).toMatchObject({ status: 200, origin: "green" });
    const s = getConfigState();
    expect(s.fingerprint).toBe(good);
    expect(s.lastReadError?.message).toBe("KV unavailable (injected)");
    const logged = errors!.mock.calls
      .map((c: unknown[]) => String(c[0]))
      .filter((l: string) => l.includes('"config-read-failed"'))
      .map((l: string) => JSON.parse(l));
    // One failed read per document (`rollout`, `flags`), then a wait of one TTL: not a KV call
    // (and a log line) per request.
    expect(logged.map((l: { key: string }) => l.key).sort()).toEqual(["flags", "rollout"]);
    expect(logged.find((l: { key: string }) => l.key === "rollout")).toMatchObject({ keeping: good });
    // KV back: the next refresh clears the error.
    expireConfigCache();
    await call(env as Env);
    await vi.waitFor(() => expect(getConfigState().lastReadError).toBeNull());
  });

  it("a cold isolate whose KV read never answers serves everyone from stable after the bounded wait", async () => {
    await useRollout({ percent: 100, stickyBy: "header:x-user-id" });
    quiet();
    const r = await call({ ...(env as Env), ROLLOUT_CONFIG: failingKv("hang") });
    expect(r).toMatchObject({ status: 200, origin: "blue" });
    expect(getConfigState()).toMatchObject({
      fingerprint: "none",
      lastReadError: { message: expect.stringMatching(/gave no answer within 1500 ms/) },
    });
  });
});

describe("the controller fails", () => {
  it("reports that fail are kept for the next one (nothing lost, nothing dropped); every request is still answered", async () => {
    await useRollout({ percent: 50, stickyBy: "header:x-user-id" });
    const boom = () => {
      throw new Error("Durable Object unavailable (injected)");
    };
    const broken = {
      ...(env as Env),
      CONTROLLER: {
        idFromName: boom,
        get: boom,
        idFromString: boom,
        newUniqueId: boom,
      } as unknown as Env["CONTROLLER"],
      // The aggregation tier's objects are unavailable too (src/aggregator).
      AGGREGATOR: {
        idFromName: boom,
        get: boom,
        idFromString: boom,
        newUniqueId: boom,
      } as unknown as Env["AGGREGATOR"],
    };
    const failuresBefore = recorder.stats.failures;
    const carriedBefore = recorder.stats.carried;
    const divertedBefore = recorder.diverted;
    for (let i = 0; i < 20; i++) expect((await call(broken, `/item/${i}`)).status).toBe(200);
    await recorder.flush(broken);
    expect(recorder.stats.failures).toBeGreaterThan(failuresBefore);
    // The object never ran: the counts wait for the next report instead of being dropped.
    expect(recorder.stats.carried).toBeGreaterThan(carriedBefore);
    const held = recorder
      .pending()
      .reduce((n, b) => n + (b.slots.blue?.requests ?? 0) + (b.slots.green?.requests ?? 0), 0);
    // The canary gate sends canary-bound requests to stable while no verdict can be had: those are
    // counted in `diverted` (never in a slot), and carried with the rest.
    expect(held + recorder.diverted - divertedBefore).toBeGreaterThanOrEqual(20);
    await call(env as Env);
    await recorder.flush(env as Env);
    expect(recorder.pending()).toEqual([]);
    expect(recorder.dropped).toBe(0);
    expect(recorder.diverted).toBe(0);
  });
});
