// The gate's freshness policy (src/telemetry/freshness.ts) and the recorder's side of it: stamps,
// ages, when a refresh is due, one view call per isolate, a bounded wait, diverted requests counted
// apart. Injected clock and transport; timers are real but short.
import { describe, expect, it } from "vitest";
import {
  GATE_WAIT_MS,
  ISOLATE_WATCH_CHAIN_MS,
  ISOLATE_WATCH_DEAD_MARGIN_MS,
  ISOLATE_WATCH_EVIDENCE_MS,
  ISOLATE_WATCH_MAX_WAIT_MS,
  ISOLATE_WATCH_RENEW_AFTER_MS,
  ISOLATE_WATCH_RETRY_MS,
  REFRESH_AFTER_MS,
  usefulWatch,
  watchRetryAt,
  watchStamp,
  VERDICT_MAX_AGE_MS,
  mustRefresh,
  refreshDue,
  stampOf,
  TOLD_BOUND_CAP_MS,
  TOLD_BOUND_FLOOR_MS,
  toldBound,
  verdictAge,
} from "../../src/telemetry/freshness";
import { Recorder, type BackgroundWork, type Outcome, type WatchReply } from "../../src/telemetry/recorder";
import { rolloutSchema } from "../../src/model/rollout";
import type { ControllerView, Report } from "../../src/model/protocol";

const doc = rolloutSchema.parse({ percent: 50, release: "v2" });
const view = (revision: number, ageMs?: number, boundMs?: number): ControllerView => ({
  revision,
  doc,
  fingerprint: "x" + revision,
  supersedes: [],
  ...(ageMs === undefined ? {} : { ageMs }),
  ...(boundMs === undefined ? {} : { boundMs }),
});

describe("freshness policy", () => {
  it("the bounds leave half of the fleet goal's second as margin, and refresh at half the bound", () => {
    expect(VERDICT_MAX_AGE_MS).toBeLessThanOrEqual(500);
    expect(GATE_WAIT_MS).toBeLessThan(VERDICT_MAX_AGE_MS);
    expect(REFRESH_AFTER_MS).toBe(VERDICT_MAX_AGE_MS / 2);
  });

  it("a view is stamped at its call's start less the age it already had; bad ages count as 0", () => {
    expect(stampOf(10_000, undefined)).toBe(10_000);
    expect(stampOf(10_000, 0)).toBe(10_000);
    expect(stampOf(10_000, 120)).toBe(9_880);
    expect(stampOf(10_000, -50)).toBe(10_000);
    expect(stampOf(10_000, Number.NaN)).toBe(10_000);
  });

  it("no verdict is infinitely old; due and must-refresh at their bounds, not before", () => {
    expect(verdictAge(null, 5)).toBe(Infinity);
    expect(mustRefresh(null, 5)).toBe(true);
    expect(mustRefresh(1000, 1000 + VERDICT_MAX_AGE_MS - 1)).toBe(false);
    expect(mustRefresh(1000, 1000 + VERDICT_MAX_AGE_MS)).toBe(true);
    expect(refreshDue(1000, 1000 + REFRESH_AFTER_MS - 1)).toBe(false);
    expect(refreshDue(1000, 1000 + REFRESH_AFTER_MS)).toBe(true);
  });
});

const canary: Outcome = { slot: "green", role: "canary", status: 200, error: null, latencyMs: 5, failedOver: false };

/** A recorder whose controller answers when the test says so. */
function harness(opts: { gateWaitMs?: number } = {}) {
  let now = 1_000_000;
  const calls: { resolve(v: ControllerView): void; reject(e: Error): void }[] = [];
  const sent: Report[] = [];
  const warnings: string[] = [];
  const rec = new Recorder({
    now: () => now,
    send: async (_e, r) => (sent.push(structuredClone(r)), view(1)),
    fetchView: () => new Promise<ControllerView>((resolve, reject) => calls.push({ resolve, reject })),
    isolateId: "iso",
    timeoutMs: 2000,
    gateWaitMs: opts.gateWaitMs ?? 40,
    warn: (l) => warnings.push(l),
    // The report cadence's jitter drawn at its low end: intervals are exactly 2 s (telemetry/cadence.ts).
    random: () => 0,
  });
  const waits: Promise<unknown>[] = [];
  const ctx: BackgroundWork = { waitUntil: (p) => void waits.push(p) };
  return { rec, calls, sent, warnings, ctx, waits, tick: (ms: number) => (now += ms), now: () => now };
}

describe("the recorder's gate", () => {
  it("a fresh verdict passes at once, with no view call", async () => {
    const h = harness();
    h.rec.adopt(view(3), h.now());
    h.tick(VERDICT_MAX_AGE_MS - 1);
    expect(await h.rec.freshVerdict(h.ctx, {})).toBe(true);
    expect(h.calls).toHaveLength(0);
    expect(h.rec.stats.gateWaits).toBe(0);
  });

  it("concurrent canary-bound requests of a stale isolate share one view call and adopt its answer", async () => {
    const h = harness({ gateWaitMs: 1000 });
    const waiting = [h.rec.freshVerdict(h.ctx, {}), h.rec.freshVerdict(h.ctx, {}), h.rec.freshVerdict(h.ctx, {})];
    // The background refresh of canary traffic joins it too rather than starting another.
    h.rec.keepFresh(h.ctx, {});
    await Promise.resolve();
    expect(h.calls).toHaveLength(1);
    const startedAt = h.now();
    h.tick(30); // the round trip
    h.calls[0].resolve(view(7, 100));
    expect(await Promise.all(waiting)).toEqual([true, true, true]);
    expect(h.rec.view.revision).toBe(7);
    // Stamped at the call's start less the age the answering object reported.
    expect(h.rec.verdictAt).toBe(startedAt - 100);
    expect(h.rec.stats.viewFetches).toBe(1);
    // The call is done: the next stale request starts a new one.
    h.tick(VERDICT_MAX_AGE_MS);
    void h.rec.freshVerdict(h.ctx, {});
    await Promise.resolve();
    expect(h.calls).toHaveLength(2);
  });

  it("a silent controller: the wait ends within the bound, the request is diverted, a late answer still counts", async () => {
    const h = harness({ gateWaitMs: 40 });
    const t0 = performance.now();
    expect(await h.rec.freshVerdict(h.ctx, {})).toBe(false);
    expect(performance.now() - t0).toBeLessThan(40 + 200);
    h.rec.recordDiverted();
    h.rec.recordDiverted();
    expect(h.rec.diverted).toBe(2);
    // One warning line, naming what happened and what to check, not one per request.
    expect(h.warnings).toHaveLength(1);
    expect(JSON.parse(h.warnings[0])).toMatchObject({ level: "warn", event: "canary-diverted" });
    expect(h.warnings[0]).toMatch(/no fresh verdict .* within 40 ms/);
    // The call was kept alive in ctx; its late answer serves the next request.
    expect(h.waits).toHaveLength(1);
    h.calls[0].resolve(view(2));
    await Promise.all(h.waits);
    expect(await h.rec.freshVerdict(h.ctx, {})).toBe(true);
  });

  it("an answer that started too long ago is no fresher: the request is diverted", async () => {
    const h = harness({ gateWaitMs: 1000 });
    const waiting = h.rec.freshVerdict(h.ctx, {});
    h.tick(VERDICT_MAX_AGE_MS + 10); // a controller this slow answers with a verdict already too old
    h.calls[0].resolve(view(1));
    expect(await waiting).toBe(false);
  });

  it("a failing controller: diverted, never a rejection", async () => {
    const h = harness({ gateWaitMs: 1000 });
    const waiting = h.rec.freshVerdict(h.ctx, {});
    await Promise.resolve();
    h.calls[0].reject(new Error("overloaded"));
    expect(await waiting).toBe(false);
  });

  it("background refresh starts at half the bound while the verdict still serves, one at a time", async () => {
    const h = harness();
    h.rec.adopt(view(1), h.now());
    h.tick(REFRESH_AFTER_MS - 1);
    h.rec.keepFresh(h.ctx, {});
    expect(h.calls).toHaveLength(0);
    h.tick(1);
    h.rec.keepFresh(h.ctx, {});
    h.rec.keepFresh(h.ctx, {});
    await Promise.resolve();
    expect(h.calls).toHaveLength(1);
    expect(await h.rec.freshVerdict(h.ctx, {})).toBe(true);
  });

  it("flush answers stamp the verdict too, and an older revision still proves the held one current", async () => {
    const h = harness();
    h.rec.adopt(view(5), h.now());
    h.tick(VERDICT_MAX_AGE_MS * 3);
    h.rec.adopt(view(4), h.now());
    expect(h.rec.view.revision).toBe(5);
    expect(h.rec.verdictAt).toBe(h.now());
    // A flush: its answer's stamp is the flush's start.
    h.rec.record({ fingerprint: "f", doc }, canary);
    h.tick(VERDICT_MAX_AGE_MS * 3);
    const at = h.now();
    await h.rec.flush({});
    expect(h.rec.verdictAt).toBe(at);
  });

  it("diverted requests travel with the next report, and are cleared only once it is delivered", async () => {
    const h = harness();
    h.rec.recordDiverted();
    h.rec.record({ fingerprint: "f", doc }, canary);
    await h.rec.flush({});
    expect(h.sent[0].diverted).toBe(1);
    // Nothing was recorded as an outcome for it: only the one canary request above.
    expect(h.sent[0].batches[0].slots.blue).toBeUndefined();
    expect(h.rec.diverted).toBe(0);
  });

  it("an isolate that only diverts still reports, on the usual interval", async () => {
    const h = harness();
    h.rec.recordDiverted();
    expect(h.rec.flushDue(h.now())).toBe(false);
    h.tick(2000);
    expect(h.rec.flushDue(h.now())).toBe(true);
    await h.rec.flush({});
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatchObject({ diverted: 1, batches: [] });
  });
});

describe("the isolate's watch: policy", () => {
  it("vouches for now − (r + B) once open r, not before, not past maxWait + margin, not without bounds", () => {
    const O = 10_000;
    expect(watchStamp(null, O + 100, 20, 30)).toBeNull();
    expect(watchStamp(O, O + 19, 20, 30)).toBeNull();
    expect(watchStamp(O, O + 20, 20, 30)).toBe(O + 20 - 50);
    expect(watchStamp(O, O + 5000, 20, 30)).toBe(O + 5000 - 50);
    const end = O + ISOLATE_WATCH_MAX_WAIT_MS + ISOLATE_WATCH_DEAD_MARGIN_MS;
    expect(watchStamp(O, end, 20, 30)).toBe(end - 50);
    expect(watchStamp(O, end + 1, 20, 30)).toBeNull();
    expect(watchStamp(O, O + 100, Infinity, 30)).toBeNull();
    expect(watchStamp(O, O + 100, 20, Infinity)).toBeNull();
    expect(watchStamp(O, O + 100, 20, Number.NaN)).toBeNull();
  });

  it("the bound an aggregator tells: headroom over its push bound, so jitter releases no watch; none past the cap; never below the push bound", () => {
    // First measurement: twice the push bound, at least the floor.
    expect(toldBound(0, 8)).toBe(TOLD_BOUND_FLOOR_MS);
    expect(toldBound(0, 21)).toBe(42);
    // Jitter within it keeps what was told (the fleet benchmark saw 21 → 36 ms on a loaded machine).
    expect(toldBound(42, 36)).toBe(42);
    expect(toldBound(42, 12)).toBe(42);
    // Past it: raised, with headroom again.
    expect(toldBound(42, 43)).toBe(86);
    // Lowered only once twice p falls under half of it (p under a quarter): no move with every trip.
    expect(toldBound(86, 30)).toBe(86);
    expect(toldBound(86, 22)).toBe(86);
    expect(toldBound(86, 21)).toBe(42);
    expect(toldBound(86, 10)).toBe(TOLD_BOUND_FLOOR_MS);
    // Far from the root: headroom only up to the cap, then the bare push bound (a watch stamps
    // r + told, and past the gate's refresh age it would spare no poll).
    expect(toldBound(0, 100)).toBe(TOLD_BOUND_CAP_MS);
    expect(toldBound(0, 200)).toBe(200);
    expect(toldBound(150, 160)).toBe(160);
    for (let p = 0; p < 400; p += 7)
      for (const t of [0, 25, 60, 150, 300]) expect(toldBound(t, p)).toBeGreaterThanOrEqual(p);
  });

  it("an answer is useful with a change or a real hold; retries back off ×2 up to ×16", () => {
    expect(usefulWatch(3, 4, 0)).toBe(true);
    expect(usefulWatch(3, 3, 999)).toBe(false);
    expect(usefulWatch(3, 3, 1000)).toBe(true);
    // An older revision at once (an aggregator behind the isolate): not adopted, so not useful either.
    expect(usefulWatch(3, 2, 0)).toBe(false);
    expect(watchRetryAt(100, 0)).toBe(100);
    expect(watchRetryAt(100, 1)).toBe(100 + ISOLATE_WATCH_RETRY_MS);
    expect(watchRetryAt(100, 3)).toBe(100 + 4 * ISOLATE_WATCH_RETRY_MS);
    expect(watchRetryAt(100, 9)).toBe(100 + 16 * ISOLATE_WATCH_RETRY_MS);
  });
});

/** A recorder with a watching transport: view calls and watches answer when the test says so. */
function watchHarness() {
  let now = 1_000_000;
  const views: { resolve(v: ControllerView): void }[] = [];
  const watches: {
    at: number;
    known: number;
    maxWaitMs: number;
    boundMs: number;
    resolve(a: WatchReply): void;
    reject(e: Error): void;
  }[] = [];
  const rec = new Recorder({
    now: () => now,
    send: async () => view(1),
    fetchView: () => new Promise<ControllerView>((resolve) => views.push({ resolve })),
    watchView: (_t, known, maxWaitMs, boundMs) =>
      new Promise<WatchReply>((resolve, reject) =>
        watches.push({ at: now, known, maxWaitMs, boundMs, resolve, reject }),
      ),
    isolateId: "iso",
    random: () => 0,
  });
  const waits: Promise<unknown>[] = [];
  const ctx: BackgroundWork = { waitUntil: (p) => void waits.push(p) };
  // Two turns: an answer handled in the first may schedule a re-open (a 0 ms timer with random 0) for the second.
  const settle = async () => {
    for (let k = 0; k < 2; k++) await new Promise((r) => setTimeout(r, 0));
  };
  return { rec, views, watches, ctx, waits, settle, tick: (ms: number) => (now += ms), now: () => now };
}

/** Canary traffic for `ms`, one request every `every` ms: what the handler does per canary-bound request. */
async function traffic(h: ReturnType<typeof watchHarness>, ms: number, every = 10) {
  for (let t = 0; t < ms; t += every) {
    h.tick(every);
    expect(h.rec.verdictFresh(), `verdict fresh at +${t} ms`).toBe(true);
    h.rec.keepFresh(h.ctx, {});
    await Promise.resolve();
  }
}

describe("the isolate's watch: recorder", () => {
  /** The first view call answered by an aggregator that vouches (bound 30 ms), after a 20 ms round trip. */
  async function primed() {
    const h = watchHarness();
    h.rec.keepFresh(h.ctx, {});
    await Promise.resolve();
    const started = h.now();
    h.tick(20);
    h.views[0].resolve(view(5, 10, 30));
    await h.settle();
    expect(h.rec.verdictAt).toBe(started - 10);
    return h;
  }

  it("busy canary traffic with a held watch makes no view calls, and a pushed change is adopted at once", async () => {
    const h = await primed();
    const ran = ISOLATE_WATCH_RENEW_AFTER_MS - 100;
    await traffic(h, ran);
    // One watch, with the isolate's revision, maxWait well inside waitUntil, and the aggregator's bound.
    expect(h.watches).toHaveLength(1);
    expect(h.watches[0]).toMatchObject({ known: 5, maxWaitMs: ISOLATE_WATCH_MAX_WAIT_MS, boundMs: 30 });
    expect(h.views).toHaveLength(1); // only the priming call: polling would have made ~28
    // While open, the stamp is now − (r + B).
    expect(h.rec.stamp()).toBe(h.now() - 20 - 30);
    // The aggregator pushes a rollback: adopted, stamped at open + held − age.
    const opened = h.now() - ran + 10;
    h.tick(5);
    const held = h.now() - opened - 2;
    h.watches[0].resolve({ view: view(6, 1, 30), heldMs: held });
    await h.settle();
    expect(h.rec.view.revision).toBe(6);
    expect(h.rec.verdictAt).toBe(opened + held - 1);
    expect(h.rec.stats.watchesUseful).toBe(1);
    // Canary traffic came while it was open: the next watch, with the new revision, at once.
    expect(h.watches).toHaveLength(2);
    expect(h.watches[1]).toMatchObject({ at: h.now(), known: 6 });
  });

  it("before the watch has been open r it vouches for nothing; a stamp never claims fresher than the last answer when that is newer", async () => {
    const h = await primed();
    h.rec.keepFresh(h.ctx, {});
    expect(h.watches).toHaveLength(1);
    h.tick(10);
    expect(h.rec.stamp()).toBe(h.rec.verdictAt);
    h.tick(10);
    expect(h.rec.stamp()).toBe(h.now() - 50);
  });

  it("a failed watch falls back to polling, and no watch is opened again before the backoff", async () => {
    const h = await primed();
    h.rec.keepFresh(h.ctx, {});
    h.watches[0].reject(new Error("aggregator overloaded"));
    await h.settle();
    expect(h.rec.watching).toBe(false);
    expect(h.rec.stats.watchFailures).toBe(1);
    // The verdict ages as without a watch: a background view call at half the bound.
    h.tick(REFRESH_AFTER_MS);
    h.rec.keepFresh(h.ctx, {});
    await Promise.resolve();
    expect(h.views).toHaveLength(2);
    expect(h.watches).toHaveLength(1);
    h.views[1].resolve(view(5, 0, 30));
    await h.settle();
    h.tick(ISOLATE_WATCH_RETRY_MS);
    h.rec.keepFresh(h.ctx, {});
    expect(h.watches).toHaveLength(2);
  });

  it("canary traffic renews the watch before its maxWait, so an isolate at one canary request a second never waits and never polls", async () => {
    const h = await primed();
    h.rec.keepFresh(h.ctx, {});
    h.tick(20); // open r: it vouches
    for (let t = 0; t < 60_000; t += 1000) {
      h.tick(1000);
      // The aggregator answers each watch unchanged at its maxWait, as it does when nothing happens.
      for (const w of h.watches)
        if (h.now() - w.at >= ISOLATE_WATCH_MAX_WAIT_MS)
          w.resolve({ view: view(5, 0, 30), heldMs: ISOLATE_WATCH_MAX_WAIT_MS });
      await h.settle();
      expect(h.rec.verdictFresh(), `verdict fresh at +${t} ms`).toBe(true);
      h.rec.keepFresh(h.ctx, {});
      await Promise.resolve();
    }
    expect(h.views).toHaveLength(1);
    expect(h.rec.stats.gateWaits).toBe(0);
    // One successor every ISOLATE_WATCH_RENEW_AFTER_MS, sent by the request of that moment.
    expect(h.watches.length).toBe(1 + Math.floor(60_000 / ISOLATE_WATCH_RENEW_AFTER_MS));
    for (let k = 1; k < h.watches.length; k++) {
      expect(h.watches[k].at - h.watches[k - 1].at).toBeGreaterThanOrEqual(ISOLATE_WATCH_RENEW_AFTER_MS);
      expect(h.watches[k].at - h.watches[k - 1].at).toBeLessThan(ISOLATE_WATCH_RENEW_AFTER_MS + 1000);
    }
  });

  it("a watch the aggregator answers early (its own root watch cycled) is re-opened at once while canary traffic came in the last 7 s and the request holding it is young", async () => {
    const h = await primed();
    h.rec.keepFresh(h.ctx, {});
    const chainAt = h.now();
    const answerOpen = async (heldMs: number) => {
      h.watches.at(-1)!.resolve({ view: view(5, 0, 30), heldMs });
      await h.settle();
    };
    // Traffic, then the aggregator releases the held watch: the successor goes from the same request.
    h.tick(3000);
    h.rec.keepFresh(h.ctx, {});
    await answerOpen(3000);
    expect(h.watches).toHaveLength(2);
    expect(h.watches[1].at).toBe(h.now());
    expect(h.rec.verdictFresh()).toBe(true);
    // Again at 6 s and 12 s of the chain (each watch open < 7 s, so no renewal by traffic).
    for (const at of [6000, 12_000]) {
      h.tick(chainAt + at - 1000 - h.now());
      h.rec.keepFresh(h.ctx, {});
      h.tick(1000);
      await answerOpen(3000);
    }
    expect(h.watches).toHaveLength(4);
    // At 16 s the request that began the chain is too old to hold another ≤ 10 s watch inside the
    // 30 s its waitUntil lives: no re-open; the next canary request opens one of its own.
    h.tick(chainAt + ISOLATE_WATCH_CHAIN_MS + 1000 - 1000 - h.now());
    h.rec.keepFresh(h.ctx, {});
    h.tick(1000);
    await answerOpen(4000);
    expect(h.watches).toHaveLength(4);
    expect(h.rec.watching).toBe(false);
    h.rec.keepFresh(h.ctx, {});
    expect(h.watches).toHaveLength(5);
    // Released 3 s after the last canary request: re-opened (a watch just opened, released before the
    // next request, must not leave an isolate at one canary request a second without one) …
    h.tick(3000);
    await answerOpen(3000);
    expect(h.watches).toHaveLength(6);
    // … but not once no canary request came for ISOLATE_WATCH_RENEW_AFTER_MS: quiet, no chain.
    h.tick(ISOLATE_WATCH_RENEW_AFTER_MS - 3000);
    await answerOpen(ISOLATE_WATCH_RENEW_AFTER_MS - 3000);
    expect(h.watches).toHaveLength(6);
    expect(h.rec.watching).toBe(false);
  });

  it("an aggregator behind the isolate (an older revision, at once) does not make the watch chain spin", async () => {
    const h = await primed();
    h.rec.keepFresh(h.ctx, {});
    for (let i = 0; i < 50 && i < h.watches.length; i++) {
      h.tick(2);
      h.rec.keepFresh(h.ctx, {});
      h.watches[i].resolve({ view: view(4, 0, 30), heldMs: 0 });
      await h.settle();
    }
    // One watch, then backoff (1 s): not one per round trip.
    expect(h.watches).toHaveLength(1);
    expect(h.rec.view.revision).toBe(5);
  });

  it("a chained watch answered at once unchanged (the aggregator re-opening its root watch) gets one retry after the aggregator's bound, not more", async () => {
    const h = await primed();
    h.rec.keepFresh(h.ctx, {});
    h.tick(3000);
    h.rec.keepFresh(h.ctx, {});
    // Released after a hold: re-opened in the chain.
    h.watches[0].resolve({ view: view(5, 0, 30), heldMs: 3000 });
    await h.settle();
    expect(h.watches).toHaveLength(2);
    // That one is answered at once, unchanged: one retry after bound (30) + 50 ms (random 0).
    h.watches[1].resolve({ view: view(5, 0, 30), heldMs: 0 });
    await h.settle();
    expect(h.watches).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 120));
    expect(h.watches).toHaveLength(3);
    // The retry answered at once too: no further retry; the backoff holds until a request after it.
    h.watches[2].resolve({ view: view(5, 0, 30), heldMs: 0 });
    await new Promise((r) => setTimeout(r, 150));
    expect(h.watches).toHaveLength(3);
    // A watch a request opened (not chained), answered at once: no quick retry.
    const g = await primed();
    g.rec.keepFresh(g.ctx, {});
    g.watches[0].resolve({ view: view(5, 0, 30), heldMs: 0 });
    await new Promise((r) => setTimeout(r, 150));
    expect(g.watches).toHaveLength(1);
  });

  it("a stale isolate's canary request that waited and got a fresh answer opens the watch, sparing the requests after it the wait; a diverted one does not", async () => {
    const h = await primed();
    h.tick(VERDICT_MAX_AGE_MS + 100);
    expect(h.rec.verdictFresh()).toBe(false);
    const waiting = h.rec.freshVerdict(h.ctx, {});
    // Not while it waits: a watch vouches on past round trips, no base while the transport is slow.
    expect(h.watches).toHaveLength(0);
    h.tick(20);
    h.views[1].resolve(view(5, 0, 30));
    expect(await waiting).toBe(true);
    expect(h.watches).toHaveLength(1);
    h.tick(20);
    // Open r: it vouches from now on, with no further view call.
    for (let t = 0; t < 3000; t += 250) {
      h.tick(250);
      expect(h.rec.verdictFresh(), `verdict fresh at +${t} ms`).toBe(true);
      h.rec.keepFresh(h.ctx, {});
    }
    expect(h.views).toHaveLength(2);

    // A transport too slow for the wait: diverted, and no watch opened on its account.
    const g = await primed();
    g.tick(VERDICT_MAX_AGE_MS + 100);
    expect(await g.rec.freshVerdict(g.ctx, {})).toBe(false);
    expect(g.watches).toHaveLength(0);
  });

  it("a watch that hangs (neither answered nor failed) vouches no longer than ISOLATE_WATCH_EVIDENCE_MS after the aggregator's last answer, however often traffic renews it; polls answered in time keep the verdict fresh", async () => {
    const h = await primed();
    const lastAnswer = h.now();
    // Nothing answers: watches and polls hang.
    let firstStale: number | null = null;
    for (let t = 0; t < 20_000; t += 50) {
      h.tick(50);
      if (!h.rec.verdictFresh()) {
        firstStale ??= h.now();
        continue; // the handler would wait, then divert
      }
      h.rec.keepFresh(h.ctx, {});
      await Promise.resolve();
    }
    expect(h.watches.length).toBeGreaterThan(1); // renewed by traffic
    expect(firstStale).not.toBeNull();
    expect(firstStale! - lastAnswer).toBeGreaterThan(ISOLATE_WATCH_EVIDENCE_MS - 100);
    expect(firstStale! - lastAnswer).toBeLessThanOrEqual(ISOLATE_WATCH_EVIDENCE_MS + 50);

    // The same with an aggregator that answers view calls at once (the watches still hang): the
    // isolate polls before the evidence lapses, and no request ever finds its verdict stale.
    const g = await primed();
    let answered = 1;
    for (let t = 0; t < 40_000; t += 50) {
      g.tick(50);
      while (answered < g.views.length) g.views[answered++].resolve(view(5, 0, 30));
      await g.settle();
      expect(g.rec.verdictFresh(), `verdict fresh at +${t} ms`).toBe(true);
      g.rec.keepFresh(g.ctx, {});
      await Promise.resolve();
    }
    // About one poll per evidence period, not one per REFRESH_AFTER_MS (that would be 160).
    expect(g.views.length - 1).toBeGreaterThanOrEqual(3);
    expect(g.views.length - 1).toBeLessThanOrEqual(5);
  });

  it("no bound ever received (no aggregator vouched) opens no watch; an early unchanged answer backs off", async () => {
    const h = watchHarness();
    h.rec.keepFresh(h.ctx, {});
    await Promise.resolve();
    h.tick(20);
    h.views[0].resolve(view(5, 10));
    await h.settle();
    h.rec.keepFresh(h.ctx, {});
    expect(h.watches).toHaveLength(0);
    h.rec.adopt(view(5, 0, 30), h.now());
    h.rec.keepFresh(h.ctx, {});
    expect(h.watches).toHaveLength(1);
    h.watches[0].resolve({ view: view(5, 0, 30), heldMs: 0 });
    await h.settle();
    h.tick(ISOLATE_WATCH_RETRY_MS - 1);
    h.rec.keepFresh(h.ctx, {});
    expect(h.watches).toHaveLength(1);
  });
});
