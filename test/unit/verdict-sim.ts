// Simulated populations for the verdict (not a test file itself): visitors arrive, each is assigned
// to an arm, sends a few requests from its network, and the judge (src/health/judge.ts, the same
// function the controller calls) looks after every batch of visitors. Used by
// test/unit/verdict-simulation.test.ts, whose printed figures are quoted in docs/verdict.md.
import { judgeHealth, peopleOf } from "../../src/health/judge";
import { VisitorLedger } from "../../src/health/ledger";
import { emptyVector, OFFSET } from "../../src/health/window";
import { rolloutSchema, type RollbackRules } from "../../src/model/rollout";
import { prng } from "./stats";

export interface Scenario {
  /** Per-request failure probability on stable and on the canary. */
  pStable: number;
  pCanary: number;
  /** Share of visitors on the canary. */
  canaryShare?: number;
  /** Visitors simulated per run (the horizon). */
  visitors: number;
  /** The judge looks after every `batch` visitors. */
  batch?: number;
  /** Distinct networks real visitors come from. */
  networks?: number;
  /** An attacker on the canary, acting before the first look (and again after every batch). */
  attacker?: {
    /** "visitor": one id, one network; "network": a fresh id per request, one network. */
    kind: "visitor" | "network";
    requests: number;
    errors: number;
  };
  rules?: Partial<RollbackRules> | Record<string, unknown>;
  /**
   * The sample starts over this many times, evenly over the horizon (a plan's steps, percent changes,
   * restarts): each segment is a fresh ledger and fresh counts, as the controller's step span is.
   */
  segments?: number;
}

export interface RunResult {
  /** Visitors (both arms) seen when the judge first tripped; null: never within the horizon. */
  trippedAt: number | null;
  /** Which rules tripped first. */
  tripped: string[];
}

export function rulesOf(r: Scenario["rules"] = {}): RollbackRules {
  const rb = rolloutSchema.parse({ rollback: r }).rollback;
  if (rb === false) throw new Error("simulation needs rollback rules");
  return rb;
}

export function runOnce(s: Scenario, seed: number): RunResult {
  const rnd = prng(seed);
  const rules = rulesOf(s.rules);
  // A plan step's (or an attempt's) cumulative span: the always-valid guarantee is over a growing sample.
  const fresh = () => new VisitorLedger({ perVisitorCap: rules.perVisitorCap, perNetworkCap: rules.perNetworkCap });
  let ledger = fresh();
  let counts = emptyVector();
  const segment = Math.ceil(s.visitors / (s.segments ?? 1));
  const share = s.canaryShare ?? 0.5;
  const batch = s.batch ?? 10;
  const networks = s.networks ?? 5000;
  let attackerIds = 0;
  const attack = () => {
    const a = s.attacker;
    if (!a) return;
    for (let i = 0; i < (a.kind === "visitor" ? 1 : a.requests); i++) {
      const requests = a.kind === "visitor" ? a.requests : 1;
      const errors = a.kind === "visitor" ? a.errors : i < a.errors ? 1 : 0;
      const visitor = a.kind === "visitor" ? 0xa77ac : 0xa77ac + 1 + attackerIds++;
      ledger.add(0, "green", { visitor, network: 0xbad, requests, errors });
      counts[OFFSET.green] += requests;
      counts[OFFSET.green + 1] += errors;
    }
  };
  attack();
  for (let v = 1; v <= s.visitors; v++) {
    const canary = rnd() < share;
    const slot = canary ? "green" : "blue";
    const p = canary ? s.pCanary : s.pStable;
    // 1 + a geometric count, mean 3.5: most visitors are brief, a few are busy.
    const requests = 1 + Math.floor(-Math.log(1 - rnd()) * 3);
    let errors = 0;
    for (let k = 0; k < requests; k++) if (rnd() < p) errors++;
    ledger.add(0, slot, { visitor: v, network: Math.floor(rnd() * networks), requests, errors });
    counts[OFFSET[slot]] += requests;
    counts[OFFSET[slot] + 1] += errors;
    if (v % batch === 0) {
      const people = peopleOf(ledger, "green");
      const j = judgeHealth(counts, "green", rules, 60, people, people);
      if (!j.healthy) return { trippedAt: v, tripped: (j.figures.tripped as string[]) ?? [] };
      if (s.attacker) attack();
    }
    if (v % segment === 0) ((ledger = fresh()), (counts = emptyVector()));
  }
  return { trippedAt: null, tripped: [] };
}

export interface Summary {
  runs: number;
  /** Share of runs that tripped within the horizon. */
  tripRate: number;
  /** Median visitors (both arms) until the trip, over the runs that tripped (null: none did). */
  medianVisitors: number | null;
  /** Which rules tripped first, counted over the runs. */
  byRule: Record<string, number>;
}

export function simulate(s: Scenario, runs: number, seed = 1): Summary {
  const at: number[] = [];
  const byRule: Record<string, number> = {};
  for (let r = 0; r < runs; r++) {
    const res = runOnce(s, seed + r * 7919);
    if (res.trippedAt !== null) {
      at.push(res.trippedAt);
      for (const rule of res.tripped) byRule[rule] = (byRule[rule] ?? 0) + 1;
    }
  }
  at.sort((a, b) => a - b);
  return {
    runs,
    tripRate: at.length / runs,
    medianVisitors: at.length ? at[Math.floor(at.length / 2)] : null,
    byRule,
  };
}
