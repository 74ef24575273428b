// The routing decision and its reason. Pure: everything it needs is compiled once per document
// version (`compileRouting`) or handed in by the caller (the sticky key, a verified override,
// request facts for targeting).
//
// Order (first that applies wins):
// | # | condition                                   | slot                 | reason        |
// |---|---------------------------------------------|----------------------|---------------|
// | 1 | document has `rolledBack`                   | stable, for everyone | "rolled-back" |
// | 2 | a valid, unexpired signed override naming a | its target           | "override"    |
// |   | target (a flags-only token routes as none)  |                      |               |
// | 3 | the first matching targeting rule           | the rule's role      | "rule"        |
// | 4 | `locations` set and the request is outside  | stable               | "location"    |
// | 5 | bucket < threshold                          | canary, else stable  | "bucket"      |
// Consequences: nothing (no rule, no override) reaches a rolled-back canary; at percent 0 with
// no rules only a validly signed override reaches the canary.
import { otherSlot, type Rollout, type Slot } from "../model/rollout";
import { bucketOf, saltOf, seedOf, thresholdOf } from "./bucket";
import { compileSticky, type StickySpec } from "./sticky";
import { compileTargeting, locationAllowed, matchRule, type CompiledTargeting, type RequestFacts } from "./targeting";
import type { OverrideClaims } from "./override";

export type Role = "canary" | "stable";
export type Reason = "rolled-back" | "override" | "rule" | "location" | "bucket";

/** A document version prepared for the hot path. */
export interface CompiledRouting {
  doc: Rollout;
  fingerprint: string;
  source: "kv" | "controller";
  canary: Slot;
  stable: Slot;
  seed: number;
  threshold: number;
  sticky: StickySpec;
  targeting: CompiledTargeting;
  /** Rules or locations are set: request facts are needed. */
  needsFacts: boolean;
  rolledBack: boolean;
}

export function compileRouting(doc: Rollout, fingerprint: string, source: "kv" | "controller"): CompiledRouting {
  return {
    doc,
    fingerprint,
    source,
    canary: doc.canary,
    stable: otherSlot(doc.canary),
    seed: seedOf(saltOf(doc)),
    threshold: thresholdOf(doc.percent),
    sticky: compileSticky(doc.stickyBy),
    targeting: compileTargeting(doc),
    needsFacts: doc.rules.length > 0 || doc.locations !== undefined,
    rolledBack: doc.rolledBack !== undefined,
  };
}

export interface Decision {
  slot: Slot;
  role: Role;
  reason: Reason;
  bucket: number;
  /** Name (or index) of the matching rule when reason is "rule". */
  rule: string | null;
}

export function decide(
  c: CompiledRouting,
  key: string,
  override: OverrideClaims | null,
  facts: RequestFacts | null,
): Decision {
  const bucket = bucketOf(key, c.seed);
  if (c.rolledBack) return { slot: c.stable, role: "stable", reason: "rolled-back", bucket, rule: null };
  if (override !== null && override.target !== undefined) {
    const t = override.target;
    const slot = t === "canary" ? c.canary : t === "stable" ? c.stable : t;
    return { slot, role: slot === c.canary ? "canary" : "stable", reason: "override", bucket, rule: null };
  }
  if (c.needsFacts && facts !== null) {
    const m = matchRule(c.targeting, facts);
    if (m !== null) {
      return { slot: m.role === "canary" ? c.canary : c.stable, role: m.role, reason: "rule", bucket, rule: m.name };
    }
    if (!locationAllowed(c.targeting, facts))
      return { slot: c.stable, role: "stable", reason: "location", bucket, rule: null };
  }
  return bucket < c.threshold
    ? { slot: c.canary, role: "canary", reason: "bucket", bucket, rule: null }
    : { slot: c.stable, role: "stable", reason: "bucket", bucket, rule: null };
}
