// The controller's two sliding windows and their storage: the health window of the current
// attempt (1 s buckets over `rollback.windowSeconds`) and the status series (10 s bins over 10
// minutes, all attempts). Rows live in `window_bucket` (docs/storage-schema.md).
//
// Window rows are written at most every PERSIST_EVERY_MS, not per report: each storage commit costs
// far more than a report's arithmetic, and one commit then covers every report of the interval
// (scripts/bench-controller.ts: ~4× the reports/s of a commit per report). What a crash can lose is
// the counts of that last quarter second; decisions (rollback, events, state) are written
// synchronously by the event that makes them.
import { SlidingWindow } from "../health/window";
import type { ControllerStore } from "./store";

export const SERIES_BIN_SECONDS = 10;
export const SERIES_BINS = 60;
export const PERSIST_EVERY_MS = 250;

export class ControllerWindows {
  health: SlidingWindow;
  readonly series: SlidingWindow;
  private attempt: number;
  /** Rows changed since the last persist, keyed kind:t (live references into the rings). */
  private readonly dirty = new Map<string, { attempt: number; kind: string; row: { t: number; v: number[] } }>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly prunedAt = { health: 0, series: 0 };

  /** Rebuilds both windows from storage. `beforeCommit` adds writes to the same commit (counters). */
  constructor(
    private readonly store: ControllerStore,
    attempt: number,
    windowSeconds: number,
    nowSec: number,
    private readonly beforeCommit: () => void = () => {},
  ) {
    this.attempt = attempt;
    this.health = SlidingWindow.fromRows(
      1,
      windowSeconds,
      store.buckets(attempt, "health", nowSec - windowSeconds),
      nowSec,
    );
    this.series = SlidingWindow.fromRows(
      SERIES_BIN_SECONDS,
      SERIES_BINS,
      store.buckets(0, "series", nowSec - SERIES_BIN_SECONDS * SERIES_BINS),
      nowSec,
    );
  }

  /** Adds one report's vectors at `sec`: `health` to the attempt's window, `series` to the chart bins. */
  add(sec: number, health: number[], series: number[]): void {
    const hr = this.health.add(sec, health);
    const sr = this.series.add(sec, series);
    if (hr) this.dirty.set(`health:${hr.t}`, { attempt: this.attempt, kind: "health", row: hr });
    if (sr) this.dirty.set(`series:${sr.t}`, { attempt: 0, kind: "series", row: sr });
    this.timer ??= setTimeout(() => this.persistNow(), PERSIST_EVERY_MS);
  }

  /** An empty health window: a new attempt, or roles switched (its numbers would be read as the other slot's). */
  resetHealth(attempt: number, windowSeconds: number): void {
    this.attempt = attempt;
    this.health = new SlidingWindow(1, windowSeconds);
    this.store.pruneBuckets(attempt, "health", Number.MAX_SAFE_INTEGER);
    for (const k of [...this.dirty.keys()]) if (k.startsWith("health:")) this.dirty.delete(k);
  }

  persistNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const d of this.dirty.values())
      if (d.kind !== "health" || d.attempt === this.attempt) this.store.putBucket(d.attempt, d.kind, d.row);
    this.dirty.clear();
    this.beforeCommit();
    this.prune(Math.floor(Date.now() / 1000));
  }

  private prune(sec: number) {
    // Once per bucket, not per persist: a DELETE each time would be wasted work.
    if (sec !== this.prunedAt.health) {
      this.prunedAt.health = sec;
      this.store.pruneBuckets(this.attempt, "health", sec - this.health.span);
    }
    const bin = sec - (sec % SERIES_BIN_SECONDS);
    if (bin !== this.prunedAt.series) {
      this.prunedAt.series = bin;
      this.store.pruneBuckets(0, "series", sec - this.series.span);
    }
  }
}
