// Many isolates' reports merged into one, exactly, for the aggregation tier (src/aggregator): what
// the root controller judges from one merged report is what it would have judged from the isolates'
// reports received one after another in the same second. Pure; no Workers API.
//
// | field                                  | merged as                                                   |
// |----------------------------------------|-------------------------------------------------------------|
// | batches                                | one per document fingerprint, in order of first appearance |
// | slot counters, latency histograms,     | summed bucket by bucket (the root only ever sums them)      |
// | shadow counters, newVisitors           |                                                             |
// | from / to                              | earliest / latest second                                    |
// | contributors (v, n, r, e)              | one tuple per (visitor, network), r and e summed, in order  |
// |                                        | of first appearance: the same visitor from two isolates is  |
// |                                        | one visitor at the root, as if they had reported directly   |
// | contributors' goal bits (g)            | ORed per tuple, each source's bits renumbered to the merged |
// |                                        | batch's `goals` list (keys in order of first appearance)    |
// | ur / ue (unattributed)                 | summed: one pseudo-visitor at the root either way           |
// | dropped, mirrorsSkipped, diverted      | summed; `reports` counts the isolates' reports it stands for|
//
// Bounds (decided here, never a silent change of the verdict's meaning):
// | concern                                | behaviour                                                   |
// |----------------------------------------|-------------------------------------------------------------|
// | > MAX_MERGED_CONTRIBUTORS (visitor,    | `fits` says no: the caller starts another merged report     |
// | network) pairs in one slot and batch   | (a part), so no tuple is ever folded into ur / ue here      |
// | > MAX_MERGED_BATCHES versions          | same (the root reads at most 16 batches per report)         |
// | > MAX_BATCH_GOALS goal keys in a batch | the further keys' bits are left out (goals per document are |
// |                                        | capped at 20, so only many versions at once could do this)  |
// | a count that is NaN, negative, not a   | counted as 0, as the root would (one isolate's garbage must |
// | number                                 | not poison the others' sums)                                |
//
// Where "exact" has an edge (docs/architecture.md "Fleet"): the ledger files a visitor seen on two
// networks under the first it sees, and a full network's (64 visitors) newcomers under its
// pseudo-visitor, so it depends on the order tuples arrive in, as it does for direct reports. Merged,
// each (visitor, network) pair arrives at its first appearance with all its outcomes: exact for
// visitors who stay on one network, full networks or not (test/unit/merge.test.ts "fixed", "full")
// and for visitors moving between networks that are not full ("moving"). Filed differently: a
// visitor moving between networks within one interval while one of them is full, or under two
// document versions; at most that visitor's own outcomes, its weight capped as any visitor's.
import {
  MAX_BATCH_GOALS,
  NOT_EXPOSED_BIT,
  NOT_RANDOM_BIT,
  type Contributors,
  type Report,
  type ReportBatch,
  type ShadowCounters,
  type SlotCounters,
} from "../model/protocol";
import type { Slot } from "../model/rollout";
import { emptyHistogram } from "../health/histogram";

/** The root ledger's visitors per slot (src/health/ledger.ts MAX_VISITORS): more in one second is never useful. */
export const MAX_MERGED_CONTRIBUTORS = 20_000;
/** The root reads at most 16 batches of a report (src/controller/report-counter.ts). */
export const MAX_MERGED_BATCHES = 16;

const SLOT_NAMES: readonly Slot[] = ["blue", "green"];

interface SlotIndex {
  c: Contributors;
  /** visitor → index in c's arrays of its tuple on the first network it came with (numbers: no key string per tuple). */
  byVisitor: Map<number, number>;
  /** `${visitor}/${network}` → index, for a visitor's tuples on further networks (rare). */
  moved: Map<string, number> | null;
}

/** The index of (v, n)'s tuple, or undefined. */
function indexOf(idx: SlotIndex, v: number, n: number): number | undefined {
  const i = idx.byVisitor.get(v);
  if (i !== undefined && idx.c.n[i] === n) return i;
  return i === undefined ? undefined : idx.moved?.get(`${v}/${n}`);
}

interface MergedBatch {
  b: ReportBatch;
  index: Partial<Record<Slot, SlotIndex>>;
}

/** What one merged report holds so far: the aggregator keeps one or more. */
export interface Merge {
  batches: Map<string, MergedBatch>;
  reports: number;
  dropped: number;
  mirrorsSkipped: number;
  diverted: number;
  /** When the first report merged in arrived (epoch ms; the caller's clock). */
  since: number;
}

export function newMerge(now: number): Merge {
  return { batches: new Map(), reports: 0, dropped: 0, mirrorsSkipped: 0, diverted: 0, since: now };
}

/** Whether `r` can be merged into `m` without passing a bound (then the caller starts another Merge). */
export function fits(m: Merge, r: Report): boolean {
  const batches = listOf(r);
  let versions = m.batches.size;
  for (const b of batches) {
    const key = String(b.fingerprint);
    const have = m.batches.get(key);
    if (!have) {
      if (++versions > MAX_MERGED_BATCHES) return false;
      for (const slot of SLOT_NAMES) if (pairsOf(b.contributors?.[slot]) > MAX_MERGED_CONTRIBUTORS) return false;
      continue;
    }
    for (const slot of SLOT_NAMES) {
      const c = b.contributors?.[slot];
      if (!c) continue;
      const idx = have.index[slot];
      const held = idx ? idx.c.v.length : 0;
      let fresh = 0;
      const len = pairsOf(c);
      // Nearly always: even if every pair were new it would fit, so no lookups.
      if (held + len <= MAX_MERGED_CONTRIBUTORS) continue;
      for (let i = 0; i < len; i++) if (!idx || indexOf(idx, Number(c.v[i]), Number(c.n[i])) === undefined) fresh++;
      if (held + fresh > MAX_MERGED_CONTRIBUTORS) return false;
    }
  }
  return true;
}

/** Adds `r` to `m` (check `fits` first: beyond the bounds, tuples would still be added). */
export function mergeReport(m: Merge, r: Report): void {
  m.reports += Math.max(1, count(r?.reports));
  m.dropped += count(r?.dropped);
  m.mirrorsSkipped += count(r?.mirrorsSkipped);
  m.diverted += count(r?.diverted);
  for (const b of listOf(r)) mergeBatch(m, b);
}

/** The merged report to send; `isolate` names the sender (the aggregator). */
export function toReport(m: Merge, isolate: string, sentAt: number): Report {
  return {
    isolate,
    sentAt,
    batches: [...m.batches.values()].map((x) => x.b),
    dropped: m.dropped,
    ...(m.mirrorsSkipped ? { mirrorsSkipped: m.mirrorsSkipped } : {}),
    ...(m.diverted ? { diverted: m.diverted } : {}),
    reports: m.reports,
  };
}

/** Reports merged in order, a new part whenever one would pass a bound. For tests and callers without a clock. */
export function mergeAll(reports: readonly Report[], isolate = "merged", sentAt = 0): Report[] {
  const parts: Merge[] = [];
  for (const r of reports) {
    let m = parts[parts.length - 1];
    if (!m || !fits(m, r)) parts.push((m = newMerge(sentAt)));
    mergeReport(m, r);
  }
  return parts.map((m) => toReport(m, isolate, sentAt));
}

function mergeBatch(m: Merge, src: ReportBatch): void {
  const key = String(src.fingerprint);
  let mb = m.batches.get(key);
  if (!mb) {
    mb = {
      b: {
        fingerprint: key,
        ...(src.release !== undefined ? { release: src.release } : {}),
        canary: src.canary,
        from: count(src.from),
        to: count(src.to),
        slots: {},
      },
      index: {},
    };
    m.batches.set(key, mb);
  }
  const b = mb.b;
  b.from = Math.min(b.from, count(src.from) || b.from);
  b.to = Math.max(b.to, count(src.to));
  const remap = goalRemap(b, src.goals);
  for (const slot of SLOT_NAMES) {
    const s = src.slots?.[slot];
    if (s && typeof s === "object") addSlot((b.slots[slot] ??= emptySlot()), s);
    const nv = src.newVisitors?.[slot];
    if (nv !== undefined) (b.newVisitors ??= {})[slot] = (b.newVisitors?.[slot] ?? 0) + count(nv);
    const c = src.contributors?.[slot];
    if (c && typeof c === "object") addContributors(mb, slot, c, remap);
  }
  if (src.shadow && typeof src.shadow === "object") addShadow((b.shadow ??= emptyShadow()), src.shadow);
}

function addSlot(to: SlotCounters, s: SlotCounters): void {
  to.requests += count(s.requests);
  to.errors5xx += count(s.errors5xx);
  to.errorsNetwork += count(s.errorsNetwork);
  to.errorsTimeout += count(s.errorsTimeout);
  to.failovers += count(s.failovers);
  addHistogram(to.latency, s.latency);
}

function addShadow(to: ShadowCounters, s: ShadowCounters): void {
  to.mirrored += count(s.mirrored);
  to.mismatches += count(s.mismatches);
  to.notCompared += count(s.notCompared);
  to.errors += count(s.errors);
  addHistogram(to.latency, s.latency);
}

function addHistogram(to: number[], from: unknown): void {
  if (!Array.isArray(from)) return;
  // The root sums arrays of any length bucket by bucket; so does this (a longer one from a newer isolate keeps its tail).
  for (let i = 0; i < from.length; i++) to[i] = (to[i] ?? 0) + count(from[i]);
}

/**
 * For each bit of `goals` (a source batch's list), its bit in the merged batch `b`'s list (-1: no
 * room); null when the source lists none.
 */
function goalRemap(b: ReportBatch, goals: unknown): number[] | null {
  if (!Array.isArray(goals) || goals.length === 0) return null;
  const list = (b.goals ??= []);
  return goals.slice(0, MAX_BATCH_GOALS).map((key) => {
    const k = String(key);
    const at = list.indexOf(k);
    if (at >= 0) return at;
    return list.length < MAX_BATCH_GOALS ? list.push(k) - 1 : -1;
  });
}

/** A source tuple's goal bits in the merged batch's numbering (NOT_RANDOM_BIT, NOT_EXPOSED_BIT kept as they are). */
function remapMask(x: unknown, remap: number[] | null): number {
  const g = Number(x);
  if (!Number.isInteger(g) || g <= 0) return 0;
  let out = g & (NOT_RANDOM_BIT | NOT_EXPOSED_BIT);
  if (remap === null) return out;
  for (let i = 0; i < remap.length; i++) if (g & (1 << i) && remap[i] >= 0) out |= 1 << remap[i];
  return out;
}

function addContributors(mb: MergedBatch, slot: Slot, c: Contributors, remap: number[] | null): void {
  const fresh: Contributors = { v: [], n: [], r: [], e: [] };
  const idx = (mb.index[slot] ??= { c: fresh, byVisitor: new Map<number, number>(), moved: null });
  const to: Contributors = idx.c;
  (mb.b.contributors ??= {})[slot] = to;
  const len = pairsOf(c);
  // `m` (slowest answer's latency bucket) merges by max; -1 where a source did not send one.
  if (Array.isArray(c.m) && !to.m) to.m = new Array<number>(to.v.length).fill(-1);
  const g = Array.isArray(c.g) ? c.g : null;
  if (g && !to.g) to.g = new Array<number>(to.v.length).fill(0);
  for (let i = 0; i < len; i++) {
    const r = count(c.r[i]);
    // The ledger ignores a tuple without requests; keeping it out keeps the pair bound for real ones.
    if (r === 0) continue;
    const e = Math.min(r, count(c.e[i]));
    const v = Number(c.v[i]);
    const n = Number(c.n[i]);
    if (!Number.isFinite(v) || !Number.isFinite(n)) continue;
    const at = indexOf(idx, v, n);
    const slowest =
      Array.isArray(c.m) && Number.isFinite(Number(c.m[i])) ? Math.max(-1, Math.floor(Number(c.m[i]))) : -1;
    if (at !== undefined) {
      to.r[at] += r;
      to.e[at] += e;
      if (to.m && slowest > to.m[at]) to.m[at] = slowest;
      if (g && to.g) to.g[at] |= remapMask(g[i], remap);
    } else {
      if (!idx.byVisitor.has(v)) idx.byVisitor.set(v, to.v.length);
      else (idx.moved ??= new Map()).set(`${v}/${n}`, to.v.length);
      to.v.push(v);
      to.n.push(n);
      to.r.push(r);
      to.e.push(e);
      to.m?.push(slowest);
      to.g?.push(g ? remapMask(g[i], remap) : 0);
    }
  }
  const ur = count(c.ur);
  if (ur > 0) {
    to.ur = (to.ur ?? 0) + ur;
    const ue = Math.min(ur, count(c.ue));
    if (ue > 0) to.ue = (to.ue ?? 0) + ue;
  }
}

function listOf(r: Report): ReportBatch[] {
  return Array.isArray(r?.batches) ? r.batches.filter((b) => b && typeof b === "object") : [];
}

function pairsOf(c: Contributors | undefined): number {
  if (!c || !Array.isArray(c.v) || !Array.isArray(c.n) || !Array.isArray(c.r) || !Array.isArray(c.e)) return 0;
  return Math.min(c.v.length, c.n.length, c.r.length, c.e.length);
}

function count(x: unknown): number {
  const n = Number(x);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** Zeroed counters of one slot and of the shadow (the recorder and the merge start from these). */
export function emptySlot(): SlotCounters {
  return {
    requests: 0,
    errors5xx: 0,
    errorsNetwork: 0,
    errorsTimeout: 0,
    failovers: 0,
    latency: emptyHistogram(),
  };
}

export function emptyShadow(): ShadowCounters {
  return { mirrored: 0, mismatches: 0, notCompared: 0, errors: 0, latency: emptyHistogram() };
}
