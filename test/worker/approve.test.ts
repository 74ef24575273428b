// Approval steps inside the real controller (workerd, real KV, real Durable Object storage and
// alarms): a step with `approve` holds, then waits for `approve` (health still judged), records
// who approved, and applies its onTimeout on the controller's alarm. Time is moved with the
// controller's clock seam (as in ./plan.test.ts); no test sleeps.
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { controllerStub, type ControllerRpc } from "../../src/controller/rpc";
import { alarm, clockAhead, counters, freshController, kvDoc, putDoc, refusal, report } from "./controller-helpers";

let current: ControllerRpc | null = null;
const controller = () => (current = freshController());
afterEach(async () => {
  await current?.settle();
  current = null;
});

const rollback = { minRequests: 20, windowSeconds: 60 };
const planWith = (approval: object) => ({
  steps: [10, { percent: 50, approve: true, ...approval }, 100],
  stepSeconds: 60,
  release: "v-approve",
  salt: "s",
  rollback,
});

async function healthy(c: ControllerRpc, canaryRequests: number) {
  const fp = (await c.status()).config.fingerprint;
  return c.report(report(fp, counters(canaryRequests), counters(canaryRequests * 9)));
}
/** Step 2 (50 %) reached and held healthy: the plan waits for approval. */
async function waitingAt50(c: ControllerRpc) {
  await healthy(c, 30);
  await clockAhead(c, 61);
  await alarm(c);
  expect((await kvDoc()).percent).toBe(50);
  await healthy(c, 30);
  await clockAhead(c, 122);
  await alarm(c);
}
/** Waiting at 50 % with `approval`, and its 600 s timeout just passed (the alarm not rung yet). */
async function pastTimeout(approval: object) {
  const c = controller();
  await putDoc(planWith({ approveTimeoutSeconds: 600, ...approval }));
  await waitingAt50(c);
  await clockAhead(c, 122 + 601);
  return c;
}
const kinds = async (c: ControllerRpc, n = 20) => (await c.history(n)).map((e) => e.kind);
const WAITING = /^approval of step 2\/3 \(50 %\) since \d{4}-\d\d-\d\dT[\d:.]+Z: `edgeshift approve` to go on$/;

describe("approval steps in the controller", () => {
  it("waits after the hold (status says since when), refuses early approvals, goes on when approved, with the actor", async () => {
    const c = controller();
    await putDoc(planWith({}));
    expect(await refusal(c.action("approve", { actor: "alice" }))).toMatch(
      /nothing waits for approval: step 1\/3 \(10 %\) does not ask for one$/,
    );
    // The plan's start says where a person will be wanted (the event goes to the notification channels).
    expect((await c.history(5)).find((e) => e.kind === "plan-start")?.reason).toMatch(
      /^plan 10 → 50:approve → 100 % started at step 1\/3/,
    );
    await healthy(c, 30);
    await clockAhead(c, 61);
    await alarm(c);
    expect(await refusal(c.action("approve", { actor: "alice" }))).toMatch(
      /nothing waits for approval yet: step 2\/3 \(50 %\) asks for it once it has held 60 s healthy/,
    );

    await healthy(c, 30);
    await clockAhead(c, 122);
    await alarm(c);
    let s = await c.status();
    expect(s).toMatchObject({
      state: "running",
      percent: 50,
      plan: { index: 1, waitingFor: expect.stringMatching(WAITING) },
    });
    expect(s.plan!.awaitingApproval).toMatchObject({ timeoutSeconds: null, onTimeout: "wait", timedOut: false });
    const wait = (await c.history(1))[0];
    expect(wait).toMatchObject({ kind: "approval-wait", actor: "controller", data: { index: 1, percent: 50 } });
    expect(wait.reason).toMatch(WAITING);

    // However long nobody answers, and whatever reports come, it waits (one event, not one per report).
    await clockAhead(c, 5000);
    await healthy(c, 30);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(50);
    expect((await kinds(c)).filter((k) => k === "approval-wait")).toHaveLength(1);

    s = await c.action("approve", { actor: "alice", reason: "dashboards look good", note: "on call" });
    expect(s).toMatchObject({ percent: 100, plan: { index: 2, awaitingApproval: null } });
    expect((await kvDoc()).percent).toBe(100);
    const [step, approve] = await c.history(2);
    expect(approve).toMatchObject({
      kind: "approve",
      actor: "alice",
      reason: "dashboards look good",
      data: { index: 1, percent: 50, note: "on call", onTimeout: "wait", approveTimeoutSeconds: null },
    });
    expect(approve.data!.waitedSeconds).toBeGreaterThanOrEqual(4800);
    expect(step).toMatchObject({ kind: "step", actor: "controller", data: { to: 100 } });
    expect(step.reason).toMatch(/approved by alice: on to 100 %$/);
    expect(await refusal(c.action("approve", { actor: "alice" }))).toMatch(/step 3\/3 \(100 %\) does not ask for one/);
  });

  it("health is still judged while waiting: a failing canary is rolled back, and approve no longer applies", async () => {
    const c = controller();
    await putDoc(planWith({}));
    await waitingAt50(c);
    const fp = (await c.status()).config.fingerprint;
    await c.report(report(fp, counters(30, 20), counters(300)));
    expect(await c.status()).toMatchObject({ state: "rolled-back", plan: null, percent: 0 });
    expect(await refusal(c.action("approve", { actor: "alice" }))).toMatch(/no staged plan is running/);
  });

  it('onTimeout "wait" (the default): one approval-timeout event at the timeout, then still waiting', async () => {
    const c = await pastTimeout({});
    await alarm(c);
    await alarm(c);
    expect((await kvDoc()).percent).toBe(50);
    const s = await c.status();
    expect(s.plan!.awaitingApproval).toMatchObject({ timeoutSeconds: 600, onTimeout: "wait", timedOut: true });
    expect(s.plan!.waitingFor).toMatch(/, past its 600 s timeout: `edgeshift approve` to go on$/);
    expect((await kinds(c)).filter((k) => k === "approval-timeout")).toHaveLength(1);
    expect((await c.history(1))[0]).toMatchObject({
      kind: "approval-timeout",
      actor: "controller",
      reason: "no approval of step 2/3 (50 %) within 600 s: still waiting (onTimeout wait)",
    });
  });

  it('onTimeout "rollback": the alarm rolls the canary back with the reason; the plan ends', async () => {
    const c = await pastTimeout({ onTimeout: "rollback" });
    await alarm(c);
    const reason = "no approval of step 2/3 (50 %) within 600 s: rolling back (onTimeout rollback)";
    expect(await kvDoc()).toMatchObject({ percent: 0, rolledBack: { reason, release: "v-approve" } });
    expect(await c.status()).toMatchObject({ state: "rolled-back", plan: null });
    expect(await kinds(c, 2)).toEqual(["rollback", "approval-timeout"]);
  });

  it('onTimeout "promote": the step counts as approved by the controller and the plan goes on', async () => {
    const c = await pastTimeout({ onTimeout: "promote" });
    await alarm(c);
    expect((await kvDoc()).percent).toBe(100);
    const [step, timeout] = await c.history(2);
    expect(timeout).toMatchObject({ kind: "approval-timeout", reason: expect.stringMatching(/as if approved/) });
    expect(step.reason).toMatch(/approved by controller: on to 100 %$/);
  });
});

describe("approve over HTTP", () => {
  const post = (body?: string) =>
    SELF.fetch("https://edge.example/__edgeshift/api/actions/approve", {
      method: "POST",
      body,
      headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json" },
    });

  it("409 when nothing waits; once the step waits, 200 with the token's name as the actor and the body's note", async () => {
    await env.ROLLOUT_CONFIG.put(
      "rollout",
      JSON.stringify({
        steps: [{ percent: 20, approve: true }, 100],
        stepSeconds: 60,
        rollback: false,
        release: "v-http",
      }),
    );
    const early = await post();
    expect(early.status).toBe(409);
    expect((await early.json<{ error: string }>()).error).toMatch(
      /^nothing waits for approval yet: step 1\/2 \(20 %\)/,
    );

    const ctl = controllerStub(env);
    await clockAhead(ctl, 61);
    await alarm(ctl);
    expect((await ctl.status()).plan!.waitingFor).toMatch(/^approval of step 1\/2 \(20 %\) since /);
    const r = await post(JSON.stringify({ note: "erin", reason: "support is staffed" }));
    expect(r.status).toBe(200);
    expect((await r.json<any>()).status).toMatchObject({ percent: 100, plan: { index: 1 } });
    const ev = (await ctl.history(2))[1];
    expect(ev).toMatchObject({ kind: "approve", actor: "admin", reason: "support is staffed", data: { note: "erin" } });
    await ctl.settle();
  });
});
