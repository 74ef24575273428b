// The isolate side against the real controller: a Recorder with the real RPC client batches
// outcomes, flushes through ctx.waitUntil, and adopts the controller's view — which overrides a
// stale KV copy at once.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { expect, it } from "vitest";
import { parseRollout } from "../../src/model/parse";
import { effectiveRollout } from "../../src/routing/effective";
import { controllerStub } from "../../src/controller/rpc";
import { Recorder, FLUSH_EVERY_MS, type Outcome } from "../../src/telemetry/recorder";
import { toController } from "../../src/worker/telemetry";
import type { Env } from "../../src/env";

// The direct line (REPORT_AGGREGATION "off"): each flush answer is the root's own. Through the
// aggregation tier an answer is the aggregator's held view: test/worker/aggregator.test.ts.
const direct = { ...(env as Env), REPORT_AGGREGATION: "off" };

const text = JSON.stringify({ percent: 30, release: "bad-build", rollback: { minRequests: 20, windowSeconds: 30 } });

function isolate() {
  let now = Date.now();
  // A fixed jitter draw: the interval is exactly FLUSH_EVERY_MS (the pace itself is test/unit/cadence.test.ts).
  const rec = new Recorder({ ...toController, now: () => now, random: () => 0 });
  return { rec, tick: (ms: number) => (now += ms) };
}

it("batches outcomes, flushes off the request path, and the flush answer overrides the stale KV copy", async () => {
  await env.ROLLOUT_CONFIG.put("rollout", text);
  const cached = parseRollout(text);
  if (!cached.ok) throw new Error(cached.summary);
  const routed = { fingerprint: cached.fingerprint, doc: cached.doc };
  const { rec, tick } = isolate();

  const canaryFail: Outcome = {
    slot: "green",
    role: "canary",
    status: 503,
    error: null,
    latencyMs: 8,
    failedOver: true,
  };
  const stableOk: Outcome = { slot: "blue", role: "stable", status: 200, error: null, latencyMs: 6, failedOver: false };
  // 60 "requests": nothing is sent per request; the first maybeFlush only fetches the view.
  for (let i = 0; i < 60; i++) {
    // Each from its own visitor on its own network: the controller needs failures from several.
    rec.record(routed, i % 2 ? canaryFail : stableOk, 1000 + i, 5000 + i);
    if (i === 0) {
      const ctx = createExecutionContext();
      rec.maybeFlush(ctx, direct);
      await waitOnExecutionContext(ctx);
    }
  }
  expect((await controllerStub(env).status()).reports.received).toBe(0);
  expect(rec.view.revision).toBe(0);

  tick(FLUSH_EVERY_MS);
  const ctx = createExecutionContext();
  rec.maybeFlush(ctx, direct);
  await waitOnExecutionContext(ctx);

  // One report carried all 60 outcomes; the controller rolled back and answered with its view.
  const status = await controllerStub(env).status();
  expect(status.reports.received).toBe(1);
  expect(status.window.canary).toMatchObject({ requests: 30, errors: 30, failovers: 30 });
  expect(rec.view.revision).toBe(1);
  // KV still says 30 % in this isolate's cache: the view wins.
  const eff = effectiveRollout({ doc: cached.doc, fingerprint: cached.fingerprint }, rec.view);
  expect(eff).toMatchObject({ source: "controller", doc: { percent: 0, release: "bad-build" } });
  expect(eff.doc.rolledBack?.reason).toMatch(
    /canary 100\.0 % errors \(29\/29 weighted by visitor, heaviest network left out\)/,
  );
  await controllerStub(env).settle();
});

it("a cold isolate learns of a rollback already in force from its first request's view fetch", async () => {
  // The controller rolled back in the previous test; this "isolate" still has the old KV text cached.
  const cached = parseRollout(text);
  if (!cached.ok) throw new Error(cached.summary);
  const { rec } = isolate();
  const ctx = createExecutionContext();
  rec.maybeFlush(ctx, direct);
  await waitOnExecutionContext(ctx);
  expect(effectiveRollout({ doc: cached.doc, fingerprint: cached.fingerprint }, rec.view).doc.percent).toBe(0);
});
