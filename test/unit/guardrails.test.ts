// Guardrails (src/experiments/guardrails.ts): goals the canary must not make worse by more than
// maxDrop, judged on the rollout's experiment with its always-valid interval: held, pending or
// regressed, never a pass for what could not be checked; and how the rollout document spells them.
import { describe, expect, it } from "vitest";
import { checkGuardrails, pendingGuardrail, regression } from "../../src/experiments/guardrails";
import { goalResult } from "../../src/experiments/result";
import { judgeHealth } from "../../src/health/judge";
import { emptyVector } from "../../src/health/window";
import type { ExperimentResult } from "../../src/model/status";
import { parseRollout } from "../../src/model/parse";

/** A result with one goal: control converts `c` of `n`, the canary `t` of `n`. */
function result(n: number, c: number, t: number): ExperimentResult {
  return {
    control: "blue",
    treatment: "green",
    alpha: 0.05,
    visitors: { control: n, treatment: n },
    rawVisitors: { control: n, treatment: n },
    goals: [goalResult("checkout", { n, x: c }, { n, x: t })],
    sampleRatio: null,
    crossed: 0,
    excluded: 0,
    crowded: 0,
    sampled: 1,
  };
}
const rails = { checkout: { maxDrop: 0.01 } };
const declared = ["checkout", "signup"];

describe("guardrails", () => {
  it("regressed when the whole interval is below −maxDrop: the rollback's reason says which goal, by how much", () => {
    const [v] = checkGuardrails(rails, result(5000, 1000, 700), declared);
    expect(v.state).toBe("regressed");
    expect(v.detail).toMatch(
      /^guardrail "checkout" dropped beyond -1\.0 points: canary 14\.0 % vs stable 20\.0 % \(-6\.0 points\), interval \[-\d/,
    );
    const health = judgeHealth(emptyVector(), "green", false, 60);
    const failed = regression(health, [v])!;
    expect(failed).toMatchObject({ healthy: false, reason: v.detail });
    expect(failed.verdicts.at(-1)).toEqual({ rule: "guardrail", ok: false, detail: v.detail });
    expect(regression(health, [])).toBeNull();
  });

  it("held when the whole interval is at or above −maxDrop; pending while it straddles it", () => {
    expect(checkGuardrails(rails, result(20_000, 2000, 2100), declared)[0].state).toBe("held");
    const [straddles] = checkGuardrails(rails, result(800, 80, 78), declared);
    expect(straddles.state).toBe("pending");
    expect(straddles.detail).toContain('guardrail "checkout" not yet shown no worse than -1.0 points');
    expect(pendingGuardrail([straddles])).toBe(straddles.detail);
    expect(pendingGuardrail(checkGuardrails(rails, result(20_000, 2000, 2100), declared))).toBeNull();
  });

  it("pending, never held, when it cannot be checked: too few visitors, no experiment, or a goal not declared", () => {
    expect(checkGuardrails(rails, result(50, 5, 5), declared)[0]).toMatchObject({
      state: "pending",
      detail: 'guardrail "checkout": 50 of 100 visitors an arm, no interval yet',
    });
    expect(checkGuardrails(rails, null, declared)[0].state).toBe("pending");
    expect(checkGuardrails({ chekout: { maxDrop: 0.01 } }, result(20_000, 2000, 2100), declared)[0]).toMatchObject({
      state: "pending",
      detail: 'guardrail "chekout" is not one of the goals in the flags document: nothing to check it on',
    });
  });

  it("the rollout document: {goal: {maxDrop}}, a share, at most 5", () => {
    const parsed = parseRollout(JSON.stringify({ percent: 10, guardrails: { checkout: { maxDrop: 0.01 } } }));
    expect(parsed.ok && parsed.doc.guardrails).toEqual({ checkout: { maxDrop: 0.01 } });
    const percent = parseRollout(JSON.stringify({ guardrails: { checkout: { maxDrop: 2 } } }));
    expect(percent.ok ? "" : percent.summary).toContain("maxDrop must be a share 0–1: 0.05 means 5 %, so 2 % is 0.02");
    const many = Object.fromEntries(["a", "b", "c", "d", "e", "f"].map((k) => [k, { maxDrop: 0.01 }]));
    const tooMany = parseRollout(JSON.stringify({ guardrails: many }));
    expect(tooMany.ok ? "" : tooMany.summary).toContain("at most 5 guardrails");
  });
});
