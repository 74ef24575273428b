// Feature flag evaluation at the edge. Pure: the `flags` document (src/model/flags.ts) is compiled
// once per version (`compileFlags`), and a request costs, per flag, a few compares and at most one
// murmur3 of the visitor's key.
//
// Order (first that applies wins), with the OpenFeature reason it is reported with:
// | # | condition                                         | variation                    | reason          |
// |---|---------------------------------------------------|------------------------------|-----------------|
// | 1 | `on` is false                                     | `off`                        | DISABLED        |
// | 2 | a valid signed tester override names the flag     | the override's               | TARGETING_MATCH |
// | 3 | the first matching rule                           | the rule's                   | TARGETING_MATCH |
// | 4 | the visitor's bucket falls in the rollout         | the split's range it is in   | SPLIT           |
// | 5 | otherwise                                         | `default`                    | DEFAULT (STATIC |
// |   |                                                   |                              | if the flag has |
// |   |                                                   |                              | no rule, no rollout) |
//
// Buckets: the visitor's sticky key (the same key the canary split uses) hashed with the flag's own
// salt (its key unless `salt` is set) into 10,000 buckets (src/routing/bucket.ts). So one flag's
// bucket says nothing about another's, nor about the canary's.
//
// The rollout's ranges (`rangesOf`): each variation of the split owns a fixed stretch of the
// bucket space in proportion to its weight, and `percent` says how much of each stretch is in use,
// from its start. Raising `percent` therefore only adds buckets to every variation: no visitor who
// had a variation loses it, nor switches to another. Changing the weights or the salt reshuffles.
import { compileGoals, NO_GOALS, type CompiledGoals } from "../experiments/goals";
import type { Flag, FlagValue, FlagsDocument } from "../model/flags";
import { defaultOf, definitionOf, offOf, typeOfValue } from "../model/flags";
import { BUCKETS, bucketOf, seedOf, thresholdOf } from "../routing/bucket";
import { asciiJson } from "../lib/ascii-json";
import { compileRules, firstMatch, type CompiledRules, type RequestFacts } from "../routing/targeting";

export type FlagReason = "DISABLED" | "TARGETING_MATCH" | "SPLIT" | "DEFAULT" | "STATIC";

export interface FlagEvaluation {
  key: string;
  variation: string;
  value: FlagValue;
  reason: FlagReason;
}

interface Range {
  variation: string;
  start: number;
  end: number;
}

export interface CompiledFlag {
  key: string;
  flag: Flag;
  /** What a guard judges of it (model/flags.ts `definitionOf`): a kill names it. */
  definition: string;
  type: ReturnType<typeof typeOfValue>;
  off: string;
  fallback: string;
  seed: number;
  rules: CompiledRules;
  ruleVariations: string[];
  ranges: Range[];
  /** No rule and no rollout: every visitor gets the same variation. */
  static: boolean;
  /** `"key":<value>` per variation, as the origin header carries it (ASCII-only JSON). */
  fragments: Map<string, string>;
}

export interface CompiledFlags {
  fingerprint: string;
  all: CompiledFlag[];
  byKey: Map<string, CompiledFlag>;
  /** The flags sent to the origin in x-edgeshift-flags. */
  toOrigin: CompiledFlag[];
  /** Flags with a guard (at most FLAG_LIMITS.guarded): their outcomes are recorded per arm. */
  guarded: CompiledFlag[];
  /** Some flag has a rule: request facts are needed. */
  needsFacts: boolean;
  /** The experiments' goals, declared beside the flags (src/experiments/goals.ts). */
  goals: CompiledGoals;
}

/** Tester overrides: flag key → variation (src/routing/override.ts `flags` claim). */
export type FlagOverrides = Readonly<Record<string, string>>;

export function compileFlags(doc: FlagsDocument, fingerprint: string): CompiledFlags {
  const all = Object.entries(doc.flags).map(([key, flag]) => compileFlag(key, flag));
  return {
    fingerprint,
    all,
    byKey: new Map(all.map((f) => [f.key, f])),
    toOrigin: all.filter((f) => f.flag.origin),
    guarded: all.filter((f) => f.flag.guard !== false),
    needsFacts: all.some((f) => f.rules.rules.length > 0),
    goals: Object.keys(doc.goals).length > 0 ? compileGoals(doc.goals) : NO_GOALS,
  };
}

function compileFlag(key: string, flag: Flag): CompiledFlag {
  const fallback = defaultOf(flag);
  const fragments = new Map<string, string>();
  for (const [name, v] of Object.entries(flag.variations)) fragments.set(name, `${asciiJson(key)}:${asciiJson(v)}`);
  return {
    key,
    flag,
    definition: definitionOf(flag),
    type: typeOfValue(Object.values(flag.variations)[0] as FlagValue),
    off: offOf(flag),
    fallback,
    seed: seedOf(flag.salt ?? key),
    rules: compileRules(flag.rules),
    ruleVariations: flag.rules.map((r) => r.variation),
    ranges: flag.rollout === undefined ? [] : rangesOf(flag.rollout.percent, splitOf(flag, fallback)),
    static: flag.rules.length === 0 && (flag.rollout === undefined || flag.rollout.percent === 0),
    fragments,
  };
}

/** The rollout's weights; without `split`, all weight on the one variation that is not the default. */
export function splitOf(flag: Flag, fallback: string): [string, number][] {
  const split = flag.rollout?.split;
  if (split !== undefined) return Object.entries(split);
  return Object.keys(flag.variations)
    .filter((n) => n !== fallback)
    .map((n) => [n, 1]);
}

/**
 * Bucket ranges: variation i owns [S_i, S_i + W_i) where W_i is its share of the weights × BUCKETS
 * and S_i the sum of the shares before it; `percent` uses the first `percent` % of each stretch.
 */
export function rangesOf(percent: number, split: [string, number][]): Range[] {
  const total = split.reduce((s, [, w]) => s + w, 0);
  const used = thresholdOf(percent) / BUCKETS;
  const ranges: Range[] = [];
  let before = 0;
  for (const [variation, w] of split) {
    const start = Math.round((before / total) * BUCKETS);
    const stretch = Math.round(((before + w) / total) * BUCKETS) - start;
    before += w;
    const length = Math.round(stretch * used);
    if (length > 0) ranges.push({ variation, start, end: start + length });
  }
  return ranges;
}

/** One flag for one visitor. `facts` may be null when no flag has rules. */
export function evaluateFlag(
  f: CompiledFlag,
  key: string,
  facts: RequestFacts | null,
  overrides: FlagOverrides | null,
): FlagEvaluation {
  if (!f.flag.on) return result(f, f.off, "DISABLED");
  const forced = overrides?.[f.key];
  if (forced !== undefined && Object.hasOwn(f.flag.variations, forced)) return result(f, forced, "TARGETING_MATCH");
  if (facts !== null && f.rules.rules.length > 0) {
    const m = firstMatch(f.rules, facts);
    if (m !== null) return result(f, f.ruleVariations[m.index], "TARGETING_MATCH");
  }
  if (f.ranges.length > 0) {
    const b = bucketOf(key, f.seed);
    for (const r of f.ranges) if (b >= r.start && b < r.end) return result(f, r.variation, "SPLIT");
  }
  return result(f, f.fallback, f.static ? "STATIC" : "DEFAULT");
}

function result(f: CompiledFlag, variation: string, reason: FlagReason): FlagEvaluation {
  return { key: f.key, variation, value: f.flag.variations[variation] as FlagValue, reason };
}

/** Header carrying the visitor's flags to the origin: one JSON object, flag key → value. */
export const FLAGS_HEADER = "x-edgeshift-flags";

/**
 * The x-edgeshift-flags value for one visitor (`{"new-checkout":true,"theme":"dark"}`), or null
 * when no flag goes to the origin. JSON with every non-ASCII character escaped, so it is a valid
 * header value and `JSON.parse` reads it as written.
 */
export function originFlagsHeader(
  c: CompiledFlags,
  key: string,
  facts: RequestFacts | null,
  overrides: FlagOverrides | null,
): string | null {
  const list = c.toOrigin;
  if (list.length === 0) return null;
  let out = "{";
  for (let i = 0; i < list.length; i++) {
    const f = list[i];
    if (i > 0) out += ",";
    out += f.fragments.get(evaluateFlag(f, key, facts, overrides).variation);
  }
  return out + "}";
}

/**
 * The arm of a guarded flag's comparison this visitor's request counts in: "green" (treatment) when
 * the rollout gave it a variation other than the default, "blue" (control) when it was bucketed to
 * the default (outside the rollout, or a split that names the default), null when the variation was
 * not drawn at random (off, a rule, a tester's token): such requests would bias the comparison, so
 * they count in neither arm.
 */
export function armOf(f: CompiledFlag, e: FlagEvaluation): "blue" | "green" | null {
  if (e.reason !== "SPLIT" && e.reason !== "DEFAULT") return null;
  return e.variation === f.fallback ? "blue" : "green";
}

/** Whether a guarded flag has two arms to compare: a rollout strictly between 0 and 100 %. */
export function comparable(f: CompiledFlag): boolean {
  const p = f.flag.rollout?.percent ?? 0;
  return f.flag.on && p > 0 && p < 100;
}
