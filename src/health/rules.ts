// The rollback rules: canary vs stable over the same window → healthy or not, and why.
// Pure. Input is the window's totals; output names each rule, whether it holds and the figures,
// so the status page, the events table and the `rolledBack` object all say the same thing.
//
// Decisions (defaults live in src/model/rollout.ts, `rollback`):
// | situation                                          | outcome                                         |
// |----------------------------------------------------|-------------------------------------------------|
// | `rollback: false`                                  | always healthy; one verdict says rollback is off |
// | failures from < minVisitors visitors or < minNetworks networks (the quorum), counted without the  |
// | heaviest failing network (minNetworks ≥ 2) and never the unattributed pseudo-network | no error rule trips |
// | slow answers (over the latency limit) from < minVisitors visitors / minNetworks networks, same   |
// | leave-out                                          | latency cannot trip                             |
// | canary traffic ≥ minRequests raw but < minRequests weighted | "cannot be judged with these settings"  |
// | stable seen by < minVisitors visitors / minNetworks networks | shadow rules cannot trip (mirrors are   |
// |                                                    | stable visitors' requests)                       |
// | no visitor figures at all (ledger empty, e.g. after a restart) | quorum not met: nothing trips (fail safe) |
// | canary weighted requests < minRequests             | real-traffic rules not judged (healthy)         |
// | canary error rate > maxErrorRate, relative off     | trip                                            |
// | … relative on, stable has ≥ minRequests            | trip only if canary ≥ maxRatio × stable AND     |
// |                                                    | canary − stable ≥ minDelta (shared outage: no)  |
// | … relative on, stable has < minRequests            | judged on maxErrorRate alone (nothing to compare)|
// | latency: limit = min(maxMs, stable pN × maxRatio + minDeltaMs when stable ≥ minRequests); more   |
// | than (100 − N) % of canary visitors (beyond stable's share) had an answer over it | trip         |
// | shadow: compared mirrors ≥ minRequests, mismatch share > maxShadowMismatchRate | trip                |
// | shadow: mirrors ≥ minRequests, error rate judged like the canary's (vs stable) | trip                |
// | sequential: canary's failing-visitor share worse than stable's at `confidence`, by ≥ minDelta, |
// | both arms ≥ MIN_SAMPLE visitors, quorum met and ≥ minRequests weighted in the sample | trip       |
// Error rates are the visitor-weighted ones (src/health/ledger.ts): one visitor weighs at most
// perVisitorCap requests, one network perNetworkCap; with minNetworks ≥ 2 the canary's heaviest
// network is left out of its rate and of its sample (no one network decides), and stable's heaviest
// network out of stable's rate (no one network fakes a shared cause). Raw counts are shown beside them.
// An error is a 5xx, a network failure or a timeout; 4xx never count (see SlotCounters).
// docs/verdict.md explains the whole verdict and gives its measured false-positive rate.
import type { RollbackRules, Rollout } from "../model/rollout";
import type { RuleVerdict } from "../model/status";
import { LATENCY_BOUNDS_MS, type ShadowCounters, type SlotCounters } from "../model/protocol";
import { latencyBucketOf, percentile } from "./histogram";
import { errorsOf } from "./window";
import { formatPercent as pct } from "../lib/percent";
import { NO_FIGURES, type ArmFigures } from "./ledger";
import { compareShares } from "./sequential";

/** Visitor figures of both arms over one span. */
export interface People {
  canary: ArmFigures;
  stable: ArmFigures;
}

export interface HealthInput {
  canary: SlotCounters;
  stable: SlotCounters;
  /** Mirrored traffic (shadowPercent); null when there is none. */
  shadow: ShadowCounters | null;
  windowSeconds: number;
  /** Who produced the counts (same span); absent: nobody known, so the quorum is not met. */
  people?: People;
  /** The sequential test's sample (an attempt's or a step's cumulative visitors); default `people`. */
  sample?: People;
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
  const people = input.people ?? { canary: NO_FIGURES, stable: NO_FIGURES };
  const pc = people.canary;
  const ps = people.stable;
  const cErr = errorsOf(canary);
  const sErr = errorsOf(stable);
  // The rates the rules judge: weighted by visitor and network, so no one client moves them far.
  // With minNetworks ≥ 2 no single network may decide: the canary's heaviest one is left out.
  const leaveOut = rules.minNetworks >= 2;
  const cReq = judgedRequests(rules, pc);
  const cErrW = pc.weightedErrors - (leaveOut ? pc.worst.weightedErrors : 0);
  const cRate = cReq > 0 ? cErrW / cReq : 0;
  // Stable's heaviest network is left out too: one network failing on stable must not make a real
  // canary failure look like a shared cause.
  const sReq = ps.weightedRequests - (leaveOut ? ps.worst.weightedRequests : 0);
  const sErrW = ps.weightedErrors - (leaveOut ? ps.worst.weightedErrors : 0);
  const sRate = sReq > 0 ? sErrW / sReq : 0;
  const stableComparable = sReq >= rules.minRequests;
  const q = quorumOf(rules, pc);
  const quorum = q.met;
  const figures: Record<string, unknown> = {
    windowSeconds,
    // Raw counts as the status page shows them; the rules judged the weighted ones below.
    canary: { requests: canary.requests, errors: cErr, errorRate: round(rate(cErr, canary.requests)) },
    stable: { requests: stable.requests, errors: sErr, errorRate: round(rate(sErr, stable.requests)) },
    weighted: {
      canary: {
        requests: round(cReq),
        errors: round(cErrW),
        errorRate: round(cRate),
        heaviestNetworkLeftOut: leaveOut,
      },
      stable: {
        requests: round(sReq),
        errors: round(sErrW),
        errorRate: round(sRate),
        heaviestNetworkLeftOut: leaveOut,
      },
    },
    quorum: {
      met: quorum,
      failingVisitors: pc.failingVisitors,
      failingNetworks: pc.failingNetworks,
      afterLeaveOut: { failingVisitors: q.visitors, failingNetworks: q.networks },
      minVisitors: rules.minVisitors,
      minNetworks: rules.minNetworks,
      visitors: pc.visitors,
      networks: pc.networks,
    },
  };
  if (rules.mode === "observe") figures.mode = "observe";
  const quorumVerdict: RuleVerdict = {
    rule: "quorum",
    ok: true,
    detail:
      `canary failures from ${count(pc.failingVisitors, "visitor")} on ${count(pc.failingNetworks, "network")} ` +
      `(of ${count(pc.visitors, "visitor")}, ${count(pc.networks, "network")} in the last ${windowSeconds} s)` +
      (leaveOut ? `, ${q.visitors} on ${q.networks} without the heaviest failing network` : "") +
      ": " +
      (quorum
        ? `quorum met (needs ${rules.minVisitors} and ${rules.minNetworks})`
        : `no rule can trip before ${count(rules.minVisitors, "failing visitor")} on ${count(rules.minNetworks, "network")}${leaveOut ? " besides the heaviest" : ""}`) +
      (pc.untracked > 0 || ps.untracked > 0
        ? `; ledger full: ${pc.untracked} canary and ${ps.untracked} stable requests not attributed (raw counts only)`
        : "") +
      (rules.mode === "observe" ? "; observe mode: nothing is rolled back" : ""),
  };
  if (pc.untracked > 0 || ps.untracked > 0) figures.untracked = { canary: pc.untracked, stable: ps.untracked };
  const stableSeen = ps.visitors >= rules.minVisitors && ps.networks >= rules.minNetworks;

  // Counted by weight (heaviest network left out): a client cannot bring the canary to minRequests alone.
  const seen = cReq === canary.requests ? `${canary.requests}` : `${round1(cReq)} weighted (${canary.requests} raw)`;
  if (cReq < rules.minRequests) {
    // The traffic is there but the caps keep its weight under minRequests: say so, or an audience on
    // few networks would look merely "not judged yet" for ever.
    const capped = canary.requests >= rules.minRequests;
    verdicts.push({
      rule: "min-requests",
      ok: true,
      detail: capped
        ? `${seen} of ${rules.minRequests} canary requests in the last ${windowSeconds} s: cannot be judged with these settings and this audience ` +
          `(${count(pc.networks, "network")}, each weighing at most perNetworkCap ${rules.perNetworkCap}${leaveOut ? ", the heaviest left out" : ""}); ` +
          `raise rollback.perNetworkCap${leaveOut ? " (and set minNetworks: 1 for a single-site audience)" : ""}`
        : `${seen} of ${rules.minRequests} canary requests in the last ${windowSeconds} s: not judged yet`,
    });
    if (capped) figures.cannotJudge = true;
    verdicts.push(quorumVerdict);
  } else {
    verdicts.push({
      rule: "min-requests",
      ok: true,
      detail: `${seen} canary requests in the last ${windowSeconds} s (needs ${rules.minRequests})`,
    });
    verdicts.push(quorumVerdict);
    const e = judgeErrors(
      "error-rate",
      "canary",
      cErrW,
      cReq,
      sRate,
      stableComparable,
      rules,
      leaveOut && pc.worst.weightedRequests > 0
        ? " weighted by visitor, heaviest network left out"
        : " weighted by visitor",
    );
    verdicts.push(...(quorum ? e.verdicts : held(e.verdicts, "quorum not met")));
    if (e.trip && quorum) (tripped.push("error-rate"), reasons.push(e.reason));

    if (rules.latency !== false) {
      const l = judgeLatency(rules, rules.latency, canary, stable, pc, ps, sReq >= rules.minRequests, leaveOut);
      figures.latency = l.figures;
      verdicts.push({ rule: "latency", ok: !l.trip, detail: l.detail });
      if (l.trip) (tripped.push("latency"), reasons.push(l.detail));
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
        "",
      );
      verdicts.push(...(stableSeen ? e.verdicts : held(e.verdicts, "mirrors from too few visitors or networks")));
      if (e.trip && stableSeen) (tripped.push("shadow-error-rate"), reasons.push(e.reason));
      if (compared >= rules.minRequests) {
        const rate = shadow.mismatches / compared;
        const ok = rate <= rules.maxShadowMismatchRate || !stableSeen;
        verdicts.push({
          rule: "shadow-mismatch",
          ok,
          detail: `${pct(rate)} of mirrored answers differ from stable's (${shadow.mismatches}/${compared}) ${rate <= rules.maxShadowMismatchRate ? "≤" : ">"} ${pct(rules.maxShadowMismatchRate)}${stableSeen ? "" : ` — not judged: mirrors came from ${ps.visitors} visitors on ${ps.networks} networks (needs ${rules.minVisitors} on ${rules.minNetworks})`}`,
        });
        if (!ok) (tripped.push("shadow-mismatch"), reasons.push(verdicts[verdicts.length - 1].detail));
      }
    }
  }

  const seq = sequentialVerdict(rules, input.sample ?? people, figures);
  verdicts.push(seq.verdict);
  if (seq.trip) (tripped.push("sequential"), reasons.push(seq.verdict.detail));

  if (tripped.length) figures.tripped = tripped;
  return { healthy: tripped.length === 0, verdicts, figures, reason: reasons.length ? reasons.join("; ") : null };
}

/**
 * The error quorum: failing visitors and networks, the pseudo-network never counted (ledger), and
 * with minNetworks ≥ 2 the heaviest failing network left out, so that one client, even on two
 * networks at once (a dual-stack host: an IPv4 /24 and an IPv6 /48), never meets it alone.
 */
function quorumOf(rules: RollbackRules, f: ArmFigures): { met: boolean; visitors: number; networks: number } {
  const leaveOut = rules.minNetworks >= 2 && f.worst.failingVisitors > 0;
  const visitors = f.failingVisitors - (leaveOut ? f.worst.failingVisitors : 0);
  const networks = f.failingNetworks - (leaveOut ? 1 : 0);
  return { met: visitors >= rules.minVisitors && networks >= rules.minNetworks, visitors, networks };
}

/**
 * Latency judged per visitor: the limit (maxMs, or stable's raw pN × maxRatio + minDeltaMs) is
 * turned into the latency bucket above which every answer is slower than it; the canary trips when
 * more than (100 − N) % of its visitors (sample-weighted, heaviest slow network left out) had such
 * an answer, beyond stable's own share at the same limit, and the slow visitors make a quorum
 * (minVisitors on minNetworks, heaviest left out). A few slow requests from one client, or many
 * fast ones padding the canary, move none of that.
 */
function judgeLatency(
  rules: RollbackRules,
  L: Exclude<RollbackRules["latency"], false>,
  canary: SlotCounters,
  stable: SlotCounters,
  pc: ArmFigures,
  ps: ArmFigures,
  stableComparable: boolean,
  leaveOut: boolean,
): { trip: boolean; detail: string; figures: Record<string, unknown> } {
  const cp = percentile(canary.latency, L.percentile);
  const sp = stableComparable ? percentile(stable.latency, L.percentile) : null;
  const limits: number[] = [];
  if (L.maxMs !== undefined) limits.push(L.maxMs);
  if (sp !== null) limits.push(sp * L.maxRatio + L.minDeltaMs);
  const figures: Record<string, unknown> = { percentile: L.percentile, canaryMs: cp, stableMs: sp };
  let detail = `canary p${L.percentile} ${cp ?? "–"} ms (stable ${sp ?? "–"} ms)`;
  if (limits.length === 0)
    return {
      trip: false,
      figures,
      detail: `${detail}: stable has too few requests to compare; set latency.maxMs for an absolute limit`,
    };
  const limit = Math.min(...limits);
  // Slow: the slowest answer's bucket ends above the limit, as the raw percentile reads buckets.
  const b = latencyBucketOf(limit);
  const k = Math.max(0, LATENCY_BOUNDS_MS[Math.min(b, LATENCY_BOUNDS_MS.length - 1)] === limit ? b : b - 1);
  figures.limitMs = limit;
  const c = pc.slow;
  if (!c || k >= c.sample.length)
    return {
      trip: false,
      figures,
      detail: `${detail}, limit ${limit} ms: no visitor's slowest answer is known above it`,
    };
  const allowed = 1 - L.percentile / 100;
  const cn = pc.sampleVisitors - (leaveOut ? c.worstOf[k] : 0);
  const cs = c.sample[k] - (leaveOut ? c.worstSample[k] : 0);
  const share = cn > 0 ? Math.max(0, cs) / cn : 0;
  const s = ps.slow;
  const sn = ps.sampleVisitors - (leaveOut && s ? s.worstOf[k] : 0);
  const sShare =
    s && sn > 0 && stableComparable ? Math.max(0, s.sample[k] - (leaveOut ? s.worstSample[k] : 0)) / sn : 0;
  const over = share > allowed + sShare;
  const qv = c.visitors[k] - (leaveOut ? c.worstVisitors[k] : 0);
  const qn = c.networks[k] - (leaveOut && c.worstVisitors[k] > 0 ? 1 : 0);
  const quorum = qv >= rules.minVisitors && qn >= rules.minNetworks;
  Object.assign(figures, {
    slowShare: round(share),
    stableSlowShare: round(sShare),
    slowVisitors: qv,
    slowNetworks: qn,
  });
  detail +=
    `: ${pct(share)} of canary visitors had an answer over ${limit} ms (stable ${pct(sShare)}) ` +
    `${over ? ">" : "≤"} ${pct(allowed)} allowed by p${L.percentile}` +
    (leaveOut ? ", heaviest network left out" : "");
  if (over && !quorum)
    detail += ` — not acted on: slow answers from ${qv} visitors on ${qn} networks (needs ${rules.minVisitors} on ${rules.minNetworks}${leaveOut ? " besides the heaviest" : ""})`;
  return { trip: over && quorum, detail, figures };
}

/**
 * The canary requests a verdict rests on: weighted by visitor and network, the heaviest network left
 * out when `minNetworks` ≥ 2. What `minRequests` is compared with, here and by a plan step.
 */
export function judgedRequests(rules: RollbackRules, canary: ArmFigures): number {
  return canary.weightedRequests - (rules.minNetworks >= 2 ? canary.worst.weightedRequests : 0);
}

/** The always-valid comparison of failing-visitor shares (./sequential.ts), gated by the sample's quorum. */
function sequentialVerdict(
  rules: RollbackRules,
  sample: People,
  figures: Record<string, unknown>,
): { trip: boolean; verdict: RuleVerdict } {
  const c = sample.canary;
  const s = sample.stable;
  const leaveOut = rules.minNetworks >= 2;
  const cn = c.sampleVisitors - (leaveOut ? c.worst.sampleVisitors : 0);
  const cx = c.sampleFailing - (leaveOut ? c.worst.sampleFailing : 0);
  const floor = rules.relative === false ? 0.02 : rules.relative.minDelta;
  const r = compareShares({ n: cn, x: cx }, { n: s.sampleVisitors, x: s.sampleFailing }, 1 - rules.confidence, floor);
  const quorum = quorumOf(rules, c).met;
  const shares = `canary ${pct(r.canaryShare)} of ${round1(cn)} visitors failed vs stable ${pct(r.stableShare)} of ${round1(s.sampleVisitors)}`;
  figures.sequential = {
    canaryVisitors: round(cn),
    canaryFailing: round(cx),
    heaviestNetworkLeftOut: leaveOut,
    stableVisitors: round(s.sampleVisitors),
    stableFailing: round(s.sampleFailing),
    difference: round(r.difference),
    logLambda: round(r.logLambda),
    threshold: round(r.threshold),
    confidence: rules.confidence,
  };
  if (!r.evaluated)
    return {
      trip: false,
      verdict: { rule: "sequential", ok: true, detail: `${shares}: not compared before 20 visitors on each side` },
    };
  // minRequests means "no judgement before": the sequential test honours it too (the sample's weighted requests).
  const enough = judgedRequests(rules, c) >= rules.minRequests;
  const trip = r.worse && quorum && enough;
  const strength = `evidence ${Math.exp(Math.min(50, r.logLambda)).toPrecision(3)} ${r.logLambda >= r.threshold ? "≥" : "<"} ${Math.round(1 / (1 - rules.confidence))} needed at ${pct(rules.confidence)} confidence`;
  const detail = !r.worse
    ? `${shares}: ${r.difference < floor ? `not ${pct(floor)} worse` : "not significantly worse"} (${strength})`
    : !quorum
      ? `${shares}: worse, but failures from too few visitors or networks to act`
      : !enough
        ? `${shares}: worse, but ${round1(judgedRequests(rules, c))} of ${rules.minRequests} canary requests: not judged yet`
        : `${shares}: canary worse (${strength}, difference ≥ ${pct(floor)})`;
  return { trip, verdict: { rule: "sequential", ok: !trip, detail } };
}

/** Verdicts that would trip but may not act yet: shown as holding, with why. */
function held(verdicts: RuleVerdict[], why: string): RuleVerdict[] {
  return verdicts.map((v) => (v.ok ? v : { ...v, ok: true, detail: `${v.detail} — not acted on: ${why}` }));
}

function round1(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

function judgeErrors(
  rule: string,
  who: string,
  errors: number,
  requests: number,
  stableRate: number,
  stableComparable: boolean,
  rules: RollbackRules,
  weighting: string,
): { trip: boolean; verdicts: RuleVerdict[]; reason: string } {
  const rate = requests > 0 ? errors / requests : 0;
  const over = rate > rules.maxErrorRate;
  const verdicts: RuleVerdict[] = [
    {
      rule,
      ok: !over,
      detail: `${who} ${pct(rate)} errors (${round1(errors)}/${round1(requests)}${weighting}) ${over ? ">" : "≤"} maxErrorRate ${pct(rules.maxErrorRate)}`,
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

function rate(errors: number, requests: number): number {
  return requests > 0 ? errors / requests : 0;
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}

/** "1 network", "2 networks". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
