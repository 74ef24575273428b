// An experiment's tally: which visitors each arm has seen and which goals each of them reached,
// from the contributor tuples of the isolates' reports (src/model/protocol.ts `Contributors`, goal
// bits in `g`). Pure; the controller keeps one per experiment (the deployment's attempt at its
// current percent, each guarded flag's comparison) and src/experiments/result.ts reads it.
//
// The unit is the visitor, not the request: an arm's conversion rate is the share of its visitors
// who reached the goal at least once since the experiment began. Visitors are independent units (a
// visitor's requests are not), which is what the interval in ./result.ts assumes, and a visitor
// who reloads a thank-you page ten times converts once.
//
// | situation                                  | behaviour                                           |
// |--------------------------------------------|-----------------------------------------------------|
// | a visitor's tuples from many isolates,     | one visitor: goal bits ORed, counted once per goal   |
// | reports or aggregators                     | (exact, whatever order or merging they came in)     |
// | an arm not drawn at random (NOT_RANDOM_BIT: | the visitor is left out from then on, counted in    |
// | rule, override, location pin)              | `excluded` (a tester or a rule chose its arm at     |
// |                                            | least once). Left out for good, not per tuple, so   |
// |                                            | that a merge ORing the bit into a tuple gives the    |
// |                                            | same figures as the tuples one by one               |
// | a visitor seen in both arms (a changed      | left out of both from then on, counted in `crossed` |
// | cookie, a user key moved)                  |                                                     |
// | a failed-over request's stable answer      | skipped (NOT_EXPOSED_BIT): the visitor is in the     |
// |                                            | canary's arm, where the goals it reached count       |
// | unattributed outcomes, a full network's     | not counted: no visitor to count them for            |
// | pseudo-visitor (negative ids)              |                                                     |
// | one network with many visitors             | weighs at most NETWORK_WEIGHT visitors per arm, its |
// |                                            | conversion shares kept: minting cookies from one     |
// |                                            | address moves a rate by at most that many visitors   |
// | > perNetwork ids from one network          | further ids not tracked (`crowded`): memory bound   |
// | > `limit` visitors tracked                 | sampled by a salted hash of the visitor id (a salt  |
// |                                            | of its own, random, so no client can choose ids     |
// |                                            | that stay sampled): the level goes                  |
// |                                            | up one (half the id space) and visitors outside it  |
// |                                            | are forgotten. The sample stays uniform over time   |
// |                                            | and arms (the hash is not the bucketing hash), so   |
// |                                            | rates and intervals stay unbiased, only wider       |
// | > MAX_BATCH_GOALS goal keys over time      | further goals not counted                           |
//
// Persistence (the controller's, src/controller/experiment-archive.ts): the visitors are kept in
// CHUNKS groups by id, and the tally says which groups changed since it was last asked, so a save
// rewrites those rows only; `state()` and `restore()` carry the rest. The running sums are not
// stored: a restore re-adds each visitor, so they cannot disagree with the visitors.
import { fmix32 } from "../lib/hash";
import { MAX_BATCH_GOALS, NOT_EXPOSED_BIT, NOT_RANDOM_BIT, type ReportBatch } from "../model/protocol";
import type { Slot } from "../model/rollout";

/**
 * Visitors one network weighs in an arm. A home or office network has a few visitors; a carrier's
 * NAT has many and is counted at this weight with its own rates, as the visitor ledger does
 * (src/health/ledger.ts) with perNetworkCap / perVisitorCap.
 */
export const NETWORK_WEIGHT = 20;

export const TALLY_LIMITS = {
  /**
   * Visitors the rollout's experiment tracks (both arms); beyond, it samples by hash. Measured in
   * Node (no pointer compression) at 100,000 visitors: 102 bytes a visitor when they share 2,000
   * networks, 444 when each is on a network of its own (the worst case). So the rollout's 50,000 and
   * five flags' 10,000 each take 10–44 MB of the object's 128 MB at most.
   */
  visitors: 50_000,
  /** The same for each guarded flag's experiment (at most 5). */
  flagVisitors: 10_000,
  /** Ids tracked per network (a client minting cookies cannot fill the tally). */
  perNetwork: 1_000,
} as const;

/** Groups of visitors (by a salted hash of the id), each stored in a row of its own. */
export const CHUNKS = 64;

/** What a tally stores besides its visitors. */
export interface TallyState {
  goals: string[];
  crossed: number;
  excluded: number;
  crowded: number;
  level: number;
  /** The visitors it tracks before it samples (absent in rows saved before it was stored: the rollout's). */
  limit?: number;
  /** The sampling and grouping salt (absent in rows saved before it was stored: a new one). */
  salt?: number;
}

/**
 * Mixed into the salt for the grouping hash, so that a visitor's group says nothing of whether it is
 * sampled.
 */
const GROUP_SALT = 0x9e3779b9;

const ARM_INDEX: Record<Slot, 0 | 1> = { blue: 0, green: 1 };

interface Visitor {
  arm: 0 | 1;
  network: number;
  /** Goal bits in the tally's own numbering (`goals`). */
  mask: number;
  /** Left out: seen in both arms, or in an arm not drawn at random. */
  out: boolean;
}

interface NetworkArm {
  visitors: number;
  /** Per goal bit: visitors of this network in this arm who reached it (null: none yet). */
  converted: number[] | null;
}

/** Arms made when first needed: most networks hold one visitor, in one arm (memory: see TALLY_LIMITS). */
interface Network {
  ids: number;
  arms: [NetworkArm | null, NetworkArm | null];
}

/** An arm's counts: `visitors`, `conversions` weighted (networks capped); `raw*` as seen. */
export interface ArmTally {
  visitors: number;
  rawVisitors: number;
  conversions: Record<string, number>;
  rawConversions: Record<string, number>;
}

export interface TallyFigures {
  goals: string[];
  arms: Record<Slot, ArmTally>;
  /** Visitors seen in both arms (left out). */
  crossed: number;
  /** Visitors whose arm was chosen by a rule, an override or a location pin (left out). */
  excluded: number;
  /** Ids of crowded networks not tracked. */
  crowded: number;
  /** Share of the visitor-id space sampled: 1 until `limit` visitors were tracked, then 1/2, 1/4 … */
  sampled: number;
}

export class ExperimentTally {
  /** Visitors by id, in CHUNKS groups (groupOf). */
  private readonly chunks: Map<number, Visitor>[] = Array.from({ length: CHUNKS }, () => new Map());
  private size = 0;
  /** Groups changed since `takeDirty` (a new tally: all, so a save clears an older sample's rows). */
  private dirty = new Set<number>(Array.from({ length: CHUNKS }, (_, i) => i));
  private readonly networks = new Map<number, Network>();
  /** Goal keys in the order first seen; bit i is goals[i]. */
  private readonly goals: string[] = [];
  private readonly weighted: [NetworkArm, NetworkArm] = [emptyArm(), emptyArm()];
  private readonly raw: [NetworkArm, NetworkArm] = [emptyArm(), emptyArm()];
  private crossed = 0;
  private excluded = 0;
  private crowded = 0;
  /** Sampling level: visitors whose sampling hash's top `level` bits are 0 are tracked. */
  private level = 0;

  /**
   * Random per tally and stored with it: which ids are sampled and how they are grouped. Public
   * constants would let a client grind cookie ids that stay sampled at every level (while honest
   * visitors are dropped) or that all fall in one group (past SQLite's 2 MB a row).
   */
  private salt: number = crypto.getRandomValues(new Uint32Array(1))[0];

  constructor(readonly limit: number = TALLY_LIMITS.visitors) {}

  /** Adds a batch's contributors in `slots` (the arms that count for this batch). */
  addBatch(b: ReportBatch, slots: readonly Slot[]): void {
    const remap = this.remap(b.goals);
    for (const slot of slots) {
      const c = b.contributors?.[slot];
      if (!c || !Array.isArray(c.v) || !Array.isArray(c.n)) continue;
      const g = Array.isArray(c.g) ? c.g : null;
      const len = Math.min(c.v.length, c.n.length);
      for (let i = 0; i < len; i++) {
        const mask = g ? Number(g[i]) | 0 : 0;
        const r = Number(c.r?.[i]);
        // A failed-over request's stable answer: the visitor was exposed to the canary, not to stable.
        if (!(r > 0) || mask & NOT_EXPOSED_BIT) continue;
        this.add(
          Number(c.v[i]),
          Number(c.n[i]),
          ARM_INDEX[slot],
          remapMask(mask, remap),
          (mask & NOT_RANDOM_BIT) === 0,
        );
      }
    }
  }

  /** One visitor's tuple: seen in `arm` (at random or not), reached goals `mask` (tally numbering). */
  private add(id: number, network: number, arm: 0 | 1, mask: number, random: boolean): void {
    if (!Number.isInteger(id) || id < 0 || !Number.isFinite(network)) return;
    const chunk = this.groupOf(id);
    const known = this.chunks[chunk].get(id);
    if (known !== undefined) {
      if (known.out) return;
      if (!random || known.arm !== arm) {
        this.dirty.add(chunk);
        this.change(known, () => (known.out = true));
        if (random) this.crossed++;
        else this.excluded++;
        return;
      }
      if ((known.mask | mask) !== known.mask) {
        this.dirty.add(chunk);
        this.change(known, () => (known.mask |= mask));
      }
      return;
    }
    if (!this.inSample(id)) return;
    if ((this.networks.get(network)?.ids ?? 0) >= TALLY_LIMITS.perNetwork) {
      this.crowded++;
      return;
    }
    if (!random) this.excluded++;
    // Kept while left out too, so that its later tuples stay out.
    this.enter(id, { arm, network, mask, out: !random });
    if (this.size > this.limit) this.sampleDown();
  }

  /** Files a new visitor and counts it (unless left out). */
  private enter(id: number, v: Visitor): void {
    const net: Network = this.networks.get(v.network) ?? { ids: 0, arms: [null, null] };
    this.networks.set(v.network, net);
    net.ids++;
    const chunk = this.groupOf(id);
    this.chunks[chunk].set(id, v);
    this.size++;
    this.dirty.add(chunk);
    if (v.out) return;
    v.out = true;
    this.change(v, () => (v.out = false));
  }

  /** Applies `mutate` to a visitor, keeping its network's and the arms' sums in step. */
  private change(v: Visitor, mutate: () => void): void {
    const net = this.networks.get(v.network)!;
    const na = (net.arms[v.arm] ??= emptyArm());
    this.account(na, v.arm, -1);
    if (!v.out) countIn(na, v.mask, -1);
    mutate();
    if (!v.out) countIn(na, v.mask, +1);
    this.account(na, v.arm, +1);
  }

  /** Adds (sign +1) or removes (−1) a network's share of an arm in the weighted and raw sums. */
  private account(na: NetworkArm, arm: 0 | 1, sign: 1 | -1): void {
    if (na.visitors === 0) return;
    const scale = na.visitors > NETWORK_WEIGHT ? NETWORK_WEIGHT / na.visitors : 1;
    addArm(this.weighted[arm], na, sign * scale);
    addArm(this.raw[arm], na, sign);
  }

  private inSample(id: number): boolean {
    return this.level === 0 || fmix32((id ^ this.salt) >>> 0) >>> (32 - this.level) === 0;
  }

  /** The group (0 … CHUNKS − 1) visitor `id` is stored in. */
  groupOf(id: number): number {
    return fmix32((id ^ this.salt ^ GROUP_SALT) >>> 0) % CHUNKS;
  }

  /** Halves the sampled id space until the tally is within its limit again. */
  private sampleDown(): void {
    while (this.size > this.limit && this.level < 31) {
      this.level++;
      for (const [chunk, group] of this.chunks.entries())
        for (const [id, v] of group) {
          if (this.inSample(id)) continue;
          if (!v.out) this.change(v, () => (v.out = true));
          group.delete(id);
          this.size--;
          this.dirty.add(chunk);
          const net = this.networks.get(v.network)!;
          if (--net.ids === 0) this.networks.delete(v.network);
        }
    }
  }

  /** For each bit of a batch's `goals`, its bit here (−1: past MAX_BATCH_GOALS); null: none listed. */
  private remap(goals: unknown): number[] | null {
    if (!Array.isArray(goals) || goals.length === 0) return null;
    return goals.slice(0, MAX_BATCH_GOALS).map((key) => {
      const k = String(key);
      const at = this.goals.indexOf(k);
      if (at >= 0) return at;
      return this.goals.length < MAX_BATCH_GOALS ? this.goals.push(k) - 1 : -1;
    });
  }

  /** The groups changed since the last call (and forgets them). */
  takeDirty(): number[] {
    const out = [...this.dirty];
    this.dirty = new Set();
    return out;
  }

  /** Groups a save could not write: written with the next one. */
  markDirty(groups: readonly number[]): void {
    for (const i of groups) this.dirty.add(i);
  }

  /** Group `i`'s visitors as flat triples: id, network, and arm | out << 1 | goal bits << 2. */
  chunk(i: number): number[] {
    const out: number[] = [];
    for (const [id, v] of this.chunks[i]) out.push(id, v.network, (v.arm | (v.out ? 2 : 0) | (v.mask << 2)) >>> 0);
    return out;
  }

  state(): TallyState {
    return {
      goals: [...this.goals],
      crossed: this.crossed,
      excluded: this.excluded,
      crowded: this.crowded,
      level: this.level,
      limit: this.limit,
      salt: this.salt,
    };
  }

  /** A tally as `state()` and `chunk()` stored it; malformed entries are skipped, never thrown on. */
  static restore(state: TallyState, chunks: Iterable<unknown>): ExperimentTally {
    const limit = Number(state.limit);
    const t = new ExperimentTally(Number.isInteger(limit) && limit > 0 ? limit : TALLY_LIMITS.visitors);
    const n = (x: unknown) => (Number.isFinite(Number(x)) && Number(x) >= 0 ? Math.floor(Number(x)) : 0);
    if (Array.isArray(state.goals)) t.goals.push(...state.goals.slice(0, MAX_BATCH_GOALS).map(String));
    t.crossed = n(state.crossed);
    t.excluded = n(state.excluded);
    t.crowded = n(state.crowded);
    t.level = Math.min(31, n(state.level));
    if (Number.isInteger(state.salt)) t.salt = state.salt! >>> 0;
    for (const c of chunks) {
      if (!Array.isArray(c)) continue;
      for (let k = 0; k + 2 < c.length; k += 3) {
        const [id, network, packed] = [Number(c[k]), Number(c[k + 1]), Number(c[k + 2])];
        if (!Number.isInteger(id) || id < 0 || !Number.isFinite(network) || !Number.isInteger(packed)) continue;
        if (t.chunks[t.groupOf(id)].has(id)) continue;
        t.enter(id, {
          arm: (packed & 1) as 0 | 1,
          network,
          mask: (packed >>> 2) & ((1 << MAX_BATCH_GOALS) - 1),
          out: (packed & 2) !== 0,
        });
      }
    }
    // Rows grouped under another salt (saved before the salt was stored) are all written again.
    if (!Number.isInteger(state.salt)) t.dirty = new Set(Array.from({ length: CHUNKS }, (_, i) => i));
    else t.dirty = new Set();
    return t;
  }

  figures(): TallyFigures {
    const arm = (i: 0 | 1): ArmTally => ({
      visitors: clean(this.weighted[i].visitors),
      rawVisitors: this.raw[i].visitors,
      conversions: Object.fromEntries(this.goals.map((k, b) => [k, clean(this.weighted[i].converted?.[b] ?? 0)])),
      rawConversions: Object.fromEntries(this.goals.map((k, b) => [k, this.raw[i].converted?.[b] ?? 0])),
    });
    return {
      goals: [...this.goals],
      arms: { blue: arm(0), green: arm(1) },
      crossed: this.crossed,
      excluded: this.excluded,
      crowded: this.crowded,
      sampled: 2 ** -this.level,
    };
  }
}

function emptyArm(): NetworkArm {
  return { visitors: 0, converted: null };
}

function countIn(na: NetworkArm, mask: number, sign: 1 | -1): void {
  na.visitors += sign;
  for (let b = 0; mask !== 0 && b < MAX_BATCH_GOALS; b++, mask >>>= 1)
    if (mask & 1) (na.converted ??= [])[b] = (na.converted[b] ?? 0) + sign;
}

function addArm(to: NetworkArm, na: NetworkArm, k: number): void {
  to.visitors += na.visitors * k;
  const c = na.converted;
  if (c === null) return;
  const into = (to.converted ??= []);
  for (let b = 0; b < c.length; b++) if (c[b]) into[b] = (into[b] ?? 0) + c[b] * k;
}

function remapMask(g: number, remap: number[] | null): number {
  if (remap === null || g === 0) return 0;
  let out = 0;
  for (let i = 0; i < remap.length; i++) if (g & (1 << i) && remap[i] >= 0) out |= 1 << remap[i];
  return out;
}

/** Running sums are exact in theory; rounding residue must not show as "0.0000001 visitors". */
function clean(x: number): number {
  return x < 1e-9 ? 0 : Math.round(x * 1e6) / 1e6;
}
