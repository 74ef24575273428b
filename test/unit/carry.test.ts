// A rejected report's batches carried into the next (src/telemetry/carry.ts): exact through the
// tier's merge, one batch per version, and past merge.ts's bound the surplus is counted, never a
// second batch of the same version that would replace the first in the recorder's map.
import { describe, expect, it } from "vitest";
import { carryBatches } from "../../src/telemetry/carry";
import { MAX_MERGED_CONTRIBUTORS } from "../../src/telemetry/merge";
import type { ReportBatch } from "../../src/model/protocol";

function batch(fp: string, visitors: number[], m: number, from = 100): ReportBatch {
  const n = visitors.length;
  return {
    fingerprint: fp,
    canary: "green",
    from,
    to: from + 1,
    slots: { green: { requests: n, errors5xx: 1, errorsNetwork: 0, errorsTimeout: 0, failovers: 0, latency: [n] } },
    contributors: {
      green: {
        v: visitors,
        n: visitors.map(() => 7),
        r: visitors.map(() => 1),
        e: visitors.map((_, i) => (i === 0 ? 1 : 0)),
        m: visitors.map(() => m),
      },
    },
  };
}

describe("carryBatches", () => {
  it("adds the new counts into the carried batch of the same version: r, e summed, m the max", () => {
    const { batches, lost } = carryBatches(
      [batch("a", [1, 2], 5, 100)],
      [batch("a", [2, 3], 3, 102), batch("b", [9], 1)],
    );
    expect(lost).toBe(0);
    expect(batches.map((b) => b.fingerprint)).toEqual(["a", "b"]);
    const [a] = batches;
    expect(a.from).toBe(100);
    expect(a.to).toBe(103);
    expect(a.slots.green).toMatchObject({ requests: 4, errors5xx: 2 });
    expect(a.slots.green!.latency[0]).toBe(4);
    expect(a.slots.green!.latency.reduce((x, y) => x + y, 0)).toBe(4);
    expect(a.contributors!.green).toEqual({ v: [1, 2, 3], n: [7, 7, 7], r: [1, 2, 1], e: [1, 1, 0], m: [5, 5, 3] });
  });

  it("past merge.ts's pair bound: the surplus is counted as lost, never a second batch of one version", () => {
    const many = Array.from({ length: MAX_MERGED_CONTRIBUTORS }, (_, i) => i + 1);
    const { batches, lost } = carryBatches([batch("a", many, 1)], [batch("a", [-5, MAX_MERGED_CONTRIBUTORS + 9], 1)]);
    expect(batches.map((b) => b.fingerprint)).toEqual(["a"]);
    expect(lost).toBe(1);
  });
});
