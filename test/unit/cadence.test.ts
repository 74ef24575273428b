import { describe, expect, it } from "vitest";
import {
  ACTIVE_EVERY_MS,
  BACKOFF_MAX_MS,
  BURST_GAP_MS,
  Cadence,
  ERROR_BURST,
  JITTER,
  QUIET_EVERY_MS,
  isOverloaded,
} from "../../src/telemetry/cadence";

/** Drives a Cadence as the recorder does: polls every `step` ms, a report takes `rtt` ms and ends `outcome`. */
function run(c: Cadence, ms: number, opts: { quiet?: boolean; errors?: number; step?: number; rtt?: number } = {}) {
  const { quiet = false, errors = 0, step = 10, rtt = 0 } = opts;
  const starts: number[] = [];
  let last = 0;
  for (let now = 0; now < ms; now += step) {
    if (now < last) continue;
    if (c.due(now, now - last, quiet, errors)) {
      c.started(now, now - last < c.gapMs(quiet));
      starts.push(now);
      last = now + rtt;
      c.ended("ok");
    }
  }
  return starts;
}

describe("Cadence", () => {
  it("at percent 0 (quiet) reports at most once per 30 s, whatever the jitter draws", () => {
    for (const u of [0, 0.5, 0.999]) {
      const starts = run(new Cadence(() => u), 10 * 60_000, { quiet: true });
      const gaps = starts.slice(1).map((t, i) => t - starts[i]);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(QUIET_EVERY_MS);
      expect(starts.length).toBeLessThanOrEqual(20);
    }
  });

  it("jitters every interval: isolates started together drift apart", () => {
    let seed = 1;
    const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const a = run(new Cadence(rand), 60_000);
    const b = run(new Cadence(rand), 60_000);
    const gaps = a.slice(1).map((t, i) => t - a[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(ACTIVE_EVERY_MS);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(ACTIVE_EVERY_MS * (1 + JITTER) + 10);
    expect(new Set(gaps).size).toBeGreaterThan(3);
    expect(a.slice(5, 10)).not.toEqual(b.slice(5, 10));
  });

  it("an incident cannot make an isolate stampede: ≤ 3 reports in any second, ≤ 0.65/s sustained", () => {
    const starts = run(new Cadence(() => 0), 120_000, { errors: ERROR_BURST });
    for (const t of starts) expect(starts.filter((s) => s >= t && s < t + 1000).length).toBeLessThanOrEqual(3);
    expect(starts.length / 120).toBeLessThanOrEqual(0.65 + 3 / 120);
    // Still sooner than the regular pace (the point of a burst).
    expect(starts[1] - starts[0]).toBe(BURST_GAP_MS);
  });

  it("backs off exponentially on failure, at once to 4–8 s on overloaded, with no early reports; success halves the level", () => {
    const c = new Cadence(() => 0);
    c.ended("failed");
    expect(c.gapMs(false)).toBe(2000);
    c.ended("failed");
    expect(c.gapMs(false)).toBe(4000);
    const o = new Cadence(() => 0);
    o.ended("overloaded");
    expect(o.level).toBe(2);
    expect(o.gapMs(false)).toBe(4000);
    expect(o.due(0, BURST_GAP_MS * 4, false, 100)).toBe(false);
    for (let i = 0; i < 10; i++) c.ended("overloaded");
    expect(c.gapMs(false)).toBe(BACKOFF_MAX_MS);
    expect(new Cadence(() => 0.999).gapMs(false)).toBeLessThan(ACTIVE_EVERY_MS * (1 + JITTER));
    c.ended("ok");
    expect(c.gapMs(false)).toBe(4000);
    c.ended("ok");
    c.ended("ok");
    expect(c.level).toBe(0);
  });

  it("recognises Cloudflare's overloaded error by its property", () => {
    expect(isOverloaded(Object.assign(new Error("x"), { overloaded: true }))).toBe(true);
    expect(isOverloaded(new Error("overloaded"))).toBe(false);
    expect(isOverloaded(null)).toBe(false);
  });
});
