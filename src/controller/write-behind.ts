// The controller's one write-behind: what changes per report (window rows, the report counters, a
// plan step's counts) is written at most every PERSIST_EVERY_MS, not per report. Each storage
// commit costs far more than a report's arithmetic, and the writes queued in one interval run
// together, synchronously, so Durable Object storage makes them one commit (scripts/bench-controller.ts
// times both ways: 5–9× the reports/s of a commit per report). What a crash can lose is the counts
// of that last quarter second; decisions (rollback, events, state) are written at once by the event
// that makes them. Pure: no Workers imports (the timer is the platform's setTimeout).

export const PERSIST_EVERY_MS = 250;

export class WriteBehind {
  /** Queued writes by key, in the order first queued; a later write under a key replaces the earlier. */
  private readonly queued = new Map<string, () => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly delayMs: number = PERSIST_EVERY_MS) {}

  /**
   * Queues `write` under `key`; it runs within `delayMs`. A write should read the live value when it
   * runs (a closure over the current row or counters), so the last value of the interval is stored.
   */
  defer(key: string, write: () => void): void {
    this.queued.set(key, write);
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /** Drops queued writes whose key starts with `prefix` (their value was written at once, or is obsolete). */
  discard(prefix: string): void {
    for (const key of [...this.queued.keys()]) if (key.startsWith(prefix)) this.queued.delete(key);
  }

  /** Runs every queued write now (the timer, `settle()`). A write that throws does not stop the others. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const writes = [...this.queued.values()];
    this.queued.clear();
    for (const write of writes) {
      try {
        write();
      } catch (e) {
        console.error(`controller: a deferred storage write failed: ${(e as Error).message}`);
      }
    }
  }
}
