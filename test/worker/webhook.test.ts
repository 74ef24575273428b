// The controller's webhook against a real HTTP receiver (the hook receiver's /legacy-webhook).
import { runInDurableObject } from "cloudflare:test";
import { afterEach, expect, inject, it, vi } from "vitest";
import type { RolloutController } from "../../src/controller/durable-object";
import type { ControllerRpc } from "../../src/controller/rpc";
import { alarm, clockAhead, counters, freshController, putDoc, report } from "./controller-helpers";

const receiver = () => inject("hooksUrl") + "/legacy-webhook";
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

it("a receiver that is down: retried with backoff, given up after 6 tries with a webhook-failed event; the rollback stands", async () => {
  // Port 9 (discard) on localhost: nothing listens, the connection is refused.
  const c = await withWebhook("http://127.0.0.1:9/hook");
  const { fp } = await putDoc({ percent: 10, release: "v8", rollback: { minRequests: 20 } });
  const v = await c.report(report(fp, counters(40, 20), counters(100)));
  expect(v.doc?.rolledBack).toBeDefined();
  await c.settle();
  const legacy = async () => (await c.status()).notifications!.destinations[0];
  expect(await legacy()).toMatchObject({
    name: "WEBHOOK_URL",
    type: "legacy",
    waiting: 2,
    retrying: { kind: "attempt", tries: 1, error: expect.stringMatching(/^could not connect/) },
  });
  // Backoff 2 s, 10 s, 30 s, 2 min, 10 min (±20 %): each alarm here is past the next try.
  for (const [i, ahead] of [3, 16, 56, 200].entries()) {
    await clockAhead(c, ahead);
    await alarm(c);
    expect((await legacy()).retrying?.tries, `after alarm ${i + 1}`).toBe(i + 2);
  }
  // The sixth try fails: given up. The rollback's notification, queued behind it, is tried at once.
  await clockAhead(c, 1000);
  await alarm(c);
  const failed = (await c.history(20)).filter((e) => e.kind === "webhook-failed");
  expect(failed[0].reason).toMatch(
    /^notification to "WEBHOOK_URL" for event \d+ \(attempt\) given up after 6 tries: could not connect/,
  );
  expect(await legacy()).toMatchObject({ failed: 1, waiting: 1, retrying: { kind: "rollback", tries: 1 } });
  expect((await c.status()).state).toBe("rolled-back");
});
