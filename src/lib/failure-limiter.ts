// Counting failures per key in a fixed window, in bounded memory: after `limit` failures within
// `windowMs` of a key's first one, the key is refused until that window ends. The caller asks
// before doing the work it guards (`retryAfterMs`), so a refused key costs nothing to refuse.
//
// Memory: at most `maxKeys` entries. When a new key arrives at the cap, the oldest entry goes: every
// window has the same length and an entry is re-inserted when its window restarts, so insertion
// order is expiry order and the oldest is the first to expire anyway (O(1), no sweep). A flood of
// fresh keys can make a limiter forget a key early, never grow without bound. The limiter is a brake on guessing from one
// place, not the defence itself (that is the secret's length).

interface Entry {
  failures: number;
  /** Epoch ms at which this key's window ends. */
  resetAt: number;
}

export class FailureLimiter {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly maxKeys = 10_000,
  ) {}

  /** 0 if `key` may try now; else how long (ms) until it may. */
  retryAfterMs(key: string, now: number): number {
    const e = this.entries.get(key);
    if (e === undefined) return 0;
    if (now >= e.resetAt) {
      this.entries.delete(key);
      return 0;
    }
    return e.failures >= this.limit ? e.resetAt - now : 0;
  }

  /** Counts one failure of `key`. */
  fail(key: string, now: number): void {
    const e = this.entries.get(key);
    if (e !== undefined && now < e.resetAt) {
      e.failures++;
      return;
    }
    if (e !== undefined) this.entries.delete(key);
    else if (this.entries.size >= this.maxKeys) this.makeRoom();
    this.entries.set(key, { failures: 1, resetAt: now + this.windowMs });
  }

  /** Refuses `key` for `ms` from now (another counter, e.g. one shared across isolates, said so). */
  block(key: string, now: number, ms: number): void {
    if (!this.entries.delete(key) && this.entries.size >= this.maxKeys) this.makeRoom();
    this.entries.set(key, { failures: this.limit, resetAt: now + ms });
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private makeRoom(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.entries.delete(oldest.value);
  }
}
