// Isolate-side outcome counters, flushed in batches to the controller off the request path, and
// the latest ControllerView the controller answered with (how a rollback reaches this isolate
// before KV does). Pure apart from the injected `send`/`fetchView` and clock.
//
// Fail-safe and bounds (decided here):
// | concern                         | behaviour                                                        |
// |---------------------------------|------------------------------------------------------------------|
// | memory                          | ≤ MAX_BATCHES document versions × fixed arrays; a new version    |
// |                                 | beyond that drops the oldest batch (counted in `dropped`)        |
// | flush cadence                   | every FLUSH_EVERY_MS when there is data; after ≥ ERROR_BURST     |
// |                                 | canary errors, as soon as MIN_GAP_MS has passed since the last   |
// | concurrency                     | one flush in flight; data recorded meanwhile waits for the next  |
// | controller slow / failing       | the flush gives up after FLUSH_TIMEOUT_MS; that report is        |
// |                                 | dropped and counted, the next one carries `dropped`              |
// | cold isolate                    | first request starts a background `view()` so a rollback already |
// |                                 | in force applies at once, whatever the cached KV copy says       |
// | answers out of order            | a view is adopted only if its revision ≥ the one held            |
// | many visitors in one batch      | ≤ MAX_CONTRIBUTORS listed per slot and batch; further visitors'  |
// |                                 | outcomes go to `ur`/`ue` (unattributed), still in the counters   |
// | no visitor given (older caller) | counted as before, not attributed (the ledger never sees it)     |
// Nothing here ever throws into, or waits on, the request.
import type { Rollout, Slot } from "../model/rollout";
import { emptyHistogram, latencyBucketOf } from "../health/histogram";
import {
  EMPTY_VIEW,
  MAX_CONTRIBUTORS,
  type Contributors,
  type ControllerView,
  type Report,
  type ReportBatch,
  type ShadowCounters,
  type SlotCounters,
} from "../model/protocol";
import { withTimeout } from "../lib/timeout";

export interface Outcome {
  slot: Slot;
  role: "canary" | "stable";
  /** Status of the origin's answer, null when there was none (network error, timeout). */
  status: number | null;
  error: null | "network" | "timeout";
  /** Time to response headers, ms. */
  latencyMs: number;
  /** This failed canary answer was replaced by stable's (GET/HEAD/OPTIONS). */
  failedOver: boolean;
}

export interface ShadowOutcome {
  status: number | null;
  error: null | "network" | "timeout";
  latencyMs: number;
  /** true: same as stable's; false: differs; null: not compared (see compareAnswers in shadow/compare.ts). */
  matched: boolean | null;
}

/** The document version a request was routed under. */
export interface Routed {
  fingerprint: string;
  doc: Rollout;
}

/** The part of Workers' ExecutionContext the recorder needs: work that outlives the response. */
export interface BackgroundWork {
  waitUntil(p: Promise<unknown>): void;
}

export const FLUSH_EVERY_MS = 2000;
export const MIN_GAP_MS = 250;
export const ERROR_BURST = 3;
export const FLUSH_TIMEOUT_MS = 2000;
/** Document versions an isolate can see within one flush interval: current, previous, the controller's. */
export const MAX_BATCHES = 4;

/** `T` is what the transport needs to reach the controller (the Worker passes its Env). */
export interface RecorderDeps<T> {
  send(target: T, report: Report): Promise<ControllerView>;
  fetchView(target: T): Promise<ControllerView>;
  now(): number;
  isolateId?: string;
  /** Default FLUSH_TIMEOUT_MS. */
  timeoutMs?: number;
}

export class Recorder<T> {
  view: ControllerView = EMPTY_VIEW;
  /** Reports given up since the last successful flush (sent with the next one). */
  dropped = 0;
  /** Shadow mirrors sampled but not sent (in-flight limit) since the last successful flush. */
  mirrorsSkipped = 0;
  /** Lifetime counters, for tests and debugging. */
  readonly stats = { flushes: 0, failures: 0, batchesDropped: 0, viewFetches: 0 };

  private batches = new Map<string, ReportBatch>();
  /** Per batch (fingerprint) and slot: visitor → its index in the batch's contributor arrays. */
  private listed = new Map<string, Partial<Record<Slot, Map<number, number>>>>();
  private inFlight = false;
  private lastFlushAt: number | null = null;
  private errorsSinceFlush = 0;
  private viewRequested = false;
  private readonly isolate: string;

  constructor(private readonly deps: RecorderDeps<T>) {
    this.isolate = deps.isolateId ?? randomId();
  }

  /**
   * `visitor`, `network`: who the outcome is attributed to (src/telemetry/contributor.ts); the
   * controller weighs outcomes per visitor and per network, so no single client decides a verdict.
   */
  record(r: Routed, o: Outcome, visitor?: number, network?: number): void {
    const b = this.batchFor(r);
    const c = (b.slots[o.slot] ??= emptySlot());
    c.requests++;
    let error = false;
    if (o.error === "network") (c.errorsNetwork++, (error = true));
    else if (o.error === "timeout") (c.errorsTimeout++, (error = true));
    else if (o.status !== null && o.status >= 500) (c.errors5xx++, (error = true));
    if (o.failedOver) c.failovers++;
    // A network failure has no meaningful latency; a timeout's is its limit, which the latency rule should see.
    if (o.error !== "network") c.latency[latencyBucketOf(o.latencyMs)]++;
    if (error && o.role === "canary") this.errorsSinceFlush++;
    if (visitor !== undefined) this.attribute(b, o.slot, visitor, network ?? 0, error);
  }

  private attribute(b: ReportBatch, slot: Slot, visitor: number, network: number, error: boolean) {
    const c: Contributors = ((b.contributors ??= {})[slot] ??= { v: [], n: [], r: [], e: [] });
    const byBatch = this.listed.get(b.fingerprint) ?? {};
    if (!this.listed.has(b.fingerprint)) this.listed.set(b.fingerprint, byBatch);
    const index = (byBatch[slot] ??= new Map());
    const i = index.get(visitor);
    if (i !== undefined) {
      c.r[i]++;
      if (error) c.e[i]++;
    } else if (index.size < MAX_CONTRIBUTORS) {
      index.set(visitor, c.v.length);
      c.v.push(visitor);
      c.n.push(network);
      c.r.push(1);
      c.e.push(error ? 1 : 0);
    } else {
      c.ur = (c.ur ?? 0) + 1;
      if (error) c.ue = (c.ue ?? 0) + 1;
    }
  }

  /** A shadow mirror was sampled but not sent: the controller shows how much smaller the sample is. */
  recordMirrorSkipped(): void {
    this.mirrorsSkipped++;
  }

  recordNewVisitor(r: Routed, slot: Slot): void {
    const b = this.batchFor(r);
    const nv = (b.newVisitors ??= {});
    nv[slot] = (nv[slot] ?? 0) + 1;
  }

  recordShadow(r: Routed, o: ShadowOutcome): void {
    const b = this.batchFor(r);
    const s = (b.shadow ??= emptyShadow());
    s.mirrored++;
    const error = o.error !== null || (o.status !== null && o.status >= 500);
    if (error) (s.errors++, this.errorsSinceFlush++);
    if (o.matched === false) s.mismatches++;
    else if (o.matched === null) s.notCompared++;
    if (o.error !== "network") s.latency[latencyBucketOf(o.latencyMs)]++;
  }

  /** Starts a flush in ctx.waitUntil if one is due. Never throws; never delays the response. */
  maybeFlush(ctx: BackgroundWork, target: T): void {
    try {
      if (!this.viewRequested) {
        this.viewRequested = true;
        ctx.waitUntil(this.refreshView(target));
      }
      if (this.flushDue(this.deps.now())) ctx.waitUntil(this.flush(target));
    } catch {
      // A broken ctx or clock must not reach the user.
    }
  }

  /** Whether a flush should start at `now`: pure policy, exposed for tests. */
  flushDue(now: number): boolean {
    if (this.inFlight || this.batches.size === 0) return false;
    const since = now - (this.lastFlushAt ?? now);
    return since >= FLUSH_EVERY_MS || (this.errorsSinceFlush >= ERROR_BURST && since >= MIN_GAP_MS);
  }

  /** Sends what has been gathered. Resolves (never rejects) when the answer arrived or was given up. */
  async flush(target: T): Promise<void> {
    if (this.inFlight || this.batches.size === 0) return;
    this.inFlight = true;
    const batches = [...this.batches.values()];
    this.batches = new Map();
    this.listed = new Map();
    this.errorsSinceFlush = 0;
    this.lastFlushAt = this.deps.now();
    const skipped = this.mirrorsSkipped;
    const report: Report = {
      isolate: this.isolate,
      sentAt: this.lastFlushAt,
      batches,
      dropped: this.dropped,
      ...(skipped ? { mirrorsSkipped: skipped } : {}),
    };
    try {
      const view = await withTimeout(
        this.deps.send(target, report),
        this.deps.timeoutMs ?? FLUSH_TIMEOUT_MS,
        "the controller",
      );
      this.adopt(view);
      this.dropped = 0;
      // Mirrors skipped while this flush was in flight go with the next one.
      this.mirrorsSkipped -= skipped;
      this.stats.flushes++;
    } catch {
      this.dropped++;
      this.stats.failures++;
    } finally {
      this.inFlight = false;
      this.lastFlushAt = this.deps.now();
    }
  }

  async refreshView(target: T): Promise<void> {
    try {
      this.stats.viewFetches++;
      this.adopt(
        await withTimeout(this.deps.fetchView(target), this.deps.timeoutMs ?? FLUSH_TIMEOUT_MS, "the controller"),
      );
    } catch {
      // Without the controller's word the cached KV copy routes, as before.
    }
  }

  adopt(view: ControllerView | null | undefined): void {
    if (view && typeof view.revision === "number" && view.revision >= this.view.revision) this.view = view;
  }

  /** Batches held and their total array lengths: constant in traffic (the bounded-memory proof). */
  footprint(): { batches: number; numbers: number } {
    let numbers = 0;
    for (const b of this.batches.values()) {
      for (const c of Object.values(b.slots)) numbers += 5 + (c?.latency.length ?? 0);
      if (b.shadow) numbers += 4 + b.shadow.latency.length;
      if (b.newVisitors) numbers += Object.keys(b.newVisitors).length;
      for (const c of Object.values(b.contributors ?? {})) numbers += 4 * (c?.v.length ?? 0) + 2;
    }
    return { batches: this.batches.size, numbers };
  }

  /** The batches gathered since the last flush (copies), for tests. */
  pending(): ReportBatch[] {
    return structuredClone([...this.batches.values()]);
  }

  private batchFor(r: Routed): ReportBatch {
    const now = this.deps.now();
    // The first data of an isolate starts the interval: no flush of a single request at cold start.
    if (this.lastFlushAt === null) this.lastFlushAt = now;
    const sec = Math.floor(now / 1000);
    let b = this.batches.get(r.fingerprint);
    if (!b) {
      if (this.batches.size >= MAX_BATCHES) {
        // Oldest first (Map keeps insertion order): it is the version least likely still in use.
        const oldest = this.batches.keys().next().value!;
        this.batches.delete(oldest);
        this.listed.delete(oldest);
        this.stats.batchesDropped++;
        this.dropped++;
      }
      b = { fingerprint: r.fingerprint, release: r.doc.release, canary: r.doc.canary, from: sec, to: sec, slots: {} };
      this.batches.set(r.fingerprint, b);
    }
    b.to = sec;
    return b;
  }
}

export function emptySlot(): SlotCounters {
  return {
    requests: 0,
    errors5xx: 0,
    errorsNetwork: 0,
    errorsTimeout: 0,
    failovers: 0,
    latency: emptyHistogram(),
  };
}

export function emptyShadow(): ShadowCounters {
  return { mirrored: 0, mismatches: 0, notCompared: 0, errors: 0, latency: emptyHistogram() };
}

function randomId(): string {
  // Math.random is enough: the id only tells isolates' reports apart when debugging.
  return Math.random().toString(36).slice(2, 10);
}
