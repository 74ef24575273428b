// The rollback rules: canary vs stable over the same window → healthy or not, and why.
// Pure. Input is the window's totals; output names each rule, whether it holds and the figures,
// so the status page, the events table and the `rolledBack` object all say the same thing.
//
// Decisions (defaults live in src/model/rollout.ts, `rollback`):
// | situation                                          | outcome                                         |
// |----------------------------------------------------|-------------------------------------------------|
// | `rollback: false`                                  | always healthy; one verdict says rollback is off |
// | canary requests < minRequests                      | real-traffic rules not judged (healthy)         |
// | canary error rate > maxErrorRate, relative off     | trip                                            |
// | … relative on, stable has ≥ minRequests            | trip only if canary ≥ maxRatio × stable AND     |
// |                                                    | canary − stable ≥ minDelta (shared outage: no)  |
// | … relative on, stable has < minRequests            | judged on maxErrorRate alone (nothing to compare)|
// | latency: canary pN > maxMs (if set)                | trip                                            |
// | latency: canary pN > stable pN × maxRatio + minDeltaMs (stable ≥ minRequests) | trip                 |
// | shadow: compared mirrors ≥ minRequests, mismatch share > maxShadowMismatchRate | trip                |
// | shadow: mirrors ≥ minRequests, error rate judged like the canary's (vs stable) | trip                |
// An error is a 5xx, a network failure or a timeout; 4xx never count (see SlotCounters).
import type { RollbackRules, Rollout } from "../model/rollout";
import type { RuleVerdict } from "../model/status";
import type { ShadowCounters, SlotCounters } from "../model/protocol";
import { percentile } from "./histogram";
import { errorsOf } from "./window";
import { formatPercent as pct } from "../lib/percent";

export interface HealthInput {
  canary: SlotCounters;
  stable: SlotCounters;
  /** Mirrored traffic (shadowPercent); null when there is none. */
  shadow: ShadowCounters | null;
  windowSeconds: number;
}

export interface Health {
  healthy: boolean;
  verdicts: RuleVerdict[];
  /** The verdicts that tripped, with the numbers: what a rollback records as `figures`. */
  figures: Record<string, unknown>;
  /** One line naming what tripped (null when healthy): a rollback's `reason`. */
  reason: string | null;
}

export function evaluateHealth(rules: Rollout["rollback"], input: HealthInput): Health {
  if (rules === false) {
    return {
      healthy: true,
      verdicts: [{ rule: "rollback", ok: true, detail: "automatic rollback is off (rollback: false)" }],
      figures: {},
      reason: null,
    };
  }
  const verdicts: RuleVerdict[] = [];
  const tripped: string[] = [];
  const reasons: string[] = [];
  const { canary, stable, shadow, windowSeconds } = input;
  const cErr = errorsOf(canary);
  const sErr = errorsOf(stable);
  const cRate = canary.requests > 0 ? cErr / canary.requests : 0;
  const sRate = stable.requests > 0 ? sErr / stable.requests : 0;
  const stableComparable = stable.requests >= rules.minRequests;
  const figures: Record<string, unknown> = {
    windowSeconds,
    canary: { requests: canary.requests, errors: cErr, errorRate: round(cRate) },
    stable: { requests: stable.requests, errors: sErr, errorRate: round(sRate) },
  };

  if (canary.requests < rules.minRequests) {
    verdicts.push({
      rule: "min-requests",
      ok: true,
      detail: `${canary.requests} of ${rules.minRequests} canary requests in the last ${windowSeconds} s: not judged yet`,
    });
  } else {
    verdicts.push({
      rule: "min-requests",
      ok: true,
      detail: `${canary.requests} canary requests in the last ${windowSeconds} s (needs ${rules.minRequests})`,
    });
    const e = judgeErrors("error-rate", "canary", cErr, canary.requests, sRate, stableComparable, rules);
    verdicts.push(...e.verdicts);
    if (e.trip) (tripped.push("error-rate"), reasons.push(e.reason));

    if (rules.latency !== false) {
      const L = rules.latency;
      const cp = percentile(canary.latency, L.percentile);
      const sp = stableComparable ? percentile(stable.latency, L.percentile) : null;
      figures.latency = { percentile: L.percentile, canaryMs: cp, stableMs: sp };
      let ok = true;
      let detail = `canary p${L.percentile} ${cp ?? "–"} ms`;
      if (cp !== null && L.maxMs !== undefined && cp > L.maxMs) {
        ok = false;
        detail += ` > maxMs ${L.maxMs} ms`;
      }
      if (cp !== null && sp !== null) {
        const limit = sp * L.maxRatio + L.minDeltaMs;
        if (cp > limit) ok = false;
        detail += `${cp > limit ? " >" : " ≤"} stable p${L.percentile} ${sp} ms × ${L.maxRatio} + ${L.minDeltaMs} ms = ${limit} ms`;
      } else if (sp === null && L.maxMs === undefined) {
        detail += ` (stable has too few requests to compare; set latency.maxMs for an absolute limit)`;
      }
      verdicts.push({ rule: "latency", ok, detail });
      if (!ok) (tripped.push("latency"), reasons.push(detail));
    }
  }

  if (shadow && shadow.mirrored > 0) {
    const compared = Math.max(0, shadow.mirrored - shadow.notCompared);
    figures.shadow = { mirrored: shadow.mirrored, compared, mismatches: shadow.mismatches, errors: shadow.errors };
    if (shadow.mirrored < rules.minRequests) {
      verdicts.push({
        rule: "shadow-min-requests",
        ok: true,
        detail: `${shadow.mirrored} of ${rules.minRequests} mirrored requests: shadow not judged yet`,
      });
    } else {
      const e = judgeErrors(
        "shadow-error-rate",
        "mirrored canary",
        shadow.errors,
        shadow.mirrored,
        sRate,
        stableComparable,
        rules,
      );
      verdicts.push(...e.verdicts);
      if (e.trip) (tripped.push("shadow-error-rate"), reasons.push(e.reason));
      if (compared >= rules.minRequests) {
        const rate = shadow.mismatches / compared;
        const ok = rate <= rules.maxShadowMismatchRate;
        verdicts.push({
          rule: "shadow-mismatch",
          ok,
          detail: `${pct(rate)} of mirrored answers differ from stable's (${shadow.mismatches}/${compared}) ${ok ? "≤" : ">"} ${pct(rules.maxShadowMismatchRate)}`,
        });
        if (!ok) (tripped.push("shadow-mismatch"), reasons.push(verdicts[verdicts.length - 1].detail));
      }
    }
  }

  if (tripped.length) figures.tripped = tripped;
  return { healthy: tripped.length === 0, verdicts, figures, reason: reasons.length ? reasons.join("; ") : null };
}

function judgeErrors(
  rule: string,
  who: string,
  errors: number,
  requests: number,
  stableRate: number,
  stableComparable: boolean,
  rules: RollbackRules,
): { trip: boolean; verdicts: RuleVerdict[]; reason: string } {
  const rate = requests > 0 ? errors / requests : 0;
  const over = rate > rules.maxErrorRate;
  const verdicts: RuleVerdict[] = [
    {
      rule,
      ok: !over,
      detail: `${who} ${pct(rate)} errors (${errors}/${requests}) ${over ? ">" : "≤"} maxErrorRate ${pct(rules.maxErrorRate)}`,
    },
  ];
  const reason = verdicts[0].detail;
  if (rules.relative === false) return { trip: over, verdicts, reason };
  const { maxRatio, minDelta } = rules.relative;
  if (!stableComparable) {
    verdicts.push({
      rule: `relative-${rule}`,
      ok: !over,
      detail: `stable has fewer than ${rules.minRequests} requests in the window: ${who} judged on its own rate`,
    });
    return { trip: over, verdicts, reason: `${reason} (stable has too few requests to compare)` };
  }
  const worse = rate >= stableRate * maxRatio && rate - stableRate >= minDelta;
  verdicts.push({
    rule: `relative-${rule}`,
    ok: !worse,
    detail: worse
      ? `${who} ${pct(rate)} vs stable ${pct(stableRate)}: at least ${maxRatio}× and ${pct(minDelta)} worse`
      : `${who} ${pct(rate)} vs stable ${pct(stableRate)}: not ${maxRatio}× and ${pct(minDelta)} worse (a shared cause is not blamed on the canary)`,
  });
  return { trip: over && worse, verdicts, reason: `${reason}, stable ${pct(stableRate)}` };
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
