// The visitor ledger: who produced a window's outcomes, so that no single client decides a verdict.
// Pure. Fed with (visitor, network, requests, errors) tuples from the isolates' reports
// (src/model/protocol.ts `Contributors`); read by the judge (src/health/rules.ts) as ArmFigures.
//
// What it answers, per slot:
// - distinct visitors, distinct failing visitors (≥ 1 error), distinct networks and failing networks
//   (the quorum: no rule trips on failures from fewer than `minVisitors` visitors and `minNetworks`
//   networks);
// - weighted requests and errors: a visitor counts at most `perVisitorCap` requests at its own error
//   rate, and a network at most `perNetworkCap` of those weighted requests (scaled down as a whole),
//   so a client that pads the canary with cheap successes, or fails it on purpose, moves the rate by
//   at most one capped share, and minting visitor ids by dropping cookies from one address buys
//   nothing beyond its network's share;
// - the visitor sample for the sequential test: each network counts at most
//   perNetworkCap / perVisitorCap visitors (its failing share kept), for the same reason.
//
// Cost: every figure is a running sum, updated per tuple (O(1) per tuple, whatever the number of
// visitors in the window); a bucket leaving the window subtracts its own tuples once.
//
// Bounds and fail-safe (decided here):
// | concern                                  | behaviour                                                  |
// |------------------------------------------|------------------------------------------------------------|
// | > MAX_VISITORS_PER_NETWORK ids from one   | the network's further ids share one pseudo-visitor (a      |
// | network                                  | cookie-dropping client cannot fill the ledger)             |
// | > MAX_VISITORS tracked per slot           | outcomes of further new visitors are not attributed:       |
// |                                          | counted in `untracked` (status shows it), no weight, no    |
// |                                          | quorum — they stay in the raw counters                     |
// | > MAX_ENTRIES bucket entries per slot     | same as above (memory: ≤ MAX_ENTRIES small objects a slot) |
// | a visitor seen on two networks            | kept on the first network seen in the window               |
// | tuple with NaN / negative counts          | ignored (a report is another isolate's input)              |
// | outcomes an isolate could not attribute   | one pseudo-visitor on one pseudo-network, capped like any  |
// |                                          | other (never lost, never more than one visitor's weight)   |
import { rollbackSchema, type RollbackRules, type Slot } from "../model/rollout";
import { LATENCY_BUCKETS, type ReportBatch } from "../model/protocol";

export const MAX_VISITORS = 20_000;
/** Failing visitors let in past MAX_VISITORS: a full ledger still sees a regression's crowd. */
export const MAX_FAILING_EXTRA = 2_000;
export const MAX_VISITORS_PER_NETWORK = 64;
export const MAX_ENTRIES = 200_000;
/**
 * Network hashes are uint32; this one is outside their range: the isolates' unattributed outcomes,
 * filed under visitor id -1 (real ids are uint32, a full network's pseudo-visitor is -2 - network).
 */
export const UNATTRIBUTED_NETWORK = 2 ** 32;

export interface LedgerLimits {
  /** Requests one visitor can weigh in the span (its error rate kept). */
  perVisitorCap: number;
  /** Weighted requests one network can weigh in the span. */
  perNetworkCap: number;
}

/** What the judge reads for one slot. */
export interface ArmFigures {
  visitors: number;
  networks: number;
  failingVisitors: number;
  failingNetworks: number;
  weightedRequests: number;
  weightedErrors: number;
  /** The sequential test's sample: visitors, each network counting at most perNetworkCap / perVisitorCap. */
  sampleVisitors: number;
  sampleFailing: number;
  /** Requests the ledger could not attribute (bounds above); they are in the raw counters only. */
  untracked: number;
  /**
   * Per-visitor latency (null: no contributor reported its slowest answer). Index k counts the
   * visitors whose slowest answer fell in a latency bucket above k (every such answer was slower
   * than LATENCY_BOUNDS_MS[k]): see SlowTable.
   */
  slow: SlowTable | null;
  /**
   * The network that weighs most: `weighted*` of the one with the most weighted errors, `sample*`
   * of the one with the most failing visitors in the sample. The judge leaves it out of the
   * canary's figures, so that no single network (one client, however many cookies it drops)
   * decides a verdict.
   */
  worst: {
    weightedRequests: number;
    weightedErrors: number;
    sampleVisitors: number;
    sampleFailing: number;
    /** Failing visitors of the network with the most of them: left out of the quorum. */
    failingVisitors: number;
  };
}

/**
 * Visitors by their slowest answer, per threshold bucket k (arrays of LATENCY_BOUNDS_MS.length − 1):
 * `sample[k]` visitors slower than bucket k, each network scaled as in the sequential sample;
 * `visitors[k]` / `networks[k]` distinct ones (the quorum; the pseudo-network never counts);
 * `worstSample[k]` / `worstOf[k]`: the network with the most such sample visitors, and its whole
 * sample (left out of the share); `worstVisitors[k]`: the most distinct such visitors on one network.
 */
export interface SlowTable {
  sample: number[];
  visitors: number[];
  networks: number[];
  worstSample: number[];
  worstOf: number[];
  worstVisitors: number[];
}

export const NO_FIGURES: ArmFigures = {
  visitors: 0,
  networks: 0,
  failingVisitors: 0,
  failingNetworks: 0,
  weightedRequests: 0,
  weightedErrors: 0,
  sampleVisitors: 0,
  sampleFailing: 0,
  untracked: 0,
  slow: null,
  worst: { weightedRequests: 0, weightedErrors: 0, sampleVisitors: 0, sampleFailing: 0, failingVisitors: 0 },
};

export interface Contribution {
  visitor: number;
  network: number;
  requests: number;
  errors: number;
  /** Index of the latency bucket of its slowest answer (protocol `Contributors.m`); absent: unknown. */
  maxLatency?: number;
}

interface VisitorAgg {
  network: number;
  requests: number;
  errors: number;
  /** How many of its entries had their slowest answer in each latency bucket (null: none known). */
  slowest: Map<number, number> | null;
}

interface NetworkAgg {
  id: number;
  visitors: number;
  failing: number;
  /** Σ over its visitors of the visitor-capped requests and errors. */
  vr: number;
  ve: number;
  /** Its visitors by their slowest answer's latency bucket (null: none known). */
  mh: number[] | null;
}

interface Entry {
  network: number;
  requests: number;
  errors: number;
  /** Slowest answer's latency bucket in this time bucket; -1: unknown. */
  m: number;
}

const SLOW_THRESHOLDS = LATENCY_BUCKETS - 1;

function maxKey(m: Map<number, number> | null): number {
  let k = -1;
  if (m) for (const [b, c] of m) if (c > 0 && b > k) k = b;
  return k;
}

class Arm {
  readonly visitors = new Map<number, VisitorAgg>();
  readonly networks = new Map<number, NetworkAgg>();
  failingVisitors = 0;
  failingNetworks = 0;
  weightedRequests = 0;
  weightedErrors = 0;
  sampleVisitors = 0;
  sampleFailing = 0;
  untracked = 0;
  entries = 0;
  private slowCache: SlowTable | null = null;
  private slowDirty = false;
  private slowKnown = 0;
  // The heaviest networks, kept as each network changes; a decrease of the top one (expiry, or
  // scaling under its cap) marks them stale and the next read rescans: O(networks ≤ MAX_VISITORS), at
  // most once per read, however the traffic is shaped.
  private topE = { id: NaN, r: 0, e: 0 };
  private topS = { id: NaN, sv: 0, sf: 0 };
  private topF = { id: NaN, f: 0 };
  private stale = false;

  constructor(private readonly limits: LedgerLimits) {}

  private worst(): ArmFigures["worst"] {
    if (this.stale) {
      this.topE = { id: NaN, r: 0, e: 0 };
      this.topS = { id: NaN, sv: 0, sf: 0 };
      this.topF = { id: NaN, f: 0 };
      for (const n of this.networks.values()) this.consider(n, this.networkShare(n));
      this.stale = false;
    }
    return {
      weightedRequests: clean(this.topE.r),
      weightedErrors: clean(this.topE.e),
      sampleVisitors: clean(this.topS.sv),
      sampleFailing: clean(this.topS.sf),
      failingVisitors: this.topF.f,
    };
  }

  // Ties go to the larger share, then the lower id: the network left out is then a function of the
  // figures alone, never of the order reports arrived in (nor of how an aggregator merged them).
  private consider(n: NetworkAgg, c: { r: number; e: number; sv: number; sf: number }) {
    const e = { id: n.id, r: c.r, e: c.e };
    if (n.id === this.topE.id) {
      if (heavier(e.e, e.r, e.id, this.topE.e, this.topE.r, this.topE.id, true)) this.topE = e;
      else this.stale = true;
    } else if (heavier(e.e, e.r, e.id, this.topE.e, this.topE.r, this.topE.id, false)) this.topE = e;
    const s = { id: n.id, sv: c.sv, sf: c.sf };
    if (n.id === this.topS.id) {
      if (heavier(s.sf, s.sv, s.id, this.topS.sf, this.topS.sv, this.topS.id, true)) this.topS = s;
      else this.stale = true;
    } else if (heavier(s.sf, s.sv, s.id, this.topS.sf, this.topS.sv, this.topS.id, false)) this.topS = s;
    if (n.id === UNATTRIBUTED_NETWORK) return;
    const f = { id: n.id, f: n.failing };
    if (n.id === this.topF.id) {
      if (heavier(f.f, 0, f.id, this.topF.f, 0, this.topF.id, true)) this.topF = f;
      else this.stale = true;
    } else if (heavier(f.f, 0, f.id, this.topF.f, 0, this.topF.id, false)) this.topF = f;
  }

  figures(): ArmFigures {
    // The pseudo-network (outcomes an isolate could not attribute) is nobody: it never counts as seen.
    const pseudo = this.networks.has(UNATTRIBUTED_NETWORK) ? 1 : 0;
    const arm = this;
    return {
      visitors: this.visitors.size - (this.visitors.has(-1) ? 1 : 0),
      networks: this.networks.size - pseudo,
      failingVisitors: this.failingVisitors,
      failingNetworks: this.failingNetworks,
      weightedRequests: clean(this.weightedRequests),
      weightedErrors: clean(this.weightedErrors),
      sampleVisitors: clean(this.sampleVisitors),
      sampleFailing: clean(this.sampleFailing),
      untracked: this.untracked,
      // A getter: only the latency rule reads it (never the sequential sample's ledgers), and only
      // when it is on and the canary has minRequests.
      get slow() {
        return arm.slowTable();
      },
      worst: this.worst(),
    };
  }

  /**
   * Computed when read and only after a change: O(networks × thresholds), the price of judging
   * latency per visitor at a limit only known when judging (it depends on stable's percentile).
   */
  private slowTable(): SlowTable | null {
    if (this.slowKnown === 0) return null;
    if (!this.slowDirty && this.slowCache) return this.slowCache;
    const t: SlowTable = {
      sample: new Array(SLOW_THRESHOLDS).fill(0),
      visitors: new Array(SLOW_THRESHOLDS).fill(0),
      networks: new Array(SLOW_THRESHOLDS).fill(0),
      worstSample: new Array(SLOW_THRESHOLDS).fill(0),
      worstOf: new Array(SLOW_THRESHOLDS).fill(0),
      worstVisitors: new Array(SLOW_THRESHOLDS).fill(0),
    };
    // Ties go to the larger share, then the lower id (as for errors): the worst network is a function
    // of the figures alone, never of the order reports arrived in or how an aggregator merged them.
    const worstId = new Array<number>(SLOW_THRESHOLDS).fill(Infinity);
    for (const n of this.networks.values()) {
      if (!n.mh) continue;
      const { sv } = this.networkShare(n);
      const scale = n.visitors > 0 ? sv / n.visitors : 0;
      const real = n.id !== UNATTRIBUTED_NETWORK;
      let c = 0;
      for (let k = SLOW_THRESHOLDS - 1; k >= 0; k--) {
        c += n.mh[k + 1];
        if (c === 0) continue;
        const s = c * scale;
        t.sample[k] += s;
        const ws = t.worstSample[k];
        if (s > ws || (s === ws && (sv > t.worstOf[k] || (sv === t.worstOf[k] && n.id < worstId[k]))))
          ((t.worstSample[k] = s), (t.worstOf[k] = sv), (worstId[k] = n.id));
        if (!real) continue;
        t.visitors[k] += c;
        t.networks[k]++;
        if (c > t.worstVisitors[k]) t.worstVisitors[k] = c;
      }
    }
    for (const a of [t.sample, t.worstSample, t.worstOf]) for (let k = 0; k < a.length; k++) a[k] = clean(a[k]);
    this.slowCache = t;
    this.slowDirty = false;
    return t;
  }

  /** The visitor id the ledger files a tuple under (pseudo-visitor when its network is full), or null: untracked. */
  idFor(visitor: number, network: number, failing = false): number | null {
    if (this.visitors.has(visitor)) return visitor;
    const net = this.networks.get(network);
    if (net && net.visitors >= MAX_VISITORS_PER_NETWORK) return -2 - network;
    return this.visitors.size < MAX_VISITORS + (failing ? MAX_FAILING_EXTRA : 0) ? visitor : null;
  }

  /** Adds (or, with negative counts, removes) a visitor's outcomes; keeps every running sum in step. */
  apply(id: number, network: number, dReq: number, dErr: number, mOld = -1, mNew = -1): void {
    let v = this.visitors.get(id);
    if (!v) {
      if (dReq <= 0) return;
      v = { network, requests: 0, errors: 0, slowest: null };
      this.visitors.set(id, v);
      let n = this.networks.get(network);
      if (!n) this.networks.set(network, (n = { id: network, visitors: 0, failing: 0, vr: 0, ve: 0, mh: null }));
      else this.removeNetwork(n);
      n.visitors++;
      this.addNetwork(n);
    }
    const n = this.networks.get(v.network)!;
    this.removeNetwork(n);
    this.removeVisitor(n, v);
    v.requests += dReq;
    v.errors += dErr;
    if (mOld !== mNew) {
      const m = (v.slowest ??= new Map());
      if (mOld >= 0) m.set(mOld, (m.get(mOld) ?? 0) - 1);
      if (mNew >= 0) m.set(mNew, (m.get(mNew) ?? 0) + 1);
    }
    if (v.requests <= 0) {
      this.visitors.delete(id);
      n.visitors--;
    } else {
      if (v.errors < 0) v.errors = 0;
      if (v.errors > v.requests) v.errors = v.requests;
      this.addVisitor(n, v);
    }
    if (n.visitors <= 0) {
      this.networks.delete(v.network);
      if (n.id === this.topE.id || n.id === this.topS.id || n.id === this.topF.id) this.stale = true;
    } else this.addNetwork(n);
  }

  private addVisitor(n: NetworkAgg, v: VisitorAgg) {
    const r = Math.min(v.requests, this.limits.perVisitorCap);
    n.vr += r;
    n.ve += (v.errors * r) / v.requests;
    if (v.errors > 0) (n.failing++, n.id !== UNATTRIBUTED_NETWORK && this.failingVisitors++);
    this.slowDirty = true;
    const m = maxKey(v.slowest);
    if (m >= 0) ((n.mh ??= new Array(LATENCY_BUCKETS).fill(0))[m]++, this.slowKnown++);
  }

  private removeVisitor(n: NetworkAgg, v: VisitorAgg) {
    if (v.requests <= 0) return;
    const r = Math.min(v.requests, this.limits.perVisitorCap);
    n.vr -= r;
    n.ve -= (v.errors * r) / v.requests;
    if (v.errors > 0) (n.failing--, n.id !== UNATTRIBUTED_NETWORK && this.failingVisitors--);
    this.slowDirty = true;
    const m = maxKey(v.slowest);
    if (m >= 0 && n.mh) (n.mh[m]--, this.slowKnown--);
    if (n.vr < 1e-9) ((n.vr = 0), (n.ve = 0));
  }

  private networkShare(n: NetworkAgg) {
    const { perVisitorCap, perNetworkCap } = this.limits;
    const s = n.vr > perNetworkCap ? perNetworkCap / n.vr : 1;
    const maxVisitors = Math.max(1, perNetworkCap / perVisitorCap);
    const t = n.visitors > maxVisitors ? maxVisitors / n.visitors : 1;
    return { r: n.vr * s, e: n.ve * s, sv: n.visitors * t, sf: n.failing * t };
  }

  private addNetwork(n: NetworkAgg) {
    const c = this.networkShare(n);
    this.weightedRequests += c.r;
    this.weightedErrors += c.e;
    this.sampleVisitors += c.sv;
    this.sampleFailing += c.sf;
    if (n.failing > 0 && n.id !== UNATTRIBUTED_NETWORK) this.failingNetworks++;
    if (!this.stale) this.consider(n, c);
  }

  private removeNetwork(n: NetworkAgg) {
    const c = this.networkShare(n);
    this.weightedRequests -= c.r;
    this.weightedErrors -= c.e;
    this.sampleVisitors -= c.sv;
    this.sampleFailing -= c.sf;
    if (n.failing > 0 && n.id !== UNATTRIBUTED_NETWORK) this.failingNetworks--;
  }
}

/**
 * Whether (a, ar, aid) weighs more than (b, br, bid): more errors (or failing visitors), then more
 * requests (or visitors), then the lower id (none without errors weighs); compared at clean()'s precision, so that rounding
 * residue of the running sums never decides. `orEqual`: the same network may stay on top.
 */
function heavier(a: number, ar: number, aid: number, b: number, br: number, bid: number, orEqual: boolean): boolean {
  // A network without errors (or failing visitors) is never the one that weighs most.
  if (clean(a) === 0) return false;
  const da = clean(a) - clean(b);
  if (da !== 0) return da > 0;
  const dr = clean(ar) - clean(br);
  if (dr !== 0) return dr > 0;
  return aid < bid || (orEqual && aid === bid) || Number.isNaN(bid);
}

/** Running sums are exact in theory; rounding residue must not show as "0.0000001 requests". */
function clean(x: number): number {
  return x < 1e-9 ? 0 : Math.round(x * 1e6) / 1e6;
}

interface Bucket {
  /** Bucket number (t / bucketSeconds); -1: empty. */
  n: number;
  arms: Record<Slot, Map<number, Entry>>;
  /** Requests counted in the arm's `untracked` from this bucket: subtracted when it expires. */
  untracked: Record<Slot, number>;
}

/**
 * `window`: the sliding window (buckets of bucketSeconds), or null for a ledger that never
 * forgets (a plan step's span, an attempt's cumulative sample).
 */
export class VisitorLedger {
  private readonly arms: Record<Slot, Arm>;
  private readonly ring: Bucket[];
  private head = -Infinity;

  constructor(
    readonly limits: LedgerLimits,
    readonly window: { bucketSeconds: number; buckets: number } | null = null,
  ) {
    this.arms = { blue: new Arm(limits), green: new Arm(limits) };
    this.ring = window
      ? Array.from({ length: window.buckets }, () => ({
          n: -1,
          arms: { blue: new Map(), green: new Map() },
          untracked: { blue: 0, green: 0 },
        }))
      : [];
  }

  /** The window's span in seconds (null: never forgets). */
  get span(): number | null {
    return this.window ? this.window.bucketSeconds * this.window.buckets : null;
  }

  /** Adds one visitor's outcomes in `slot` at `tSec`. Outcomes older than the window are dropped. */
  add(tSec: number, slot: Slot, c: Contribution): void {
    const dReq = count(c.requests);
    if (dReq === 0) return;
    const dErr = Math.min(dReq, count(c.errors));
    const visitor = Number(c.visitor);
    const network = Number(c.network);
    if (!Number.isFinite(visitor) || !Number.isFinite(network)) return;
    const m = c.maxLatency === undefined ? -1 : Math.min(LATENCY_BUCKETS - 1, count(c.maxLatency));
    const arm = this.arms[slot];
    let b: Bucket | null = null;
    if (this.window) {
      this.advance(tSec);
      const n = Math.floor(tSec / this.window.bucketSeconds);
      if (n <= this.head - this.window.buckets) return;
      b = this.ring[mod(n, this.window.buckets)];
      if (b.n !== n) (this.expire(b), (b.n = n));
    }
    const untracked = () => {
      arm.untracked += dReq;
      if (b) b.untracked[slot] += dReq;
    };
    const id = arm.idFor(visitor, network, dErr > 0);
    if (id === null) return untracked();
    const known = arm.visitors.get(id);
    const net = known ? known.network : network;
    let mOld = -1;
    let mNew = m;
    if (b) {
      let e = b.arms[slot].get(id);
      if (!e) {
        if (arm.entries >= MAX_ENTRIES) return untracked();
        b.arms[slot].set(id, (e = { network: net, requests: 0, errors: 0, m: -1 }));
        arm.entries++;
      }
      e.requests += dReq;
      e.errors += dErr;
      mOld = e.m;
      mNew = e.m = Math.max(e.m, m);
    }
    arm.apply(id, net, dReq, dErr, mOld, mNew);
  }

  /** Adds a report's parallel arrays for `slot` (see src/model/protocol.ts `Contributors`). */
  addArrays(
    tSec: number,
    slot: Slot,
    c: { v?: unknown; n?: unknown; r?: unknown; e?: unknown; m?: unknown; ur?: unknown; ue?: unknown } | undefined,
  ): void {
    if (!c || typeof c !== "object") return;
    const { v, n, r, e } = c;
    const m = Array.isArray(c.m) ? c.m : null;
    if (Array.isArray(v) && Array.isArray(n) && Array.isArray(r) && Array.isArray(e)) {
      const len = Math.min(v.length, n.length, r.length, e.length);
      for (let i = 0; i < len; i++) {
        const maxLatency = m && typeof m[i] === "number" && m[i] >= 0 ? (m[i] as number) : undefined;
        this.add(tSec, slot, { visitor: v[i], network: n[i], requests: r[i], errors: e[i], maxLatency });
      }
    }
    const ur = count(c.ur);
    if (ur > 0) this.add(tSec, slot, { visitor: -1, network: UNATTRIBUTED_NETWORK, requests: ur, errors: count(c.ue) });
  }

  figures(slot: Slot, nowSec?: number): ArmFigures {
    if (this.window && nowSec !== undefined) this.advance(nowSec);
    return this.arms[slot].figures();
  }

  /** Moves the window's end to `nowSec`, subtracting the buckets that fell out. */
  advance(nowSec: number): void {
    if (!this.window) return;
    const n = Math.floor(nowSec / this.window.bucketSeconds);
    if (n <= this.head) return;
    const { buckets } = this.window;
    for (const b of this.ring) if (b.n >= 0 && b.n <= n - buckets) this.expire(b);
    this.head = n;
  }

  private expire(b: Bucket): void {
    if (b.n < 0) return;
    for (const slot of ["blue", "green"] as const) {
      const arm = this.arms[slot];
      for (const [id, e] of b.arms[slot]) arm.apply(id, e.network, -e.requests, -e.errors, e.m, -1);
      arm.entries -= b.arms[slot].size;
      b.arms[slot].clear();
      arm.untracked -= b.untracked[slot];
      b.untracked[slot] = 0;
    }
    b.n = -1;
  }
}

function count(x: unknown): number {
  const n = Number(x);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/**
 * Adds a report's contributors: `slotsOf(batch)` says which of a batch's slots count (a batch under
 * a superseded version counts for stable alone, as in src/health/window.ts `reportVectors`).
 */
export function addBatches(
  ledger: VisitorLedger,
  tSec: number,
  batches: readonly ReportBatch[],
  slotsOf: (b: ReportBatch) => readonly Slot[],
): void {
  for (const b of batches) {
    if (!b || typeof b !== "object" || !b.contributors || typeof b.contributors !== "object") continue;
    for (const slot of slotsOf(b)) ledger.addArrays(tSec, slot, b.contributors[slot]);
  }
}

/** The ledger's limits from the document's rules (the defaults when rollback is off). */
export function limitsOf(rules: RollbackRules | false): LedgerLimits {
  const r = rules === false ? rollbackSchema.parse({}) : rules;
  return { perVisitorCap: r.perVisitorCap, perNetworkCap: r.perNetworkCap };
}

/** A sliding ledger over `windowSeconds`: at most 60 buckets (1 s up to a minute, coarser beyond). */
export function slidingLedger(limits: LedgerLimits, windowSeconds: number): VisitorLedger {
  const bucketSeconds = Math.max(1, Math.ceil(windowSeconds / 60));
  return new VisitorLedger(limits, { bucketSeconds, buckets: Math.max(1, Math.ceil(windowSeconds / bucketSeconds)) });
}
