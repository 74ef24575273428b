// Sliding windows of outcome counters: a ring of fixed-width time buckets with running totals.
//
// Why this shape: the controller evaluates its rules on every report, so the cost of a report must
// not grow with traffic or with the window's length. Each bucket is one fixed-length vector
// (both slots, shadow, new visitors; latency as fixed histograms), a report adds into the current
// bucket and into the running totals (O(width)), and a bucket leaving the window is subtracted once
// (amortized O(1) per elapsed bucket). The same class gives the 1 s health window and the 10 s bins
// of the status page's series. Rows ({t, v}) are what the controller stores in SQLite.
import type { Slot } from "../model/rollout";
import type { ReportBatch, ShadowCounters, SlotCounters } from "../model/protocol";
import { LATENCY_BUCKETS } from "../model/protocol";
import type { ShadowStats, SlotStats } from "../model/status";
import { percentile } from "./histogram";

/** Layout of one counter vector. */
const SLOT_SCALARS = ["requests", "errors5xx", "errorsNetwork", "errorsTimeout", "failovers"] as const;
const SHADOW_SCALARS = ["mirrored", "mismatches", "notCompared", "errors"] as const;
export const SLOT_WIDTH = SLOT_SCALARS.length + LATENCY_BUCKETS;
export const SHADOW_WIDTH = SHADOW_SCALARS.length + LATENCY_BUCKETS;
export const OFFSET = {
  blue: 0,
  green: SLOT_WIDTH,
  shadow: 2 * SLOT_WIDTH,
  newVisitors: 2 * SLOT_WIDTH + SHADOW_WIDTH, // blue, then green
} as const;
export const WIDTH = OFFSET.newVisitors + 2;

export function emptyVector(): number[] {
  return new Array<number>(WIDTH).fill(0);
}

/** Which parts of a batch to count: reports under a superseded document only count for stable. */
export interface CountedParts {
  slots: readonly Slot[];
  shadow: boolean;
  newVisitors: boolean;
}

export const ALL_PARTS: CountedParts = { slots: ["blue", "green"], shadow: true, newVisitors: true };

/** Adds a report batch's counters into `v` (in place). Tolerates missing or short fields. */
export function addBatch(v: number[], b: ReportBatch, parts: CountedParts): number[] {
  for (const slot of parts.slots) {
    const c = b.slots?.[slot];
    if (!c) continue;
    const o = OFFSET[slot];
    SLOT_SCALARS.forEach((k, i) => (v[o + i] += num(c[k])));
    addHist(v, o + SLOT_SCALARS.length, c.latency);
  }
  if (parts.shadow && b.shadow) {
    const o = OFFSET.shadow;
    SHADOW_SCALARS.forEach((k, i) => (v[o + i] += num(b.shadow![k])));
    addHist(v, o + SHADOW_SCALARS.length, b.shadow.latency);
  }
  if (parts.newVisitors && b.newVisitors) {
    v[OFFSET.newVisitors] += num(b.newVisitors.blue);
    v[OFFSET.newVisitors + 1] += num(b.newVisitors.green);
  }
  return v;
}

/**
 * One report's batches as two vectors: `health` for the attempt's window, `series` for the charts.
 * A batch under a version of the current attempt (`current`) counts fully for health; any other
 * (superseded, or still unknown) counts for the `stable` slot alone, so it can neither feed nor
 * re-open the canary. The series counts everything: it shows traffic, not verdicts.
 */
export function reportVectors(
  batches: readonly ReportBatch[],
  current: (fingerprint: string) => boolean,
  stable: Slot,
): { health: number[]; series: number[] } {
  const stableOnly: CountedParts = { slots: [stable], shadow: false, newVisitors: false };
  const health = emptyVector();
  const series = emptyVector();
  for (const b of batches) {
    if (!b || typeof b !== "object") continue;
    addBatch(health, b, current(b.fingerprint) ? ALL_PARTS : stableOnly);
    addBatch(series, b, ALL_PARTS);
  }
  return { health, series };
}

/** Every counter of the batches gathered under exactly `fingerprint`, or null when none was. */
export function vectorUnder(batches: readonly ReportBatch[], fingerprint: string): number[] | null {
  let vector: number[] | null = null;
  for (const b of batches) {
    if (!b || typeof b !== "object" || b.fingerprint !== fingerprint) continue;
    addBatch((vector ??= emptyVector()), b, ALL_PARTS);
  }
  return vector;
}

function num(x: unknown): number {
  const n = Number(x);
  // A report is input from another isolate: never let NaN or a negative poison the totals.
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function addHist(v: number[], at: number, h: ArrayLike<number> | undefined) {
  if (!h) return;
  const n = Math.min(LATENCY_BUCKETS, h.length);
  for (let i = 0; i < n; i++) v[at + i] += num(h[i]);
}

export function slotCounters(v: ArrayLike<number>, slot: Slot): SlotCounters {
  return countersAt(v, OFFSET[slot], SLOT_SCALARS);
}

export function shadowCounters(v: ArrayLike<number>): ShadowCounters {
  return countersAt(v, OFFSET.shadow, SHADOW_SCALARS);
}

/** The named scalars, then the latency histogram, read from `v` at offset `o` (the layout above). */
function countersAt<K extends string>(
  v: ArrayLike<number>,
  o: number,
  scalars: readonly K[],
): Record<K, number> & { latency: number[] } {
  const named = {} as Record<K, number>;
  scalars.forEach((k, i) => (named[k] = v[o + i]));
  return { latency: Array.from({ length: LATENCY_BUCKETS }, (_, i) => v[o + scalars.length + i]), ...named };
}

export function newVisitors(v: ArrayLike<number>): Record<Slot, number> {
  return { blue: v[OFFSET.newVisitors], green: v[OFFSET.newVisitors + 1] };
}

export function errorsOf(c: SlotCounters): number {
  return c.errors5xx + c.errorsNetwork + c.errorsTimeout;
}

export function slotStats(c: SlotCounters): SlotStats {
  const errors = errorsOf(c);
  return {
    requests: c.requests,
    errors,
    errorRate: c.requests > 0 ? errors / c.requests : 0,
    errorsByKind: { status5xx: c.errors5xx, network: c.errorsNetwork, timeout: c.errorsTimeout },
    failovers: c.failovers,
    p50: percentile(c.latency, 50),
    p95: percentile(c.latency, 95),
    p99: percentile(c.latency, 99),
    latencyBuckets: Array.from(c.latency),
  };
}

export function shadowStats(s: ShadowCounters): ShadowStats {
  const compared = Math.max(0, s.mirrored - s.notCompared);
  return {
    mirrored: s.mirrored,
    mismatches: s.mismatches,
    mismatchRate: compared > 0 ? s.mismatches / compared : 0,
    notCompared: s.notCompared,
    errors: s.errors,
    errorRate: s.mirrored > 0 ? s.errors / s.mirrored : 0,
    p95: percentile(s.latency, 95),
  };
}

export interface WindowRow {
  /** Unix seconds at the start of the bucket. */
  t: number;
  v: number[];
}

/**
 * `buckets` buckets of `bucketSeconds` each: the window covers the current bucket and the
 * `buckets - 1` before it. Time only moves forward; data for a bucket already out of the window is
 * dropped (returns null), data for an earlier bucket still inside it is added there.
 */
export class SlidingWindow {
  readonly span: number;
  private readonly starts: number[];
  private readonly vals: number[][];
  private readonly sum: number[];
  /** Bucket number (t / bucketSeconds) of the newest bucket the ring has advanced to. */
  private head = -Infinity;

  constructor(
    readonly bucketSeconds: number,
    readonly buckets: number,
    readonly width: number = WIDTH,
  ) {
    if (!(bucketSeconds >= 1 && buckets >= 1))
      throw new Error(`SlidingWindow needs bucketSeconds >= 1 and buckets >= 1, got ${bucketSeconds}, ${buckets}`);
    this.span = bucketSeconds * buckets;
    this.starts = new Array<number>(buckets).fill(-1);
    this.vals = Array.from({ length: buckets }, () => new Array<number>(width).fill(0));
    this.sum = new Array<number>(width).fill(0);
  }

  /** Moves the window's end to `nowSec`, expiring buckets that fell out. */
  advance(nowSec: number): void {
    const n = Math.floor(nowSec / this.bucketSeconds);
    if (n <= this.head) return;
    // Only the ring slots that the new buckets reuse can hold expired data: at most `buckets` of them.
    const from = Number.isFinite(this.head) ? Math.max(this.head + 1, n - this.buckets + 1) : n - this.buckets + 1;
    for (let k = from; k <= n; k++) this.clearSlot(mod(k, this.buckets));
    this.head = n;
  }

  private clearSlot(i: number) {
    if (this.starts[i] < 0) return;
    const v = this.vals[i];
    for (let j = 0; j < this.width; j++) {
      this.sum[j] -= v[j];
      v[j] = 0;
    }
    this.starts[i] = -1;
  }

  /** Adds `vec` at time `tSec` (advancing to it if newer). Returns the touched bucket's row, or null if too old. */
  add(tSec: number, vec: ArrayLike<number>): WindowRow | null {
    this.advance(tSec);
    const n = Math.floor(tSec / this.bucketSeconds);
    if (n <= this.head - this.buckets) return null;
    const i = mod(n, this.buckets);
    const start = n * this.bucketSeconds;
    if (this.starts[i] !== start) {
      this.clearSlot(i);
      this.starts[i] = start;
    }
    const v = this.vals[i];
    const m = Math.min(this.width, vec.length);
    for (let j = 0; j < m; j++) {
      v[j] += vec[j];
      this.sum[j] += vec[j];
    }
    return { t: start, v };
  }

  /** Running totals over the window ending at `nowSec`. The array is live: copy it to keep it. */
  totals(nowSec: number): readonly number[] {
    this.advance(nowSec);
    return this.sum;
  }

  /** Every bucket in the window, oldest first, including empty ones (for charts). */
  bins(nowSec: number): WindowRow[] {
    this.advance(nowSec);
    const out: WindowRow[] = [];
    for (let n = this.head - this.buckets + 1; n <= this.head; n++) {
      const i = mod(n, this.buckets);
      const start = n * this.bucketSeconds;
      out.push({
        t: start,
        v: this.starts[i] === start ? this.vals[i].slice() : new Array<number>(this.width).fill(0),
      });
    }
    return out;
  }

  /** Non-empty buckets, for storage. */
  rows(): WindowRow[] {
    const out: WindowRow[] = [];
    for (let i = 0; i < this.buckets; i++)
      if (this.starts[i] >= 0) out.push({ t: this.starts[i], v: this.vals[i].slice() });
    return out.sort((a, b) => a.t - b.t);
  }

  /** Rebuilds a window from stored rows (any order); rows older than the window at `nowSec` are ignored. */
  static fromRows(
    bucketSeconds: number,
    buckets: number,
    rows: Iterable<WindowRow>,
    nowSec: number,
    width = WIDTH,
  ): SlidingWindow {
    const w = new SlidingWindow(bucketSeconds, buckets, width);
    w.advance(nowSec);
    for (const r of rows) if (r.t <= nowSec) w.add(r.t, r.v);
    return w;
  }
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}
