// The aggregation tier inside workerd: real ReportAggregator objects in front of real controllers.
// Isolates' reports reach the root exactly merged, at most one forward per interval, a rollback
// decided at the root reaches isolates in their aggregator's next answer, and a failing root loses
// no counts within the bound.
import { env, runInDurableObject } from "cloudflare:test";
import { expect, it, vi } from "vitest";
import type { ReportAggregator } from "../../src/aggregator/durable-object";
import { aggregatorStub, type AggregatorRpc } from "../../src/aggregator/rpc";
import { controllerStub, type ControllerRpc } from "../../src/controller/rpc";
import type { Report } from "../../src/model/protocol";
import { Recorder } from "../../src/telemetry/recorder";
import { parseRollout } from "../../src/model/parse";
import { aggregatorNameOf, toController } from "../../src/worker/telemetry";
import type { Env } from "../../src/env";
import { counters, putDoc, refusal, report } from "./controller-helpers";

let n = 0;

/** A fresh root and a fresh aggregator forwarding to it every `everyMs` (no jitter: the test counts intervals). */
async function tier(
  everyMs = 300,
): Promise<{ root: ControllerRpc; agg: AggregatorRpc; name: string; rootName: string }> {
  const rootName = `test-root-${Date.now()}-${n++}`;
  const name = `test:${n++}`;
  const agg = aggregatorStub(env, name);
  await seam(name, (o) => {
    o.rootName = rootName;
    o.everyMs = everyMs;
    o.jitterMs = 0;
  });
  return { root: controllerStub(env, rootName), agg, name, rootName };
}

function seam<T>(name: string, fn: (o: ReportAggregator) => T): Promise<T> {
  const stub = env.AGGREGATOR!.get(env.AGGREGATOR!.idFromName(name)) as unknown as DurableObjectStub<ReportAggregator>;
  return runInDurableObject(stub, (o: ReportAggregator) => fn(o));
}

/** Isolate i's report: its own crowd plus visitors 1–5 (on networks 1–5), whom every isolate sees. */
function isolateReport(fp: string, i: number): Report {
  const r = report(fp, counters(10, i % 3 === 0 ? 1 : 0), counters(20));
  const green = r.batches[0].contributors!.green!;
  for (let v = 1; v <= 5; v++) (green.v.push(v), green.n.push(v), green.r.push(2), green.e.push(0));
  r.batches[0].slots.green!.requests += 10;
  r.batches[0].slots.green!.latency[2] += 10;
  return { ...r, isolate: `iso-${i}`, dropped: i % 2 };
}

const doc = { percent: 30, release: "r1", rollback: { minRequests: 20, windowSeconds: 60 } };

it("isolates' reports through an aggregator reach the root exactly as if each had reported directly", async () => {
  const { fp } = await putDoc(doc);
  const { root, agg } = await tier();
  const direct = controllerStub(env, `test-direct-${Date.now()}-${n++}`);
  const reports = Array.from({ length: 12 }, (_, i) => isolateReport(fp, i));
  await Promise.all(reports.map((r) => agg.report(structuredClone(r))));
  for (const r of reports) await direct.report(structuredClone(r));

  await vi.waitFor(
    async () => {
      if ((await root.status()).reports.received < 12) throw new Error("not forwarded yet");
    },
    { timeout: 5000, interval: 50 },
  );
  const [viaTier, viaDirect] = [await root.status(), await direct.status()];
  expect(viaTier.reports).toMatchObject({ received: 12, droppedByIsolates: 6 });
  expect(viaTier.window).toEqual(viaDirect.window);
  // Verdict details name distinct visitors and networks: visitors 1–5 of every isolate are 5 people, not 60.
  expect(viaTier.health).toEqual(viaDirect.health);
  expect(viaTier.window.canary.requests).toBe(12 * 20);
});

it("forwards at most one report per interval, whatever the number of isolates' reports", async () => {
  const { fp } = await putDoc(doc);
  const everyMs = 300;
  const { root, agg, name } = await tier(everyMs);
  await agg.view();
  const started = Date.now();
  // 60 isolates' reports, spread over about 1.2 s.
  for (let i = 0; i < 60; i++) {
    await agg.report(isolateReport(fp, i));
    await new Promise((r) => setTimeout(r, 20));
  }
  await vi.waitFor(
    async () => {
      if ((await root.status()).reports.received < 60) throw new Error("not all forwarded yet");
    },
    { timeout: 5000, interval: 50 },
  );
  const elapsed = Date.now() - started;
  const stats = await seam(name, (o) => ({ ...o.stats }));
  expect(stats.reports).toBe(60);
  // One root call (report or view) per interval at most: the first right away, then one per everyMs.
  expect(stats.forwards + stats.viewCalls - 1).toBeLessThanOrEqual(Math.ceil(elapsed / everyMs) + 1);
  expect(stats.forwards).toBeLessThan(15);
});

it("a rollback decided at the root reaches an isolate in its aggregator's next answer, with ageMs", async () => {
  const { fp } = await putDoc({ ...doc, percent: 50, rollback: { minRequests: 10, relative: false } });
  const { root, agg } = await tier(300);
  const first = await agg.view();
  expect(first.revision).toBe(0);
  expect(first.ageMs).toBeGreaterThanOrEqual(0);

  // The operator aborts at the root directly (never through the tier).
  await root.action("abort", { actor: "test", reason: "bad build" });
  const decided = (await root.view()).revision;
  const t0 = Date.now();
  let seen = first;
  await vi.waitFor(
    async () => {
      seen = await agg.report(report(fp, counters(1), counters(1)));
      if (seen.revision < decided) throw new Error("aggregator has not heard yet");
    },
    { timeout: 3000, interval: 20 },
  );
  expect(seen.doc?.rolledBack?.reason).toBe("bad build");
  // Heard within about one interval of the decision; the answer says how old the root's word is.
  expect(Date.now() - t0).toBeLessThan(300 * 3);
  expect(seen.ageMs).toBeGreaterThanOrEqual(0);
  expect(seen.ageMs).toBeLessThan(300 * 3);

  // A rollback decided on the aggregator's own forward is in its very next answer.
  const { fp: fp2 } = await putDoc({
    ...doc,
    percent: 50,
    release: "r2",
    rollback: { minRequests: 10, relative: false },
  });
  const t2 = await tier(300);
  const before = await t2.agg.view();
  await t2.agg.report(report(fp2, counters(30, 30), counters(30)));
  await vi.waitFor(
    async () => {
      if ((await t2.root.status()).state !== "rolled-back") throw new Error("root has not rolled back yet");
    },
    { timeout: 3000, interval: 20 },
  );
  const next = await t2.agg.view();
  expect(next.revision).toBeGreaterThan(before.revision);
  expect(next.doc?.rolledBack).toBeTruthy();
});

it("an idle aggregator's view request waits for the root's word of now rather than hand out an old one", async () => {
  await putDoc(doc);
  const { root, agg, name } = await tier(200);
  await seam(name, (o) => void (o.waitAfterMs = 300));
  expect((await agg.view()).revision).toBe(0);
  // Its background refresh (asked for by that view request) has happened; then nobody calls it.
  await new Promise((r) => setTimeout(r, 400));
  await root.action("abort", { actor: "test", reason: "bad build" });
  await new Promise((r) => setTimeout(r, 400));
  const v = await agg.view();
  expect(v.doc?.rolledBack?.reason).toBe("bad build");
  expect(v.ageMs).toBeLessThan(300);
});

it("a failing root loses no counts within the bound: kept, merged, sent once it answers", async () => {
  const { fp } = await putDoc(doc);
  const { root, agg, name } = await tier(200);
  await agg.view();
  await seam(name, (o) => void (o.failNextRootCalls = 3));
  for (let i = 0; i < 10; i++) {
    const view = await agg.report(isolateReport(fp, i));
    // Isolates are answered at once, from the view held, whatever the root does.
    expect(view.revision).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
  }
  await vi.waitFor(
    async () => {
      if ((await root.status()).reports.received < 10) throw new Error("not delivered yet");
    },
    { timeout: 8000, interval: 100 },
  );
  const status = await root.status();
  expect(status.reports.received).toBe(10);
  expect(status.window.canary.requests).toBe(10 * 20);
  const stats = await seam(name, (o) => ({ ...o.stats }));
  expect(stats.failures).toBe(3);
  expect(stats.partsDropped).toBe(0);
  expect(await agg.pending()).toEqual({ parts: 0, reports: 0 });
});

it("a cold aggregator that cannot reach the root fails the call and merges nothing (no double count on retry)", async () => {
  const { fp } = await putDoc(doc);
  const { root, agg, name } = await tier(200);
  await seam(name, (o) => void (o.failNextRootCalls = 1));
  expect(await refusal(agg.report(isolateReport(fp, 0)))).toMatch(/could not reach the root controller/);
  expect(await agg.pending()).toEqual({ parts: 0, reports: 0 });
  // Within the backoff the next call fails at once; after it, the call goes through.
  expect(await refusal(agg.view())).toMatch(/retrying after/);
  await new Promise((r) => setTimeout(r, 500));
  await agg.report(isolateReport(fp, 1));
  await vi.waitFor(
    async () => {
      if ((await root.status()).reports.received < 1) throw new Error("not delivered yet");
    },
    { timeout: 3000, interval: 50 },
  );
  expect((await root.status()).reports.received).toBe(1);
});

it("the Worker's transport sends an isolate's reports to its location's aggregator, not to the root", async () => {
  const { text } = await putDoc(doc);
  const parsed = parseRollout(text);
  if (!parsed.ok) throw new Error(parsed.summary);
  const routed = { fingerprint: parsed.fingerprint, doc: parsed.doc };
  const e = env as Env;
  const name = aggregatorNameOf(e);
  expect(name).toMatch(/^local:[01]$/);
  let now = Date.now();
  const rec = new Recorder({ ...toController, now: () => now });
  await rec.refreshView(e);
  const before = await seam(name, (o) => ({ ...o.stats }));
  rec.record(routed, { slot: "blue", role: "stable", status: 200, error: null, latencyMs: 5, failedOver: false }, 1, 1);
  now += 5000;
  await rec.flush(e);
  expect(rec.stats.flushes).toBe(1);
  const after = await seam(name, (o) => ({ ...o.stats }));
  expect(after.reports).toBe(before.reports + 1);
  // Off: straight to the root, as before the tier.
  const off = { ...e, REPORT_AGGREGATION: "off" };
  rec.record(routed, { slot: "blue", role: "stable", status: 200, error: null, latencyMs: 5, failedOver: false });
  now += 5000;
  const received = (await controllerStub(e).status()).reports.received;
  await rec.flush(off);
  expect((await controllerStub(e).status()).reports.received).toBe(received + 1);
  expect((await seam(name, (o) => ({ ...o.stats }))).reports).toBe(after.reports);
});
