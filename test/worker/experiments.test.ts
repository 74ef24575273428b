// Experiments through the whole loop inside workerd: goals declared beside the flags, reached by
// real requests to the real origins (a request pattern and an origin's signal), recorded per
// visitor by the real Worker, counted by the real controller per arm — for the rollout's split and
// for a guarded flag — and shown in the status, exactly: each visitor once per goal.
import { abortAllDurableObjects, env } from "cloudflare:test";
import { afterAll, expect, it, vi } from "vitest";
import { controllerStub } from "../../src/controller/rpc";
import { recorder } from "../../src/worker/telemetry";
import { echo, get, useRollout, visitorCookieOf } from "./helpers";
import { expireConfigCache } from "../../src/worker/config-cache";
import { counters, freshController, putDoc, report } from "./controller-helpers";

const run = Math.random().toString(36).slice(2, 8);
const FLAG = `cta-${run}`;

afterAll(async () => {
  await env.ROLLOUT_CONFIG.delete("flags");
});

interface Visitor {
  cookie: string;
  ip: string;
  slot: string;
  treated: boolean;
}

it("counts each visitor once per goal in its arm, for the rollout's split and for a guarded flag", async () => {
  await env.ROLLOUT_CONFIG.put(
    "flags",
    JSON.stringify({
      flags: { [FLAG]: { rollout: { percent: 50 }, guard: { minRequests: 1000 } } },
      goals: {
        checkout: { method: "POST", path: "/checkout", status: "2xx" },
        signup: { signal: "signup" },
        "never-reached": { path: "/nowhere" },
      },
    }),
  );
  expireConfigCache();
  await useRollout({ percent: 50, release: `exp-${run}` });

  // 40 visitors, each on its own network: a first page view tells which arm each is in.
  const visitors: Visitor[] = [];
  // A view the canary gate diverted to stable (no fresh verdict within 250 ms, a loaded machine) is
  // not recorded and does not show the visitor's arm: the visitor looks again (the explain header says which).
  const EXPLAIN = { "x-edgeshift-explain": "test-admin-token-0123456789abcdef" };
  for (let i = 0; i < 40; i++) {
    const ip = `10.77.${i}.9`;
    let { r, j } = await echo(`/page/${i}`, { headers: { "cf-connecting-ip": ip, ...EXPLAIN } });
    const cookie = visitorCookieOf(r)!;
    expect(cookie).toBeTruthy();
    for (let k = 0; k < 10 && /diverted=no-fresh-verdict/.test(r.headers.get("x-edgeshift-explain") ?? ""); k++)
      ({ r, j } = await echo(`/page/${i}`, {
        headers: { "cf-connecting-ip": ip, cookie: `edgeshift_vid=${cookie}`, ...EXPLAIN },
      }));
    visitors.push({
      cookie,
      ip,
      slot: j.headers["x-edgeshift-slot"],
      treated: JSON.parse(j.headers["x-edgeshift-flags"])[FLAG] === true,
    });
  }
  const headersOf = (v: Visitor) => ({ cookie: `edgeshift_vid=${v.cookie}`, "cf-connecting-ip": v.ip });
  // Every third visitor checks out, twice (a reload); every fourth signs up, three times. A GET of
  // /checkout is no checkout, and a 4xx answer to the POST is none either.
  for (const [i, v] of visitors.entries()) {
    if (i % 3 === 0)
      for (let k = 0; k < 2; k++)
        await (await get("/checkout", { method: "POST", headers: headersOf(v), body: "{}" })).arrayBuffer();
    if (i % 3 === 1) await (await get("/checkout", { headers: headersOf(v) })).arrayBuffer();
    if (i % 4 === 0)
      for (let k = 0; k < 3; k++) {
        const r = await get("/respond?h=x-edgeshift-goal:signup,%20other", { headers: headersOf(v) });
        // The origin's signal is for edgeshift: the visitor never sees it.
        expect(r.headers.get("x-edgeshift-goal")).toBeNull();
        await r.arrayBuffer();
      }
  }
  await recorder.flush(env);

  const expected = (inArm: (v: Visitor) => boolean) => {
    const idx = visitors.map((v, i) => [v, i] as const).filter(([v]) => inArm(v));
    return {
      visitors: idx.length,
      checkout: idx.filter(([, i]) => i % 3 === 0).length,
      signup: idx.filter(([, i]) => i % 4 === 0).length,
    };
  };
  const green = expected((v) => v.slot === "green");
  const blue = expected((v) => v.slot === "blue");
  const treated = expected((v) => v.treated);
  const control = expected((v) => !v.treated);
  expect(green.visitors).toBeGreaterThan(5);
  expect(blue.visitors).toBeGreaterThan(5);

  await vi.waitFor(
    async () => {
      const status = await controllerStub(env).status();
      const rollout = status.experiments?.find((e) => e.subject === "rollout");
      expect(rollout?.result.rawVisitors).toEqual({ control: blue.visitors, treatment: green.visitors });
    },
    { timeout: 10_000, interval: 100 },
  );
  const status = await controllerStub(env).status();
  const rollout = status.experiments!.find((e) => e.subject === "rollout")!;
  expect(rollout).toMatchObject({
    key: `exp-${run}`,
    arms: { control: "blue", treatment: "green" },
    percent: 50,
    active: true,
  });
  const goal = (name: string) => rollout.result.goals.find((g) => g.goal === name)!;
  expect(goal("checkout").control.conversions).toBe(blue.checkout);
  expect(goal("checkout").treatment.conversions).toBe(green.checkout);
  expect(goal("signup").control.conversions).toBe(blue.signup);
  expect(goal("signup").treatment.conversions).toBe(green.signup);
  // A goal nobody reached is still listed, at zero; under 100 visitors an arm there is no interval.
  expect(goal("never-reached")).toMatchObject({ state: "collecting", interval: null, treatment: { conversions: 0 } });
  expect(goal("checkout").treatment.rate).toBeCloseTo(green.checkout / green.visitors, 9);

  const flag = status.experiments!.find((e) => e.subject === "flag" && e.key === FLAG)!;
  expect(flag.arms).toEqual({ control: "control", treatment: "treatment" });
  expect(flag.result.rawVisitors).toEqual({ control: control.visitors, treatment: treated.visitors });
  const flagGoal = (name: string) => flag.result.goals.find((g) => g.goal === name)!;
  expect(flagGoal("checkout").treatment.conversions).toBe(treated.checkout);
  expect(flagGoal("signup").control.conversions).toBe(control.signup);

  // A restarted controller (a deploy) goes on with the same experiments: nothing lost, and a visitor
  // who converts again after the restart still counts once.
  await controllerStub(env).settle();
  await abortAllDurableObjects();
  for (const v of visitors.slice(0, 8))
    await (await get("/checkout", { method: "POST", headers: headersOf(v), body: "{}" })).arrayBuffer();
  await recorder.flush(env);
  const newCheckouts = (inArm: (v: Visitor) => boolean) =>
    visitors.filter((v, i) => inArm(v) && (i % 3 === 0 || i < 8)).length;
  await vi.waitFor(
    async () => {
      const after = await controllerStub(env).status();
      const r = after.experiments!.find((e) => e.subject === "rollout")!;
      expect(r.result.rawVisitors).toEqual({ control: blue.visitors, treatment: green.visitors });
      const checkout = r.result.goals.find((g) => g.goal === "checkout")!;
      expect([checkout.control.conversions, checkout.treatment.conversions]).toEqual([
        newCheckouts((v) => v.slot === "blue"),
        newCheckouts((v) => v.slot === "green"),
      ]);
      const f = after.experiments!.find((e) => e.subject === "flag" && e.key === FLAG)!;
      expect(f.result.rawVisitors).toEqual({ control: control.visitors, treatment: treated.visitors });
      expect(f.result.goals.find((g) => g.goal === "signup")!.treatment.conversions).toBe(treated.signup);
    },
    { timeout: 10_000, interval: 200 },
  );
});

it("a guardrail shown broken rolls the canary back, with the goal and its figures as the reason", async () => {
  await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ goals: { checkout: { signal: "checkout" } } }));
  expireConfigCache();
  const release = `guard-${run}`;
  await useRollout({ percent: 50, release, guardrails: { checkout: { maxDrop: 0.02 } } });

  // The canary's checkout is broken for most visitors: half of stable's visitors check out, 5 % of the canary's.
  let n = 0;
  const visit = async () => {
    const i = n++;
    const r = await get("/__convert/checkout?blue=0.5&green=0.05", {
      // Each on its own /24: one network weighs at most 20 visitors an arm (src/experiments/tally.ts).
      headers: { "cf-connecting-ip": `10.${88 + (i >> 8)}.${i & 255}.9` },
    });
    await r.arrayBuffer();
  };
  await vi.waitFor(
    async () => {
      await Promise.all(Array.from({ length: 40 }, visit));
      await recorder.flush(env);
      const status = await controllerStub(env).status();
      expect(status.rolledBack?.reason).toMatch(
        /^guardrail "checkout" dropped beyond -2\.0 points: canary [\d.]+ % vs stable [\d.]+ %/,
      );
    },
    { timeout: 30_000, interval: 100 },
  );
  const status = await controllerStub(env).status();
  expect(status.release).toBe(release);
  expect(status.state).toBe("rolled-back");
  // The experiment stopped counting at the rollback, and says why the guardrail failed.
  const rollout = status.experiments!.find((e) => e.subject === "rollout")!;
  expect(rollout.active).toBe(false);
  const events = await controllerStub(env).history(5);
  expect(events.find((e) => e.kind === "rollback")?.reason).toContain('guardrail "checkout"');
  // More visitors after the rollback (all on stable now): the result stays what it was at the rollback.
  await Promise.all(Array.from({ length: 20 }, visit));
  await recorder.flush(env);
  const after = (await controllerStub(env).status()).experiments!.find((e) => e.subject === "rollout")!;
  expect(after.result).toEqual(rollout.result);
  expect(after.guardrails?.[0].state).toBe("regressed");
});

it("a plan with guardrails reaches its 100 % step and promotes: with no second arm left, the steps before judged them", async () => {
  await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ goals: { checkout: { signal: "checkout" } } }));
  expireConfigCache();
  const release = `rails-plan-${run}`;
  await useRollout({
    percent: 50,
    release,
    steps: [50, 100],
    stepSeconds: 1,
    rollback: { minRequests: 5 },
    guardrails: { checkout: { maxDrop: 0.5 } },
    // Not what this test is about, and at the step to 100 % one visitor still routed at 50 % pauses it.
    sampleRatioCheck: false,
  });
  let n = 0;
  await vi.waitFor(
    async () => {
      await Promise.all(
        Array.from({ length: 40 }, async () => {
          const i = n++;
          const r = await get("/__convert/checkout?blue=0.5&green=0.5", {
            headers: { "cf-connecting-ip": `10.${120 + (i >> 8)}.${i & 255}.9` },
          });
          await r.arrayBuffer();
        }),
      );
      await recorder.flush(env);
      expect((await controllerStub(env).status()).state).toBe("promoted");
    },
    { timeout: 80_000, interval: 200 },
  );
  // This attempt's events, newest first, back to its start.
  const all = (await controllerStub(env).history(20)).map((e) => e.kind);
  const kinds = all.slice(0, all.indexOf("attempt") + 1);
  expect(kinds).toContain("promote");
  expect(kinds).not.toContain("rollback");
}, 100_000);

it("counts only the batches routed by the version in force: the previous attempt's held batch stays out", async () => {
  await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ goals: { signup: { signal: "signup" } } }));
  const c = freshController();
  const quiet = await putDoc({ percent: 0, release: `quiet-${run}` });
  await c.report(report(quiet.fp, null, counters(30)));
  const live = await putDoc({ percent: 50, release: `live-${run}` });
  // The first report after the release: the isolate's batch of the version before it (at percent 0
  // held up to 30 s, everyone on stable) beside the first batch of the new one.
  const held = report(quiet.fp, null, counters(40)).batches[0];
  const first = report(live.fp, counters(10), counters(12));
  await c.report({ ...first, batches: [held, ...first.batches] });
  await vi.waitFor(
    async () => {
      const rollout = (await c.status()).experiments?.find((e) => e.subject === "rollout");
      expect(rollout).toMatchObject({ key: `live-${run}`, percent: 50 });
      expect(rollout!.result.rawVisitors).toEqual({ control: 12, treatment: 10 });
    },
    { timeout: 10_000, interval: 100 },
  );
});
