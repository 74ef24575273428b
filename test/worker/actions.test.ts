// Operator actions are state changes people are told about: each one is recorded durably (it
// survives a restart) with who, when and why, and sent to the webhook. Real receiver: the hook
// receiver's /legacy-actions (the webhook tests use another path, so the two files never share one).
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { afterEach, expect, inject, it, vi } from "vitest";
import type { RolloutController } from "../../src/controller/durable-object";
import type { ControllerRpc } from "../../src/controller/rpc";
import { controllerById, freshController, putDoc } from "./controller-helpers";

const receiver = () => inject("hooksUrl") + "/legacy-actions";
let current: ControllerRpc | null = null;
afterEach(async () => {
  await current?.settle();
  await fetch(receiver(), { method: "DELETE" });
});

it("pause, resume and promote: durable events with actor/when/why, each POSTed to the webhook", async () => {
  const c = (current = freshController()) as ControllerRpc & { id: DurableObjectId };
  await runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (o: RolloutController) => {
    o.webhookUrlOverride = receiver();
  });
  await putDoc({ steps: [5, 25, 100], stepSeconds: 600, release: "v-actions" });
  const t0 = Date.now();
  await c.action("pause", { actor: "alice", reason: "support is not staffed yet" });
  await c.action("resume", { actor: "alice" });
  await c.action("promote", { actor: "bob", reason: "numbers look good" });

  const want = ["pause", "resume", "promote"];
  const bodies = await vi.waitFor(
    async () => {
      const got = ((await (await fetch(receiver())).json()) as any[]).filter((b) => want.includes(b.event?.kind));
      if (got.length < 3) throw new Error(`only ${got.length} of 3 action webhooks yet`);
      return got;
    },
    { timeout: 10_000, interval: 100 },
  );
  const byKind = Object.fromEntries(bodies.map((b) => [b.event.kind, b]));
  expect(byKind.pause.text).toBe("edgeshift paused release v-actions (green) by alice: support is not staffed yet");
  expect(byKind.pause.event).toMatchObject({
    actor: "alice",
    reason: "support is not staffed yet",
    data: { index: 0, percent: 5 },
  });
  expect(byKind.resume.event).toMatchObject({
    actor: "alice",
    reason: expect.stringMatching(/step 1 \(5 %\) starts over/),
  });
  expect(byKind.promote.text).toMatch(
    /^edgeshift promoted .* by bob: numbers look good: green \(v-actions\) is now stable; blue is the canary at 0 %/,
  );
  expect(byKind.promote.event.data).toMatchObject({ release: "v-actions", stable: "green", canary: "blue" });

  // Durable: a restarted controller still has them, with when.
  await abortAllDurableObjects();
  const again = (current = controllerById(c.id));
  const events = (await again.history(3)).reverse();
  expect(events.map((e) => [e.kind, e.actor])).toEqual([
    ["pause", "alice"],
    ["resume", "alice"],
    ["promote", "bob"],
  ]);
  for (const e of events) expect(Date.parse(e.at)).toBeGreaterThanOrEqual(t0 - 1000);
});
