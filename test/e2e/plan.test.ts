// Staged plans end to end: `wrangler dev`, two real origins, the real `wrangler kv key put --local`,
// simulated visitors with cookie jars, the admin API with the stack's token. Real time: the plan's
// steps are 2–3 s and the controller's alarms drive them.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startTraffic, type Traffic } from "../../scripts/lib/traffic";

let stack: DevStack;
let traffic: Traffic;
beforeAll(async () => {
  stack = await startDevStack();
  traffic = startTraffic({ url: stack.url, visitors: 300, rate: 40, postShare: 0 });
});
afterAll(async () => {
  await traffic?.stop();
  await stack?.stop();
});

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const r = await fetch(`${stack.url}/__edgeshift/api${path}`, {
    ...init,
    headers: { authorization: `Bearer ${stack.adminToken}`, "content-type": "application/json" },
  });
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json() as Promise<T>;
}
const kinds = async () =>
  (await api<{ events: { kind: string; reason: string; data?: Record<string, unknown> }[] }>("/history?limit=50"))
    .events;

it("stops with a rollback when the canary starts failing mid-plan", async () => {
  await stack.putRollout({
    steps: [10, 50, 100],
    stepSeconds: 3,
    release: "e2e-plan-fail",
    rollback: { minRequests: 10, windowSeconds: 30 },
  });
  // Healthy until the plan has moved past its first step.
  await waitFor("the plan to reach 50 %", async () => (await stack.getRollout())?.percent === 50, 60_000, 300);
  const s = await api<any>("/status");
  expect(s.plan).toMatchObject({ index: 1, steps: [{ percent: 10 }, { percent: 50 }, { percent: 100 }] });

  stack.green.setMode({ errorRate: 1, failStatus: 500 });
  try {
    const doc = await waitFor(
      "KV to show the rollback",
      async () => {
        const d = await stack.getRollout();
        return d?.rolledBack ? d : null;
      },
      60_000,
      300,
    );
    expect(doc).toMatchObject({ percent: 0, release: "e2e-plan-fail", steps: [10, 50, 100] });
    const after = await api<any>("/status");
    expect(after).toMatchObject({ state: "rolled-back", plan: null, percent: 0 });
    const events = (await kinds()).map((e) => e.kind);
    expect(events.indexOf("rollback")).toBeLessThan(events.indexOf("step"));
    // The plan has ended: one more step's hold later nothing has moved the canary back up.
    await new Promise((r) => setTimeout(r, 4000));
    expect((await stack.getRollout()).percent).toBe(0);
    expect((await kinds())[0].kind).not.toBe("step");
  } finally {
    stack.green.setMode({ errorRate: 0, failStatus: 500, delayMs: 0 });
  }
});

it("a plan [10, 50, 100] with short steps reaches 100 and promotes on a healthy canary", async () => {
  await stack.putRollout({
    steps: [10, 50, 100],
    stepSeconds: 2,
    release: "e2e-plan-ok",
    rollback: { minRequests: 10, windowSeconds: 30 },
  });
  const doc = await waitFor(
    "the plan to promote green",
    async () => {
      const d = await stack.getRollout();
      return d?.canary === "blue" ? d : null;
    },
    90_000,
    200,
  );
  // The blue/green switch: green (the build under test) is stable, blue is the idle canary.
  expect(doc).toMatchObject({ canary: "blue", percent: 0, stepSeconds: 2 });
  expect(doc.steps).toBeUndefined();
  expect(doc.rolledBack).toBeUndefined();

  // Every step was written (a KV sample every 200 ms through `wrangler kv key get` can miss a 2 s
  // step on a loaded machine; the controller's step events cannot).
  const events = await kinds();
  const run = events.slice(0, events.findIndex((e) => e.kind === "plan-start") + 1).reverse();
  expect(run.filter((e) => e.kind === "step").map((e) => e.data?.to)).toEqual([50, 100]);
  const since = run.map((e) => e.kind);
  // 2 s steps are shorter than the isolates' report interval, so a step may first be extended
  // ("plan-extended": not enough canary requests yet) and advance on the next report.
  expect(since.filter((k) => k !== "plan-extended")).toEqual([
    "plan-start",
    "step",
    "step",
    "plan-complete",
    "promote",
  ]);
  expect(events.find((e) => e.kind === "sample-ratio")).toBeUndefined();
  const s = await api<any>("/status");
  expect(s).toMatchObject({ roles: { canary: "blue", stable: "green" }, percent: 0, plan: null });

  // Everyone ends up on green (isolates learn within a flush or a config TTL): a run of 40 answers
  // in which blue served nothing.
  await waitFor(
    "a run of traffic answered by green alone",
    async () => {
      const b = stack.blue.hits;
      const g = stack.green.hits;
      while (stack.green.hits - g < 40) await new Promise((r) => setTimeout(r, 100));
      return stack.blue.hits === b;
    },
    30_000,
    0,
  );
  expect(traffic.totals.errors5xx).toBe(0);
});
