import { describe, expect, it } from "vitest";
import { latencyBucketOf } from "../../src/health/histogram";
import { VERDICT_MAX_AGE_MS } from "../../src/telemetry/freshness";
import {
  Recorder,
  type BackgroundWork,
  FLUSH_EVERY_MS,
  MIN_GAP_MS,
  MAX_BATCHES,
  CARRY_MAX_MS,
  QUIET_EVERY_MS,
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

function harness(answer: (r: Report) => Promise<ControllerView> = async () => view(1), random = () => 0) {
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
    abandonMs: 200,
    random,
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

  it("flushes sooner when canary errors pile up, but not more often than every 500 ms", async () => {
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

  it("at percent 0 with no rules and no shadow reports every 30 s; a canary request (override) restores the 2 s pace", async () => {
    const quietDoc = rolloutSchema.parse({ percent: 0, release: "v2" });
    const q = (): Routed => ({ fingerprint: "fp-q", doc: quietDoc });
    const h = harness(
      async () => view(1),
      () => 0.5,
    );
    for (let t = 0; t < 10 * 60_000; t += 100) {
      h.rec.record(q(), ok("stable"));
      await h.requestAfter(100);
    }
    expect(h.sent.length).toBeGreaterThanOrEqual(14);
    expect(h.sent.length).toBeLessThanOrEqual((10 * 60_000) / QUIET_EVERY_MS);
    const before = h.sent.length;
    for (let t = 0; t < 10_000; t += 100) {
      h.rec.record(q(), ok(t % 1000 ? "stable" : "canary"));
      await h.requestAfter(100);
    }
    expect(h.sent.length - before).toBeGreaterThanOrEqual(3);
  });

  it("a late answer is used: its view adopted, its counts not re-sent, nothing dropped; the next report backs off", async () => {
    let release!: (v: ControllerView) => void;
    let slow = true;
    const h = harness(() => (slow ? new Promise((r) => (release = r)) : Promise.resolve(view(10))));
    h.rec.record(routed(), ok());
    h.tick(FLUSH_EVERY_MS);
    const callStart = h.tick(0);
    const first = h.rec.flush(env);
    h.rec.record(routed("fp-b"), ok());
    h.tick(FLUSH_EVERY_MS);
    expect(h.rec.flushDue(Date.now())).toBe(false); // in flight
    await h.rec.flush(env); // no-op while in flight
    expect(h.sent).toHaveLength(1);
    h.tick(500); // past the harness's 300 ms: late
    // The answering tier says the view was already 700 ms old when it answered.
    release({ ...view(9), ageMs: 700 });
    await first;
    expect(h.rec.view.revision).toBe(9);
    // Stamped from the call's start minus the view's age, never from when the late answer came.
    expect(h.rec.verdictAt).toBe(callStart - 700);
    expect(h.rec.dropped).toBe(0);
    expect(h.rec.stats).toMatchObject({ late: 1, failures: 0, flushes: 1 });
    expect(h.rec.backoffLevel).toBe(1);
    slow = false;
    h.tick(FLUSH_EVERY_MS * 2);
    await h.rec.flush(env);
    // Only what was gathered meanwhile: the first batch was delivered by the late answer.
    expect(h.sent[1].batches.map((b) => b.fingerprint)).toEqual(["fp-b"]);
    expect(h.sent[1].dropped).toBe(0);
    expect(h.rec.backoffLevel).toBe(0);
  });

  it("the report backoff never holds back the gate's view calls: a backed-off isolate still gets a fresh verdict", async () => {
    const h = harness(async () => {
      throw Object.assign(new Error("Durable Object is overloaded"), { overloaded: true });
    });
    for (let i = 0; i < 3; i++) {
      h.rec.record(routed(), ok());
      h.tick(40_000);
      await h.rec.flush(env);
    }
    expect(h.rec.backoffLevel).toBeGreaterThanOrEqual(4);
    expect(h.rec.flushDue(h.tick(0))).toBe(false);
    h.tick(VERDICT_MAX_AGE_MS * 2);
    expect(h.rec.verdictFresh()).toBe(false);
    expect(await h.rec.freshVerdict(h.ctx, env)).toBe(true);
    expect(h.rec.verdictFresh()).toBe(true);
  });

  it("no answer at all: abandoned after abandonMs, counted in dropped, its counts not re-sent", async () => {
    const h = harness(() => new Promise(() => undefined));
    h.rec.record(routed(), ok());
    h.tick(FLUSH_EVERY_MS);
    await h.rec.flush(env); // the harness abandons after 200 ms of real time
    expect(h.rec.stats.abandoned).toBe(1);
    expect(h.rec.dropped).toBe(1);
    expect(h.rec.pending()).toEqual([]);
    expect(h.rec.backoffLevel).toBe(1);
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

  it("keeps a rejected report's counts for the next one (merged exactly, visitors included); never throws", async () => {
    let fails = 1;
    const h = harness(async () => {
      if (fails-- > 0) throw Object.assign(new Error("Durable Object is overloaded"), { overloaded: true });
      return view(1);
    });
    h.rec.record(routed(), { ...ok(), latencyMs: 300 }, 7, 1);
    h.rec.record(routed(), fail(), 8, 1);
    h.rec.recordDiverted();
    await h.requestAfter(FLUSH_EVERY_MS);
    expect(h.sent).toHaveLength(1);
    expect(h.rec.dropped).toBe(0);
    expect(h.rec.diverted).toBe(1);
    expect(h.rec.stats).toMatchObject({ carried: 1, overloaded: 1 });
    h.rec.record(routed(), ok(), 7, 1);
    h.rec.record(routed("fp-b"), ok("stable"), 9, 2);
    // Overloaded: two backoff levels (4–8 s with this draw), never at once.
    expect(h.rec.backoffLevel).toBe(2);
    await h.requestAfter(FLUSH_EVERY_MS);
    expect(h.sent).toHaveLength(1);
    await h.requestAfter(4000 - FLUSH_EVERY_MS);
    expect(h.sent).toHaveLength(2);
    const [a, b] = h.sent[1].batches;
    expect(a.fingerprint).toBe("fp-a");
    expect(a.slots.green).toMatchObject({ requests: 3, errors5xx: 1 });
    expect(a.slots.green!.latency.reduce((s, x) => s + x, 0)).toBe(3);
    // Visitor 7's slowest answer is the max of both parts' (the carried one was slower).
    expect(a.contributors!.green).toEqual({
      v: [7, 8],
      n: [1, 1],
      r: [2, 1],
      e: [0, 1],
      m: [latencyBucketOf(300), latencyBucketOf(12)],
    });
    expect(b.fingerprint).toBe("fp-b");
    expect(h.sent[1].dropped).toBe(0);
    // The diverted request travels with the counts it was carried with, once.
    expect(h.sent[1].diverted).toBe(1);
    expect(h.rec.diverted).toBe(0);
    expect(h.rec.pending()).toEqual([]);
  });

  it("does not re-send what the object's own code rejected (it may have counted it): dropped instead", async () => {
    const h = harness(async () => {
      throw Object.assign(new Error("boom"), { remote: true });
    });
    h.rec.record(routed(), ok());
    h.rec.recordDiverted();
    await h.requestAfter(FLUSH_EVERY_MS);
    expect(h.rec.dropped).toBe(1);
    expect(h.rec.pending()).toEqual([]);
    // It may have been counted: its diverted requests are not re-sent either.
    expect(h.rec.diverted).toBe(0);
  });

  it("carries a failed batch at most CARRY_MAX_MS, then drops it and counts it", async () => {
    const h = harness(async () => {
      throw new Error("network connection lost");
    });
    h.rec.record(routed(), ok());
    let sends = 0;
    for (let t = 0; t <= CARRY_MAX_MS + 70_000; t += 1000) {
      await h.requestAfter(1000);
      if (h.sent.length > sends) sends = h.sent.length;
    }
    expect(h.sent[0].batches).toHaveLength(1);
    expect(h.rec.pending()).toEqual([]);
    expect(h.rec.dropped).toBe(1);
    expect(h.rec.stats.batchesDropped).toBe(1);
    // Backing off: far fewer than one attempt every 2 s.
    expect(sends).toBeLessThan(10);
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
