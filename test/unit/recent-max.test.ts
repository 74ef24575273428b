import { describe, expect, it } from "vitest";
import { RecentMax } from "../../src/lib/recent-max";

describe("RecentMax", () => {
  it("is Infinity before any sample, then the largest of the last N; negatives count as 0", () => {
    const r = new RecentMax(3);
    expect(r.empty).toBe(true);
    expect(r.max()).toBe(Infinity);
    r.add(-5);
    expect(r.max()).toBe(0);
    r.add(40);
    r.add(10);
    r.add(20);
    expect(r.max()).toBe(40);
    // The 40 leaves the window after three newer samples.
    r.add(5);
    expect(r.max()).toBe(20);
    expect(r.empty).toBe(false);
  });
});
