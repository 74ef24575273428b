// The controller's webhook against a real HTTP receiver (the green origin's /__origin/webhook).
import { runInDurableObject } from "cloudflare:test";
import { afterEach, expect, inject, it, vi } from "vitest";
import type { RolloutController } from "../../src/controller/durable-object";
import type { ControllerRpc } from "../../src/controller/rpc";
import { counters, freshController, putDoc, report } from "./controller-helpers";

const receiver = () => inject("greenUrl") + "/__origin/webhook";
let current: ControllerRpc | null = null;
afterEach(async () => {
  await current?.settle();
  await fetch(receiver(), { method: "DELETE" });
});

async function withWebhook(url: string) {
  const c = (current = freshController());
  await runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (i) => {
    i.webhookUrlOverride = url;
  });
  return c;
}

it("POSTs a Slack-compatible body with the structured event on rollback", async () => {
  const c = await withWebhook(receiver());
  const { fp } = await putDoc({ percent: 10, release: "v7", rollback: { minRequests: 20 } });
  await c.report(report(fp, counters(40, 20), counters(100)));
  const bodies = await vi.waitFor(
    async () => {
      const got = (await (await fetch(receiver())).json()) as any[];
      const rb = got.find((b) => b.event?.kind === "rollback");
      if (!rb) throw new Error("no rollback webhook yet");
      return got;
    },
    { timeout: 10_000, interval: 100 },
  );
  const rb = bodies.find((b) => b.event.kind === "rollback");
  expect(rb.text).toMatch(
    /^edgeshift rolled back release v7 \(green\): canary 48\.7 % errors \(19\/39 weighted by visitor, heaviest network left out\)/,
  );
  expect(rb.event).toMatchObject({
    kind: "rollback",
    actor: "controller",
    release: "v7",
    canary: "green",
    data: { figures: { tripped: ["error-rate", "sequential"] } },
  });
  expect(bodies.find((b) => b.event.kind === "attempt")).toBeDefined();
  expect((await c.history(10)).some((e) => e.kind === "webhook-failed")).toBe(false);
});

it("a receiver that is down: one retry, then a webhook-failed event; the rollback stands", async () => {
  // Port 9 (discard) on localhost: nothing listens, the connection is refused.
  const c = await withWebhook("http://127.0.0.1:9/hook");
  const { fp } = await putDoc({ percent: 10, release: "v8", rollback: { minRequests: 20 } });
  const v = await c.report(report(fp, counters(40, 20), counters(100)));
  expect(v.doc?.rolledBack).toBeDefined();
  const failed = await vi.waitFor(
    async () => {
      const f = (await c.history(20)).filter((e) => e.kind === "webhook-failed");
      if (f.length < 2) throw new Error("not yet");
      return f;
    },
    { timeout: 15_000, interval: 200 },
  );
  expect(failed[0].reason).toMatch(/failed after 2 tries/);
  expect((await c.status()).state).toBe("rolled-back");
});
