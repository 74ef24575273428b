// The one health judgement: the rollback rules over one vector of counts. The controller judges
// the sliding window's totals (per report, per alarm) and a plan step's own totals (thin traffic
// may never put `minRequests` into one window) with this same function; only the counts and the
// seconds they cover differ. Pure.
import { otherSlot, type Rollout, type Slot } from "../model/rollout";
import { evaluateHealth, type Health, type HealthInput } from "./rules";
import { shadowCounters, slotCounters } from "./window";

/** A verdict with the figures it was reached on (the status page shows both). */
export type Judgement = Health & { input: HealthInput };

/**
 * `counts`: a vector in the window layout (src/health/window.ts); `canary`: the slot judged as the
 * canary (the other is its stable baseline); `windowSeconds`: the span the counts cover, for the
 * verdicts' wording.
 */
export function judgeHealth(
  counts: ArrayLike<number>,
  canary: Slot,
  rules: Rollout["rollback"],
  windowSeconds: number,
): Judgement {
  const shadow = shadowCounters(counts);
  const input: HealthInput = {
    canary: slotCounters(counts, canary),
    stable: slotCounters(counts, otherSlot(canary)),
    shadow: shadow.mirrored > 0 ? shadow : null,
    windowSeconds,
  };
  return { ...evaluateHealth(rules, input), input };
}
