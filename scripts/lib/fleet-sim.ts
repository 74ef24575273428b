// A fleet of simulated isolates for the fleet benchmark (scripts/bench-fleet.ts): each isolate is
// a real `Recorder` (src/telemetry/recorder.ts: the real cadence, backoff, carry and adopt) with its
// own id and its own cached KV copy, routing by the real `effectiveRollout`. What is modelled is
// named here: the traffic (busy isolates: BUSY_RPS requests/s; quiet ones: one request every
// ~QUIET_EVERY_MS), the failing canary (every canary answer is a 500), the round-trip time, and the
// per-object limit (`Throttle`). The controller behind it is pluggable (`Target`): the modelled
// root below, or a real Durable Object.
import { Recorder, type BackgroundWork } from "../../src/telemetry/recorder";
import { effectiveRollout } from "../../src/routing/effective";
import type { ControllerView, Report } from "../../src/model/protocol";
import type { Rollout } from "../../src/model/rollout";
import type { WatchAnswer } from "../../src/controller/watchers";

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** What an isolate's transport reaches (the root controller, or an aggregator in front of it). */
export interface Target {
  report(r: Report): Promise<ControllerView>;
  view(): Promise<ControllerView>;
  /** An aggregator's isolate watch (src/aggregator/rpc.ts); absent: the isolates poll. */
  watch?(known: number, maxWaitMs: number, boundMs: number): Promise<WatchAnswer>;
}

/** mulberry32: a seeded uniform [0, 1) source, so runs are comparable. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The error Cloudflare's runtime throws when an object is overloaded (`.overloaded` is what callers test). */
export function overloadedError(): Error {
  return Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), {
    overloaded: true,
    retryable: false,
  });
}

/**
 * One object's admission, imitating Cloudflare's documented soft limit (about 1,000 requests/s per
 * Durable Object): calls are served one after another at `perSecond`; a call that would wait more
 * than `maxQueueMs` in the queue waits that long and then fails with the overloaded error.
 */
export class Throttle {
  served = 0;
  rejected = 0;
  /** Served calls per whole second of the clock. */
  readonly perSecondServed = new Map<number, number>();
  private nextFree = 0;

  constructor(
    private readonly clock: Clock,
    private readonly perSecond = 1000,
    private readonly maxQueueMs = 1000,
  ) {}

  async run<T>(call: () => Promise<T>): Promise<T> {
    const now = this.clock.now();
    const start = Math.max(now, this.nextFree);
    if (start - now > this.maxQueueMs) {
      await this.clock.sleep(this.maxQueueMs);
      this.rejected++;
      throw overloadedError();
    }
    this.nextFree = start + 1000 / this.perSecond;
    if (start > now) await this.clock.sleep(start - now);
    this.served++;
    const sec = Math.floor(this.clock.now() / 1000);
    this.perSecondServed.set(sec, (this.perSecondServed.get(sec) ?? 0) + 1);
    return call();
  }
}

/** `target` behind a throttle and a round-trip time drawn in [rttMin, rttMax] ms per call. */
export function throttled(
  target: Target,
  throttle: Throttle,
  clock: Clock,
  random: () => number,
  rtt: [number, number],
): Target {
  const trip = async <T>(call: () => Promise<T>): Promise<T> => {
    const half = (rtt[0] + random() * (rtt[1] - rtt[0])) / 2;
    await clock.sleep(half);
    try {
      return await throttle.run(call);
    } finally {
      await clock.sleep(half);
    }
  };
  const out: Target = { report: (r) => trip(() => target.report(r)), view: () => trip(() => target.view()) };
  // A held watch takes one admission, like any call; the holding itself costs the object nothing.
  const watch = target.watch?.bind(target);
  if (watch) out.watch = (known, maxWaitMs, boundMs) => trip(() => watch(known, maxWaitMs, boundMs));
  return out;
}

export const BUSY_RPS = 10;
export const QUIET_EVERY_MS = 15_000;

export interface FleetOptions {
  isolates: number;
  /** Share of isolates that are busy (the rest quiet). */
  busyShare: number;
  /** Isolates start over this long (a deploy reaching the fleet), ms. */
  rampMs: number;
  seed: number;
  /**
   * Canary-bound requests pass the handler's gate (src/worker/handler.ts) through the real recorder
   * methods. Real-time lenses only: the gate's wait is a real timer (src/lib/timeout.ts), which the
   * virtual clock of the model does not drive.
   */
  gate?: boolean;
  /** Default true (every canary answer a 500); false: a healthy canary, no rollback, canary traffic throughout. */
  canaryFails?: boolean;
  /** Requests/s of a busy isolate (default BUSY_RPS). */
  busyRps?: number;
}

interface Isolate {
  rec: Recorder<null>;
  busy: boolean;
  startAt: number;
  nextQuietAt: number;
  learnedAt: number | null;
  reports: number;
  /** The effective document, recomputed when the held view changes. */
  viewRevision: number;
  eff: { doc: Rollout; fingerprint: string };
}

export interface FleetResults {
  learnBusy: number[];
  learnQuiet: number[];
  neverBusy: number;
  neverQuiet: number;
  canaryAfter: number;
  /** Requests actually sent to the canary (after the gate) ≥ 1 s after the decision. */
  reachedAfter: number;
  /** Canary-bound requests the gate sent to stable for want of a fresh verdict. */
  diverted: number;
  /** Canary-bound requests that waited at the gate for a view call. */
  gateWaits: number;
  /** View calls the recorders made (cold start, the gate's, keepFresh's). */
  viewFetches: number;
  /** Watches the recorders opened, and those the aggregator held (answered late or with a change). */
  watches: number;
  watchesUseful: number;
  abandoned: number;
  droppedCounts: number;
  late: number;
  overloadedAnswers: number;
  reports: number;
}

/** The fleet, stepped by the caller every few ms of its clock (`step`). */
export class Fleet {
  readonly isolates: Isolate[] = [];
  /** When the controller decided (set by the caller once known), ms of the clock. */
  decisionAt: number | null = null;
  /** Canary-bound requests (as decided before the gate) and those sent to the canary, per ms of the clock. */
  private readonly bound = new Map<number, number>();
  private readonly reached = new Map<number, number>();
  private readonly random: () => number;
  private readonly gate: boolean;
  private readonly canaryFails: boolean;
  private readonly busyRps: number;
  private next = 0;

  constructor(
    opts: FleetOptions,
    private readonly kv: { doc: Rollout; fingerprint: string },
    target: (i: number) => Target,
    private readonly clock: Clock,
  ) {
    this.random = seeded(opts.seed);
    this.gate = opts.gate ?? false;
    this.canaryFails = opts.canaryFails ?? true;
    this.busyRps = opts.busyRps ?? BUSY_RPS;
    for (let i = 0; i < opts.isolates; i++) {
      const t = target(i);
      const iso: Isolate = {
        busy: i < Math.round(opts.isolates * opts.busyShare),
        startAt: this.random() * opts.rampMs,
        nextQuietAt: 0,
        learnedAt: null,
        reports: 0,
        viewRevision: -1,
        eff: kv,
        rec: null!,
      };
      iso.nextQuietAt = iso.startAt + this.random() * QUIET_EVERY_MS;
      const learn = (v: ControllerView) => {
        if (iso.learnedAt === null && v.doc?.rolledBack) iso.learnedAt = this.clock.now();
        return v;
      };
      const watch = t.watch?.bind(t);
      iso.rec = new Recorder<null>({
        send: (_t, r) => (iso.reports++, t.report(r).then(learn)),
        fetchView: () => t.view().then(learn),
        // As src/worker/telemetry.ts: an isolate in front of an aggregator holds a watch there.
        watchView: watch
          ? (_t, known, maxWaitMs, boundMs) => watch(known, maxWaitMs, boundMs).then((a) => (learn(a.view), a))
          : undefined,
        now: () => this.clock.now(),
        isolateId: `iso-${i}`,
        // The recorder's abandon timer runs on real time; the model's clock is virtual, and its
        // throttle answers every call within ~1 s anyway. Late answers (> 2 s virtual) are counted.
        abandonMs: 1e9,
        random: seeded(opts.seed * 7919 + i),
        // One `canary-diverted` line per isolate a minute would flood the benchmark's output.
        warn: () => undefined,
      });
      this.isolates.push(iso);
    }
  }

  /** Every isolate's traffic for the `dt` ms up to now, then its maybeFlush (as the handler does). */
  step(dt: number): void {
    const now = this.clock.now();
    const ctx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => undefined) };
    for (const iso of this.isolates) {
      if (now < iso.startAt) continue;
      let n = 0;
      if (iso.busy) n = Math.floor((this.busyRps * dt) / 1000 + this.random());
      else if (now >= iso.nextQuietAt) {
        n = 1;
        iso.nextQuietAt = now - Math.log(1 - this.random()) * QUIET_EVERY_MS;
      }
      if (n === 0) continue;
      if (iso.viewRevision !== iso.rec.view.revision) {
        iso.viewRevision = iso.rec.view.revision;
        iso.eff = effectiveRollout(this.kv, iso.rec.view);
      }
      const { doc, fingerprint } = iso.eff;
      for (let k = 0; k < n; k++) {
        const visitor = (this.next = (this.next + 1) % 1_000_000_000);
        // The visitor's bucket: the same draw decides again under a fresh view, as the handler's
        // second decide() hashes the same sticky key.
        const bucket = this.random() * 100;
        const canary = doc.rolledBack === undefined && bucket < doc.percent;
        if (canary) bump(this.bound, now);
        if (canary && this.gate) {
          // The handler's gate, in its order: a fresh verdict goes (and refreshes in the background
          // once half its age is used); a stale one waits for a view call, then decides again or diverts.
          if (iso.rec.verdictFresh()) iso.rec.keepFresh(ctx, null);
          else {
            void this.gated(iso, bucket, visitor, ctx);
            continue;
          }
        }
        this.send(iso, { doc, fingerprint }, canary, visitor, now);
      }
      iso.rec.maybeFlush(ctx, null);
    }
  }

  private async gated(iso: Isolate, bucket: number, visitor: number, ctx: BackgroundWork): Promise<void> {
    if (await iso.rec.freshVerdict(ctx, null)) {
      const fresh = effectiveRollout(this.kv, iso.rec.view);
      const canary = fresh.doc.rolledBack === undefined && bucket < fresh.doc.percent;
      this.send(iso, fresh, canary, visitor, this.clock.now());
    } else iso.rec.recordDiverted();
    iso.rec.maybeFlush(ctx, null);
  }

  private send(
    iso: Isolate,
    eff: { doc: Rollout; fingerprint: string },
    canary: boolean,
    visitor: number,
    now: number,
  ) {
    const { doc, fingerprint } = eff;
    if (canary) bump(this.reached, now);
    const slot = canary ? doc.canary : doc.canary === "green" ? "blue" : "green";
    iso.rec.record(
      { fingerprint, doc },
      {
        slot,
        role: canary ? "canary" : "stable",
        status: canary && this.canaryFails ? 500 : 200,
        error: null,
        latencyMs: 20,
        failedOver: false,
      },
      visitor,
      visitor,
    );
  }

  /** Canary-bound requests (before the gate) ≥ 1 s after the decision. */
  get canaryAfter(): number {
    return this.after(this.bound);
  }

  /** Requests that reached the canary ≥ 1 s after the decision. */
  get reachedAfter(): number {
    return this.after(this.reached);
  }

  private after(m: Map<number, number>): number {
    if (this.decisionAt === null) return 0;
    let c = 0;
    for (const [t, k] of m) if (t >= this.decisionAt + 1000) c += k;
    return c;
  }

  results(): FleetResults {
    const r: FleetResults = {
      learnBusy: [],
      learnQuiet: [],
      neverBusy: 0,
      neverQuiet: 0,
      canaryAfter: this.canaryAfter,
      reachedAfter: this.reachedAfter,
      diverted: 0,
      gateWaits: 0,
      viewFetches: 0,
      watches: 0,
      watchesUseful: 0,
      abandoned: 0,
      droppedCounts: 0,
      late: 0,
      overloadedAnswers: 0,
      reports: 0,
    };
    for (const iso of this.isolates) {
      const s = iso.rec.stats;
      r.abandoned += s.abandoned;
      r.diverted += s.diverted;
      r.gateWaits += s.gateWaits;
      r.viewFetches += s.viewFetches;
      r.watches += s.watches;
      r.watchesUseful += s.watchesUseful;
      r.droppedCounts += iso.rec.dropped;
      r.late += s.late;
      r.overloadedAnswers += s.overloaded;
      r.reports += iso.reports;
      if (this.decisionAt === null) continue;
      if (iso.learnedAt === null) {
        if (iso.busy) r.neverBusy++;
        else r.neverQuiet++;
      } else {
        // From the decision, or from the isolate's start when it started later (the ramp): an
        // isolate that did not exist yet cannot learn before it runs.
        const from = Math.max(this.decisionAt, iso.startAt);
        (iso.busy ? r.learnBusy : r.learnQuiet).push(Math.max(0, iso.learnedAt - from));
      }
    }
    return r;
  }
}

function bump(m: Map<number, number>, t: number): void {
  t = Math.floor(t);
  m.set(t, (m.get(t) ?? 0) + 1);
}

/** A clock whose time moves only between events: the model runs as fast as the CPU allows. */
export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly heap: { t: number; seq: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((ok) => this.at(this.t + Math.max(0, Math.round(ms)), ok));
  }

  at(t: number, fn: () => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  /** Runs events up to `until`, letting promise continuations settle between distinct times. */
  async run(until: number): Promise<void> {
    while (this.heap.length && this.heap[0].t <= until) {
      const t = this.heap[0].t;
      this.t = t;
      while (this.heap.length && this.heap[0].t === t) this.pop().fn();
      await new Promise((ok) => setImmediate(ok));
    }
    this.t = until;
  }

  private pop() {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

function less(a: { t: number; seq: number }, b: { t: number; seq: number }) {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** Nearest-rank percentile of `xs` (ms), or null when empty. */
export function percentile(xs: number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
