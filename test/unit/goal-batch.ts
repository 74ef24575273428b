// A report batch whose contributors reached goals, for the experiments' unit tests.
import type { ReportBatch } from "../../src/model/protocol";
import type { Slot } from "../../src/model/rollout";

/**
 * One slot's contributors: visitor `v[i]` on network `n[i]` (default: its own id) with `r[i]`
 * requests (default 1) and goal bits `g[i]` of `goals`.
 */
export function goalBatch(
  slot: Slot,
  c: { v: number[]; g: number[]; n?: number[]; r?: number[] },
  goals: string[] = ["x"],
): ReportBatch {
  return {
    fingerprint: "fp",
    canary: "green",
    from: 0,
    to: 0,
    slots: {},
    goals,
    contributors: {
      [slot]: { v: c.v, n: c.n ?? c.v, r: c.r ?? c.v.map(() => 1), e: c.v.map(() => 0), g: c.g },
    },
  };
}
