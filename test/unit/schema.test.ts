import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { rolloutSchema, ALL_STABLE, stepAt } from "../../src/model/rollout";

describe("rollout schema", () => {
  it("has safe defaults: percent 0, green canary, visitor cookie, 10 s timeout, rollback on", () => {
    expect(ALL_STABLE).toMatchObject({
      percent: 0,
      canary: "green",
      stickyBy: "cookie",
      timeoutMs: 10_000,
      rules: [],
      shadowPercent: 0,
    });
    expect(ALL_STABLE.rollback).toMatchObject({ maxErrorRate: 0.05, minRequests: 50, windowSeconds: 60 });
    expect(ALL_STABLE.release).toBeUndefined();
  });

  it("keeps percent at 0.01 resolution", () => {
    expect(rolloutSchema.parse({ percent: 12.345 }).percent).toBe(12.35);
    expect(rolloutSchema.parse({ percent: 0.01 }).percent).toBe(0.01);
    expect(rolloutSchema.safeParse({ percent: -1 }).success).toBe(false);
    expect(rolloutSchema.safeParse({ percent: "5" }).success).toBe(false);
  });

  it("accepts every stickyBy form and rejects others", () => {
    for (const s of ["cookie", "ip", "header:x-user-id", "cookie:session"])
      expect(rolloutSchema.safeParse({ stickyBy: s }).success, s).toBe(true);
    for (const s of ["header:", "cookie:bad name", "user", "header:a b"])
      expect(rolloutSchema.safeParse({ stickyBy: s }).success, s).toBe(false);
  });

  it("takes timeoutMs as one number or per slot", () => {
    expect(rolloutSchema.parse({ timeoutMs: 2000 }).timeoutMs).toBe(2000);
    expect(rolloutSchema.parse({ timeoutMs: { green: 500 } }).timeoutMs).toEqual({ green: 500 });
    expect(rolloutSchema.safeParse({ timeoutMs: 10 }).success).toBe(false);
  });

  it("rejects unknown fields (typos) at every level and non-ascending steps", () => {
    expect(rolloutSchema.safeParse({ precent: 5 }).success).toBe(false);
    expect(rolloutSchema.safeParse({ shadow: { compareBodys: true } }).success).toBe(false);
    expect(rolloutSchema.safeParse({ steps: [5, 1] }).success).toBe(false);
    const d = rolloutSchema.parse({ steps: [1, { percent: 50, seconds: 60 }], stepSeconds: 30 });
    expect(stepAt(d, 0)).toEqual({ percent: 1, seconds: 30 });
    expect(stepAt(d, 1)).toEqual({ percent: 50, seconds: 60 });
  });

  it("turns rollback off with false", () => {
    expect(rolloutSchema.parse({ rollback: false }).rollback).toBe(false);
  });
});

describe("the Worker's zod", () => {
  it('comes from src/lib/zod.ts (zod/mini with its English messages), never the full "zod" build', () => {
    const src = path.resolve(__dirname, "../../src");
    const files = readdirSync(src, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
    const direct = files.filter(
      (f) =>
        f !== path.join("lib", "zod.ts") &&
        /from\s+["']zod(\/[^"']*)?["']/.test(readFileSync(path.join(src, f), "utf8")),
    );
    // One import of the full build puts ~760 KiB back into the bundle every cold isolate parses.
    expect(direct).toEqual([]);
  });
});
