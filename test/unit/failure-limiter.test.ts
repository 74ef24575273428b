import { describe, expect, it } from "vitest";
import { FailureLimiter } from "../../src/lib/failure-limiter";

describe("FailureLimiter", () => {
  it("refuses a key after `limit` failures until its window ends, other keys unaffected", () => {
    const l = new FailureLimiter(3, 60_000);
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterMs("a", 1000 + i)).toBe(0);
      l.fail("a", 1000 + i);
    }
    expect(l.retryAfterMs("a", 2000)).toBe(59_000);
    expect(l.retryAfterMs("b", 2000)).toBe(0);
    expect(l.retryAfterMs("a", 61_000)).toBe(0);
    // A new window starts from scratch.
    l.fail("a", 61_000);
    expect(l.retryAfterMs("a", 61_001)).toBe(0);
  });

  it("blocks a key on another counter's word", () => {
    const l = new FailureLimiter(10, 60_000);
    l.block("x", 0, 60_000);
    expect(l.retryAfterMs("x", 30_000)).toBe(30_000);
  });

  it("never holds more than maxKeys entries, forgetting the oldest first", () => {
    const l = new FailureLimiter(1, 60_000, 100);
    for (let i = 0; i < 10_000; i++) l.fail("k" + i, i);
    expect(l.size).toBe(100);
    expect(l.retryAfterMs("k9999", 10_000)).toBeGreaterThan(0);
    expect(l.retryAfterMs("k0", 10_000)).toBe(0);
    for (let i = 0; i < 200; i++) l.block("b" + i, 20_000, 60_000);
    expect(l.size).toBe(100);
  });
});
