// The longest of the last N round trips: what the watch protocol takes as a bound on one leg
// (the aggregator's push bound P, the isolate's r; src/telemetry/freshness.ts). Negative samples
// count as 0; with no sample yet the bound is Infinity, so nothing can be vouched for.
export class RecentMax {
  private samples: number[] = [];

  constructor(private readonly size: number) {}

  add(ms: number): void {
    this.samples.push(Math.max(0, ms));
    if (this.samples.length > this.size) this.samples.shift();
  }

  /** The largest recent sample; Infinity before the first. */
  max(): number {
    let m = -Infinity;
    for (const s of this.samples) if (s > m) m = s;
    return this.samples.length === 0 ? Infinity : m;
  }

  get empty(): boolean {
    return this.samples.length === 0;
  }
}
