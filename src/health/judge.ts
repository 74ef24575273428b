// The one health judgement: the rollback rules over one vector of counts. The controller judges
// the sliding window's totals (per report, per alarm) and a plan step's own totals (thin traffic
// may never put `minRequests` into one window) with this same function; only the counts and the
// seconds they cover differ, and who produced them (the visitor ledger, ./ledger.ts). Pure.
import { otherSlot, type Rollout, type Slot } from "../model/rollout";
import { evaluateHealth, type Health, type HealthInput, type People } from "./rules";
import { shadowCounters, slotCounters } from "./window";
import type { VisitorLedger } from "./ledger";

/** A verdict with the figures it was reached on (the status page shows both). */
export type Judgement = Health & { input: HealthInput };

/**
 * `counts`: a vector in the window layout (src/health/window.ts); `canary`: the slot judged as the
 * canary (the other is its stable baseline); `windowSeconds`: the span the counts cover, for the
 * verdicts' wording; `people`: the visitor ledger's figures over the same span (absent: the quorum
 * is not met, nothing trips); `sample`: the sequential test's cumulative sample (default `people`).
 */
export function judgeHealth(
  counts: ArrayLike<number>,
  canary: Slot,
  rules: Rollout["rollback"],
  windowSeconds: number,
  people?: People,
  sample?: People,
): Judgement {
  const shadow = shadowCounters(counts);
  const input: HealthInput = {
    canary: slotCounters(counts, canary),
    stable: slotCounters(counts, otherSlot(canary)),
    shadow: shadow.mirrored > 0 ? shadow : null,
    windowSeconds,
    ...(people ? { people } : {}),
    ...(sample ? { sample } : {}),
  };
  return { ...evaluateHealth(rules, input), input };
}

/** A ledger's figures for both arms, `canary` being the slot judged as the canary. */
export function peopleOf(ledger: VisitorLedger, canary: Slot, nowSec?: number): People {
  return { canary: ledger.figures(canary, nowSec), stable: ledger.figures(otherSlot(canary), nowSec) };
}
