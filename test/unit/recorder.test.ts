import { describe, expect, it } from "vitest";
import { latencyBucketOf } from "../../src/health/histogram";
import {
  Recorder,
  type BackgroundWork,
  FLUSH_EVERY_MS,
  MIN_GAP_MS,
  MAX_BATCHES,
  type Outcome,
  type Routed,
} from "../../src/telemetry/recorder";
import { rolloutSchema } from "../../src/model/rollout";
import type { ControllerView, Report } from "../../src/model/protocol";

/** The recorder passes its transport target through untouched; a unit test needs none. */
const env = {};
const doc = rolloutSchema.parse({ percent: 10, release: "v2" });
const routed = (fingerprint = "fp-a"): Routed => ({ fingerprint, doc });
const ok = (role: "canary" | "stable" = "canary"): Outcome => ({
  slot: role === "canary" ? "green" : "blue",
  role,
  status: 200,
  error: null,
  latencyMs: 12,
  failedOver: false,
});
const fail = (over: Partial<Outcome> = {}): Outcome => ({ ...ok("canary"), status: 500, ...over });
const view = (revision: number): ControllerView => ({ revision, doc, fingerprint: "x" + revision, supersedes: [] });

function harness(answer: (r: Report) => Promise<ControllerView> = async () => view(1)) {
  let now = 1_000_000;
  const sent: Report[] = [];
  const waits: Promise<unknown>[] = [];
  const rec = new Recorder({
    now: () => now,
    send: async (_e, r) => {
      sent.push(structuredClone(r));
      return answer(r);
    },
    fetchView: async () => view(0),
    isolateId: "iso",
    timeoutMs: 300,
  });
  const ctx: BackgroundWork = { waitUntil: (p: Promise<unknown>) => void waits.push(p) };
  return {
    rec,
    sent,
    ctx,
    tick: (ms: number) => (now += ms),
    settle: () => Promise.all(waits.splice(0)),
    /** What a request `ms` later does: maybeFlush, then the background work it started, awaited. */
    async requestAfter(ms: number) {
      now += ms;
      rec.maybeFlush(ctx, env);
      await Promise.all(waits.splice(0));
    },
  };
}

describe("Recorder counting", () => {
  it("counts per document version and slot: requests, errors by kind, failovers, latency", () => {
    const { rec } = harness();
    rec.record(routed(), ok("canary"));
    rec.record(routed(), fail());
    rec.record(routed(), fail({ status: null, error: "network", failedOver: true }));
    rec.record(routed(), fail({ status: null, error: "timeout", latencyMs: 10_000 }));
    rec.record(routed(), { ...ok("canary"), status: 404 });
    rec.record(routed(), ok("stable"));
    rec.record(routed("fp-b"), ok("stable"));
    const [a, b] = rec.pending();
    expect(a.fingerprint).toBe("fp-a");
    expect(a.release).toBe("v2");
    expect(a.slots.green).toMatchObject({
      requests: 5,
      errors5xx: 1,
      errorsNetwork: 1,
      errorsTimeout: 1,
      failovers: 1,
    });
    // The network failure has no latency; the timeout counts at its limit.
    expect(a.slots.green!.latency.reduce((s, x) => s + x, 0)).toBe(4);
    expect(a.slots.blue!.requests).toBe(1);
    expect(b.fingerprint).toBe("fp-b");
  });

  it("counts new visitors and shadow outcomes apart", () => {
    const { rec } = harness();
    rec.recordNewVisitor(routed(), "green");
    rec.recordNewVisitor(routed(), "blue");
    rec.recordNewVisitor(routed(), "blue");
    rec.recordShadow(routed(), { status: 200, error: null, latencyMs: 5, matched: true });
    rec.recordShadow(routed(), { status: 200, error: null, latencyMs: 5, matched: false });
    rec.recordShadow(routed(), { status: 502, error: null, latencyMs: 5, matched: false });
    rec.recordShadow(routed(), { status: 200, error: null, latencyMs: 5, matched: null });
    const [a] = rec.pending();
    expect(a.newVisitors).toEqual({ green: 1, blue: 2 });
    expect(a.shadow).toMatchObject({ mirrored: 4, mismatches: 2, errors: 1, notCompared: 1 });
    expect(a.slots).toEqual({});
  });

  it("keeps memory bounded whatever the traffic: 1e6 outcomes over many versions", () => {
    const { rec } = harness();
    rec.record(routed("fp-0"), ok());
    const sizes = new Set<string>();
    for (let i = 0; i < 1_000_000; i++) {
      const fp = "fp-" + Math.floor(i / 1000); // a new document version every 1000 requests
      rec.record(routed(fp), i % 7 ? ok(i % 2 ? "canary" : "stable") : fail());
      if (i % 10 === 0) rec.recordShadow(routed(fp), { status: 200, error: null, latencyMs: i % 500, matched: true });
      if (i % 50_000 === 500) sizes.add(JSON.stringify(rec.footprint()));
    }
    const f = rec.footprint();
    expect(f.batches).toBe(MAX_BATCHES);
    expect(JSON.stringify(rec.pending()).length).toBeLessThan(20_000);
    // After warm-up the footprint is the same at every sample.
    expect([...sizes].slice(1).every((s) => s === JSON.stringify(f))).toBe(true);
    // Versions pushed out were counted as dropped, never silently lost.
    expect(rec.stats.batchesDropped).toBe(1000 - MAX_BATCHES);
    expect(rec.dropped).toBe(rec.stats.batchesDropped);
  });
});

describe("Recorder flush policy", () => {
  it("does not flush without data, flushes every 2 s with data", async () => {
    const h = harness();
    expect(h.rec.flushDue(Date.now())).toBe(false);
    h.rec.record(routed(), ok());
    await h.requestAfter(0);
    expect(h.sent).toHaveLength(0);
    await h.requestAfter(FLUSH_EVERY_MS - 1);
    expect(h.sent).toHaveLength(0);
    await h.requestAfter(1);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatchObject({ isolate: "iso", dropped: 0 });
    expect(h.sent[0].batches[0].slots.green!.requests).toBe(1);
    expect(h.rec.pending()).toEqual([]);
  });

  it("flushes sooner when canary errors pile up, but not more often than every 250 ms", async () => {
    const h = harness();
    h.rec.record(routed(), ok());
    h.rec.maybeFlush(h.ctx, env); // starts the interval
    for (let i = 0; i < 3; i++) h.rec.record(routed(), fail());
    await h.requestAfter(MIN_GAP_MS - 1);
    expect(h.sent).toHaveLength(0);
    await h.requestAfter(1);
    expect(h.sent).toHaveLength(1);
    // Stable errors do not hurry a flush.
    for (let i = 0; i < 5; i++) h.rec.record(routed(), { ...fail(), slot: "blue", role: "stable" });
    await h.requestAfter(MIN_GAP_MS);
    expect(h.sent).toHaveLength(1);
  });

  it("keeps one flush in flight; a slow controller is given up after the timeout and counted", async () => {
    let release!: (v: ControllerView) => void;
    const h = harness(() => new Promise((r) => (release = r)));
    h.rec.record(routed(), ok());
    h.tick(FLUSH_EVERY_MS);
    const first = h.rec.flush(env);
    h.rec.record(routed(), ok());
    h.tick(FLUSH_EVERY_MS);
    expect(h.rec.flushDue(Date.now())).toBe(false); // in flight
    await h.rec.flush(env); // no-op while in flight
    expect(h.sent).toHaveLength(1);
    // The recorder's own timeout (300 ms in this harness) gives up on the slow answer.
    await first.then(() => undefined);
    expect(h.rec.dropped).toBe(1);
    expect(h.rec.stats.failures).toBe(1);
    release(view(9)); // the late answer must not matter
    // The next report tells the controller how many were dropped, then the count resets.
    h.tick(FLUSH_EVERY_MS);
    await h.rec.flush(env);
    expect(h.sent[1].dropped).toBe(1);
  });

  it("skipped shadow mirrors go with the next report; kept while the controller fails, cleared once sent", async () => {
    let fail = true;
    const h = harness(async () => {
      if (fail) throw new Error("DO overloaded");
      return view(1);
    });
    h.rec.record(routed(), ok());
    h.rec.recordMirrorSkipped();
    h.rec.recordMirrorSkipped();
    h.tick(FLUSH_EVERY_MS);
    await h.rec.flush(env);
    expect(h.sent[0].mirrorsSkipped).toBe(2);
    expect(h.rec.mirrorsSkipped).toBe(2);
    fail = false;
    h.rec.record(routed(), ok());
    h.rec.recordMirrorSkipped();
    h.tick(FLUSH_EVERY_MS);
    await h.rec.flush(env);
    expect(h.sent[1].mirrorsSkipped).toBe(3);
    expect(h.rec.mirrorsSkipped).toBe(0);
    h.rec.record(routed(), ok());
    h.tick(FLUSH_EVERY_MS);
    await h.rec.flush(env);
    expect(h.sent[2].mirrorsSkipped).toBeUndefined();
  });

  it("drops and counts a report the controller fails on, and never throws", async () => {
    const h = harness(async () => {
      throw new Error("DO overloaded");
    });
    h.rec.record(routed(), ok());
    await h.requestAfter(FLUSH_EVERY_MS);
    expect(h.rec.dropped).toBe(1);
    expect(h.rec.pending()).toEqual([]);
  });

  it("adopts a view only if its revision is at least the one held", () => {
    const { rec } = harness();
    rec.adopt(view(5));
    rec.adopt(view(3));
    expect(rec.view.revision).toBe(5);
    rec.adopt(view(5));
    rec.adopt(view(6));
    expect(rec.view.revision).toBe(6);
    rec.adopt(null);
    expect(rec.view.revision).toBe(6);
  });

  it("a cold isolate's first request fetches the view in the background", async () => {
    const h = harness();
    h.rec.maybeFlush(h.ctx, env);
    await h.requestAfter(0);
    expect(h.rec.stats.viewFetches).toBe(1);
    expect(h.sent).toHaveLength(0);
  });

  it("takes the flush answer's view", async () => {
    const h = harness(async () => view(7));
    h.rec.record(routed(), ok());
    await h.rec.flush(env);
    expect(h.rec.view.revision).toBe(7);
  });
});

describe("attribution (second reading of issue 9)", () => {
  it("a flood of minted ids from one network keeps to its own entry; other networks' visitors stay listed", () => {
    const h = harness();
    for (let i = 0; i < 5000; i++) h.rec.record(routed(), ok(), 10_000 + i, 7);
    h.rec.record(routed(), { ...ok(), latencyMs: 900 }, 42, 8);
    h.rec.record(routed(), { ...ok(), latencyMs: 30 }, 42, 8);
    const c = h.rec.pending()[0].contributors!.green!;
    expect(c.ur ?? 0).toBe(0); // before: 3,000 of the flood and visitor 42 were unattributed
    expect(c.v.length).toBe(64 + 1 + 1);
    const flood = c.v.indexOf(-2 - 7);
    expect(c.r[flood]).toBe(5000 - 64);
    const i = c.v.indexOf(42);
    expect([c.n[i], c.r[i], c.m![i]]).toEqual([8, 2, latencyBucketOf(900)]); // m: the slowest, merged by max
  });
});
