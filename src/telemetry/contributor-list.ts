// How a batch lists who its outcomes count for (src/model/protocol.ts `Contributors`): one entry
// per visitor and slot, bounded, so a batch's size stays constant in traffic however many visitors
// come. Pure; the recorder keeps one per isolate and clears it with each flush.
//
// | situation                       | listing                                                          |
// |---------------------------------|------------------------------------------------------------------|
// | a visitor already listed        | its entry counts the outcome (requests, errors, slowest bucket)  |
// | a new visitor, room left        | a new entry (≤ MAX_CONTRIBUTORS per slot and batch)              |
// | many ids from one network       | ≤ MAX_CONTRIBUTORS_PER_NETWORK listed; the rest share one entry  |
// |                                 | of that network (id −2 − network), never other networks' room   |
// | no room left                    | the outcome goes to `ur`/`ue` (unattributed), still counted      |
// | batches carried after a failure | the index is rebuilt from the batches, so the same bounds hold  |
import { MAX_CONTRIBUTORS, MAX_CONTRIBUTORS_PER_NETWORK, type Contributors, type ReportBatch } from "../model/protocol";
import type { Slot } from "../model/rollout";

/** Per slot of one batch: visitor → its index in the contributor arrays, network → ids it has listed. */
interface Listed {
  index: Map<number, number>;
  perNetwork: Map<number, number>;
}

export class ContributorList {
  /** Per batch (fingerprint) and slot. */
  private listed = new Map<string, Partial<Record<Slot, Listed>>>();

  /**
   * Counts one outcome of `visitor` (on `network`) in batch `b`, slot `slot`; `mask`: goals it
   * reached and NOT_RANDOM_BIT (src/model/protocol.ts), ORed into the entry's `g`.
   */
  attribute(
    b: ReportBatch,
    slot: Slot,
    visitor: number,
    network: number,
    error: boolean,
    bucket: number,
    mask = 0,
  ): void {
    const c: Contributors = ((b.contributors ??= {})[slot] ??= { v: [], n: [], r: [], e: [], m: [] });
    const byBatch = this.listed.get(b.fingerprint) ?? {};
    if (!this.listed.has(b.fingerprint)) this.listed.set(b.fingerprint, byBatch);
    const listed = (byBatch[slot] ??= { index: new Map(), perNetwork: new Map() });
    // A network's ids past its bound share one entry under its own network (protocol.ts).
    let id = visitor;
    let i = listed.index.get(id);
    if (i === undefined && (listed.perNetwork.get(network) ?? 0) >= MAX_CONTRIBUTORS_PER_NETWORK) {
      id = -2 - network;
      i = listed.index.get(id);
    }
    if (i !== undefined) {
      c.r[i]++;
      if (error) c.e[i]++;
      if (bucket > c.m![i]) c.m![i] = bucket;
      if (mask !== 0) orMask(c, i, mask);
    } else if (listed.index.size < MAX_CONTRIBUTORS) {
      listed.index.set(id, c.v.length);
      if (id === visitor) listed.perNetwork.set(network, (listed.perNetwork.get(network) ?? 0) + 1);
      c.v.push(id);
      c.n.push(network);
      c.r.push(1);
      c.e.push(error ? 1 : 0);
      c.m!.push(bucket);
      if (mask !== 0) orMask(c, c.v.length - 1, mask);
      else c.g?.push(0);
    } else {
      c.ur = (c.ur ?? 0) + 1;
      if (error) c.ue = (c.ue ?? 0) + 1;
    }
  }

  /** ORs `mask` into the entry `visitor` already has in batch `b`, slot `slot` (none: nothing). */
  orGoals(b: ReportBatch, slot: Slot, visitor: number, network: number, mask: number): void {
    const c = b.contributors?.[slot];
    const listed = this.listed.get(b.fingerprint)?.[slot];
    if (!c || !listed || mask === 0) return;
    const i = listed.index.get(visitor) ?? listed.index.get(-2 - network);
    if (i !== undefined) orMask(c, i, mask);
  }

  /** A batch was dropped. */
  forget(fingerprint: string): void {
    this.listed.delete(fingerprint);
  }

  /** The batches were sent: nothing is listed any more. */
  clear(): void {
    this.listed = new Map();
  }

  /** Lists what `batches` already hold (carried after a failed flush), so later outcomes keep the bounds. */
  rebuild(batches: ReportBatch[]): void {
    this.listed = new Map();
    for (const b of batches) {
      const byBatch: Partial<Record<Slot, Listed>> = {};
      for (const [slot, c] of Object.entries(b.contributors ?? {}) as [Slot, Contributors][]) {
        const listed: Listed = { index: new Map(), perNetwork: new Map() };
        for (let k = 0; k < c.v.length; k++) {
          if (listed.index.has(c.v[k])) continue;
          listed.index.set(c.v[k], k);
          if (c.v[k] >= 0) listed.perNetwork.set(c.n[k], (listed.perNetwork.get(c.n[k]) ?? 0) + 1);
        }
        byBatch[slot] = listed;
      }
      this.listed.set(b.fingerprint, byBatch);
    }
  }
}

/** Most outcomes reach no goal: `g` is only made once one does. */
function orMask(c: Contributors, i: number, mask: number): void {
  const g = (c.g ??= new Array<number>(c.v.length).fill(0));
  while (g.length < c.v.length) g.push(0);
  g[i] |= mask;
}
