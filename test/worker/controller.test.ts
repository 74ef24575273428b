// The RolloutController's rules, storage, KV write and stale-copy protection, through its real RPC
// surface inside workerd with real KV and real Durable Object storage.
import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { effectiveRollout } from "../../src/routing/effective";
import { parseRollout } from "../../src/model/parse";
import type { ControllerRpc } from "../../src/controller/rpc";
import type { RolloutController } from "../../src/controller/durable-object";
import type { ControllerContext } from "../../src/controller/context";
import type { Wakes } from "../../src/controller/wakes";
import { controllerById, counters, freshController, kvDoc, putDoc, report } from "./controller-helpers";

// Small windows keep the tests short; the defaults are covered by the unit tests of the rules.
let current: ControllerRpc | null = null;
const controller = () => (current = freshController());
// A rollback writes KV in the background: let it land before the next test writes its document.
afterEach(async () => {
  await current?.settle();
  current = null;
});

const base = {
  percent: 20,
  canary: "green",
  release: "v2",
  salt: "keep-me",
  rollback: { minRequests: 20, windowSeconds: 60 },
};

describe("rollback on a failing canary", () => {
  it("does nothing before minRequests canary requests, however bad", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    const v = await c.report(report(fp, counters(19, 19), counters(100)));
    expect(v.revision).toBe(0);
    expect(v.doc).toBeNull();
    expect((await kvDoc()).percent).toBe(20);
    expect((await c.status()).state).toBe("running");
  });

  it("rolls back: view answers at once, KV gets percent 0 + rolledBack with the figures, operator fields kept, event recorded", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    await c.report(report(fp, counters(10, 1), counters(100)));
    const v = await c.report(report(fp, counters(20, 10), counters(100, 1)));
    await c.settle();
    // The flush answer itself carries the rollback: isolates act on it before KV propagates.
    expect(v.revision).toBe(1);
    expect(v.doc).toMatchObject({ percent: 0, release: "v2", canary: "green" });
    // Weighted by visitor, the heaviest network (here one failing visitor) left out: 10 of 29.
    expect(v.doc!.rolledBack!.reason).toMatch(
      /canary 34\.5 % errors \(10\/29 weighted by visitor, heaviest network left out\)/,
    );
    expect(v.supersedes).toContain(fp);

    const kv = await kvDoc();
    expect(kv).toMatchObject({ percent: 0, canary: "green", release: "v2", salt: "keep-me", rollback: base.rollback });
    expect(kv.rolledBack).toMatchObject({
      release: "v2",
      figures: { canary: { requests: 30, errors: 11 }, stable: { requests: 200, errors: 1 }, tripped: ["error-rate"] },
    });
    expect(Date.parse(kv.rolledBack.at)).toBeGreaterThan(Date.now() - 60_000);

    const s = await c.status();
    expect(s.state).toBe("rolled-back");
    expect(s.percent).toBe(0);
    expect(s.health.healthy).toBe(false);
    expect(s.window.canary).toMatchObject({ requests: 30, errors: 11 });
    expect(s.rolledBack!.reason).toBe(kv.rolledBack.reason);
    // The controller's own rollback names no operator.
    expect(s.rolledBack!.by).toBeUndefined();
    const h = await c.history(10);
    expect(h.map((e) => e.kind)).toEqual(["rollback", "attempt"]);
    expect(h[0]).toMatchObject({ actor: "controller", data: { release: "v2", percent: 20 } });
  });

  it("counts network failures and timeouts as errors, 4xx never reach it as errors", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    const bad = { ...counters(30), errorsNetwork: 4, errorsTimeout: 4 };
    const v = await c.report(report(fp, bad, counters(100)));
    expect(v.doc?.rolledBack).toBeDefined();
  });

  it("equal small error rates on both slots: nothing happens", async () => {
    const c = controller();
    const { fp } = await putDoc({ ...base, rollback: { ...base.rollback, maxErrorRate: 0.01 } });
    for (let i = 0; i < 5; i++) await c.report(report(fp, counters(50, 1), counters(200, 4)));
    const s = await c.status();
    expect(s.window.canary.errorRate).toBeCloseTo(0.02);
    expect(s.health.healthy).toBe(true);
    expect(s.state).toBe("running");
    expect((await kvDoc()).percent).toBe(20);
  });

  it("rollback: false never rolls back", async () => {
    const c = controller();
    const { fp } = await putDoc({ ...base, rollback: false });
    const v = await c.report(report(fp, counters(500, 500), counters(500)));
    expect(v.revision).toBe(0);
    expect((await kvDoc()).percent).toBe(20);
  });

  it("shadow mismatches roll back a canary no user is on yet", async () => {
    const c = controller();
    const { fp } = await putDoc({ ...base, percent: 0, shadowPercent: 10 });
    const v = await c.report(
      report(fp, null, counters(100), {
        shadow: { mirrored: 40, mismatches: 20, notCompared: 0, errors: 0, latency: counters(40).latency },
      }),
    );
    await c.settle();
    expect(v.doc?.rolledBack?.reason).toMatch(/differ from stable/);
    expect((await kvDoc()).rolledBack.figures.tripped).toEqual(["shadow-mismatch"]);
  });
});

describe("storage across restarts", () => {
  it("keeps the window, the state and the events when the object is evicted", async () => {
    const c = controller();
    const id = c.id;
    const { fp } = await putDoc(base);
    await c.report(report(fp, counters(12, 6), counters(100)));
    // Window rows are written within 250 ms of a report (one commit for many reports); an idle
    // object is evicted long after that. settle() stands for that quarter second.
    await c.settle();
    // Kill the instance: in-memory state is gone, only SQLite storage remains.
    await abortAllDurableObjects();
    const again = (current = controllerById(id));
    await expect(again.ping()).resolves.toBe("pong");
    const s = await again.status();
    expect(s.window.canary).toMatchObject({ requests: 12, errors: 6 });
    expect(s.reports.received).toBe(1);
    // The visitor ledger is not persisted: after a restart the quorum starts empty (fails safe), so
    // the 12 persisted requests do not count towards a judgement; 8 more do not roll back…
    const notYet = await again.report(report(fp, counters(8, 4), null));
    expect(notYet.doc?.rolledBack).toBeUndefined();
    // …enough failing visitors reported after the restart do.
    const v = await again.report(report(fp, counters(20, 10), counters(100)));
    expect(v.doc?.rolledBack).toBeDefined();
    await again.settle();
    await abortAllDurableObjects();
    const third = (current = controllerById(id));
    expect((await third.view()).revision).toBe(1);
    expect((await third.history(5)).map((e) => e.kind)).toEqual(["rollback", "attempt"]);
  });
});

describe("attempts and stale copies", () => {
  async function rolledBack() {
    const c = controller();
    const old = await putDoc(base);
    await c.report(report(old.fp, counters(30, 30), counters(100)));
    await c.settle();
    return { c, old };
  }

  it("a stale copy of the pre-rollback document cannot re-enable the canary", async () => {
    const { c, old } = await rolledBack();
    // KV's eventual consistency hands the old text back (here: we put it back ourselves).
    await env.ROLLOUT_CONFIG.put("rollout", old.text);
    const v = await c.report(report(old.fp, counters(5), counters(100)));
    expect(v.doc).toMatchObject({ percent: 0 });
    // An isolate whose cache holds the old text routes by the controller's document.
    const cached = parseRollout(old.text);
    if (!cached.ok) throw new Error("bad doc");
    const eff = effectiveRollout({ doc: cached.doc, fingerprint: cached.fingerprint }, v);
    expect(eff.source).toBe("controller");
    expect(eff.doc.percent).toBe(0);
    expect(eff.doc.rolledBack).toBeDefined();
    expect((await c.history(10)).filter((e) => e.kind === "attempt")).toHaveLength(1);
    expect((await c.status()).state).toBe("rolled-back");
  });

  it("a changed document (bumped attempt) starts a new attempt with a fresh window", async () => {
    const { c } = await rolledBack();
    const next = await putDoc({ ...base, attempt: 2 });
    const v = await c.report(report(next.fp, counters(5), counters(100)));
    // The view still names the old versions as superseded, but not the new one.
    expect(v.supersedes).not.toContain(next.fp);
    const cached = parseRollout(next.text);
    if (!cached.ok) throw new Error("bad doc");
    expect(effectiveRollout({ doc: cached.doc, fingerprint: cached.fingerprint }, v).source).toBe("kv");
    const s = await c.status();
    expect(s.state).toBe("running");
    expect(s.rolledBack).toBeNull();
    expect(s.window.canary.requests).toBe(5);
    const h = await c.history(10);
    expect(h.map((e) => e.kind)).toEqual(["attempt", "rollback", "attempt"]);
    expect(h[0].reason).toMatch(/attempt 2: release v2, canary green at 20 %/);
  });

  it("reports under a superseded document count for stable only", async () => {
    const { c, old } = await rolledBack();
    const next = await putDoc({ ...base, release: "v3" });
    await c.report(report(next.fp, counters(1), counters(1)));
    await c.report(report(old.fp, counters(40, 40), counters(7)));
    const s = await c.status();
    expect(s.window.canary.requests).toBe(1);
    expect(s.window.stable.requests).toBe(8);
    expect(s.state).toBe("running");
  });

  it("an invalid document is reported once and the last good one is kept", async () => {
    const c = controller();
    const good = await putDoc(base);
    await c.report(report(good.fp, counters(1), counters(1)));
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ ...base, precent: 5 }));
    const s = await c.status();
    expect(s.configError!.summary).toMatch(/precent.*did you mean "percent"/);
    expect(s.percent).toBe(20);
    await c.status();
    expect((await c.history(10)).filter((e) => e.kind === "config-error")).toHaveLength(1);
  });
});

describe("operator abort", () => {
  it("abort sets percent 0 with rolledBack naming the operator; a second abort is refused", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    await c.report(report(fp, counters(1), counters(1)));
    const s = await c.action("abort", { actor: "alice", reason: "bad deploy" });
    expect(s.state).toBe("rolled-back");
    expect((await kvDoc()).rolledBack).toMatchObject({ reason: "bad deploy", by: "alice", release: "v2" });
    // Status says who, as the document does (`edgeshift wait` tells an abort from a rollback by it),
    // also after a restart (below).
    expect(s.rolledBack).toMatchObject({ reason: "bad deploy", by: "alice" });
    expect((await c.history(1))[0]).toMatchObject({ kind: "abort", actor: "alice" });
    const refused = await c.action("abort", {}).then(
      () => null,
      (e: Error) => e,
    );
    expect(refused?.message).toMatch(/already rolled back/);
    await abortAllDurableObjects();
    expect((await controller().status()).rolledBack).toMatchObject({ reason: "bad deploy", by: "alice" });
  });
});

describe("alarms shared by concerns", () => {
  // Reaches into the object's private parts (TypeScript-private, reachable at run time): the
  // concerns a test registers stand for the plan and KV-write concerns.
  type Inner = {
    wakes: Wakes;
    context: ControllerContext;
    clock: () => number;
  };
  const inner = (i: unknown) => i as Inner;

  it("sets the alarm to the earliest requested time and runs only the concerns that are due", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    await c.report(report(fp, counters(1), counters(1)));
    const stub = c as unknown as DurableObjectStub<RolloutController>;
    const ran: string[] = [];
    const now = Date.now();
    const alarmAt = await runInDurableObject(stub, async (i, state) => {
      inner(i).wakes.handle("early", () => void ran.push("early"));
      inner(i).wakes.handle("later", () => void ran.push("later"));
      await inner(i).wakes.request("later", now + 60_000);
      await inner(i).wakes.request("early", now + 30_000);
      // Future times (a past alarm would fire on its own); the object's clock says 45 s later.
      inner(i).clock = () => now + 45_000;
      return state.storage.getAlarm();
    });
    expect(alarmAt).toBe(now + 30_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(ran).toEqual(["early"]);
    // The concern not yet due keeps the alarm set for its own time.
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(now + 60_000);
    await runInDurableObject(stub, async (i) => {
      inner(i).clock = () => Date.now();
      await inner(i).wakes.clear("later");
    });
  });

  it("a KV write still owed is made when its alarm runs", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    await c.report(report(fp, counters(1), counters(1)));
    const stub = c as unknown as DurableObjectStub<RolloutController>;
    // As after a failed write: the document is owed, the retry is scheduled.
    const owed = JSON.stringify({ ...base, percent: 0, rolledBack: { at: new Date().toISOString(), reason: "owed" } });
    await runInDurableObject(stub, async (i) => {
      inner(i).context.update({ pendingKvText: owed });
      await inner(i).wakes.request("kv-write", Date.now() + 30_000);
      inner(i).clock = () => Date.now() + 30_000;
    });
    // KV holds a version the controller knows (the operator's base): the write goes ahead.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(owed);
  });
});

describe("status", () => {
  it("has 10-second bins over 10 minutes per slot, and the report counters", async () => {
    const c = controller();
    const { fp } = await putDoc(base);
    await c.report({ ...report(fp, counters(40, 2, 5), counters(60)), dropped: 3, mirrorsSkipped: 4 });
    const s = await c.status();
    expect(s.series).toHaveLength(60);
    expect(s.series.every((p, i) => i === 0 || p.t - s.series[i - 1].t === 10)).toBe(true);
    // The bin the report fell in (the newest, or the one before if a 10 s boundary passed since).
    const last = s.series.filter((p) => p.green.requests > 0);
    expect(last).toHaveLength(1);
    expect(last[0].green).toMatchObject({ requests: 40, errorRate: 0.05, p95: 40 });
    expect(last[0].blue).toMatchObject({ requests: 60, errorRate: 0 });
    expect(s.reports).toMatchObject({ received: 1, droppedByIsolates: 3, mirrorsSkipped: 4 });
    expect(s.roles).toEqual({ canary: "green", stable: "blue" });
    expect(s.config).toMatchObject({ fingerprint: fp, source: "kv" });
    expect(s.window.seconds).toBe(60);
    expect(s.window.shadow).toBeNull();
  });
});
