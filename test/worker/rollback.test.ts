// The whole loop inside workerd: real Worker (SELF), real origins, real KV, real controller.
// A failing canary is rolled back by the controller and the isolate routes everything to stable
// from the flush answer on — even though its cached KV copy (and KV itself, here) still says
// the canary is at 100 %.
import { env } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import { controllerStub } from "../../src/controller/rpc";
import { recorder } from "../../src/worker/telemetry";
import { MAX_BATCHES } from "../../src/telemetry/recorder";
import { echo, fromCrowd, get, useRollout } from "./helpers";

// `relative: false`: /status/503 fails on both origins, and this test is about the canary's own rate.
const doc = { percent: 100, canary: "green", release: "broken", rollback: { minRequests: 10, relative: false } };

it("the rollback signal beats a stale KV value: after the flush answer, nothing reaches the canary", async () => {
  await useRollout(doc);
  const staleText = JSON.stringify(doc);
  const before = recorder.view.revision;
  const { r } = await echo("/healthy");
  expect(r.headers.get("x-origin")).toBe("green");

  // Failing canary requests, each from a new visitor on its own network (the controller needs
  // failures from several), until the controller has rolled back and this isolate has heard.
  await vi.waitFor(
    async () => {
      for (let i = 0; i < 5; i++) await (await get("/status/503", fromCrowd())).arrayBuffer();
      if (recorder.view.revision <= before || !recorder.view.doc?.rolledBack) throw new Error("not rolled back yet");
    },
    { timeout: 15_000, interval: 50 },
  );
  expect((await controllerStub(env).status()).state).toBe("rolled-back");

  // KV serves the pre-rollback text again (eventual consistency; here we write it ourselves), and
  // the isolate's cache holds it too: the controller's view still wins.
  await controllerStub(env).settle();
  await env.ROLLOUT_CONFIG.put("rollout", staleText);
  for (let i = 0; i < 30; i++) {
    const { r: a, j } = await echo(`/after/${i}`);
    expect(a.status).toBe(200);
    expect(j.origin).toBe("blue");
  }
  // Memory stays bounded: a handful of document versions, never one per request.
  expect(recorder.footprint().batches).toBeLessThanOrEqual(MAX_BATCHES);
});
