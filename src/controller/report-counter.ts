// The aggregators' reports at the controller: each batch counted into the windows (./windows.ts)
// for the slots its version may speak for, the report counters kept (`reports` in `kv_state`,
// through the write-behind), then what follows a count (the judgement and the plan) handed on.
// Guarded flags' batches go to their own judge (./flag-guard.ts), never into the canary's counts.
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | report under an unknown version    | answered at once; KV re-read in the background, then counted; |
// |                                    | still unknown → counted for stable only                       |
// | report under a superseded version  | counted for stable only; never re-opens the canary            |
// | report with more than 16 batches   | the first 16 counted (an isolate holds a handful at most)     |
import { flagBatchOf } from "../flags/guard";
import { reportVectors } from "../health/window";
import type { Report } from "../model/protocol";
import { otherSlot, SLOTS } from "../model/rollout";
import type { ControllerContext } from "./context";
import type { ControllerExperiments } from "./experiments";
import type { FlagGuardKeeper } from "./flag-guard";
import type { KvSync } from "./kv-sync";
import { afterReport, NO_REPORTS, type ReportCounters } from "./state";
import type { ControllerStore } from "./store";
import { secondsOf, type ControllerWindows } from "./windows";
import type { WriteBehind } from "./write-behind";

const MAX_BATCHES_PER_REPORT = 16;

export interface ReportCounterDeps {
  context: Pick<ControllerContext, "now" | "state" | "background">;
  store: Pick<ControllerStore, "get" | "put">;
  writeBehind: Pick<WriteBehind, "defer">;
  /** The versions the controller knows, and a KV re-read for those it does not (./kv-sync.ts). */
  versions: Pick<KvSync, "knowsAll" | "learn">;
  flagGuards: Pick<FlagGuardKeeper, "count">;
  windows: Pick<ControllerWindows, "add" | "addContributors">;
  /** What the rollout's sample counts of a report (./experiments.ts sampling). */
  sampling(): ReturnType<ControllerExperiments["sampling"]>;
  /** What follows a report's counts: the canary judged, the plan driven. */
  counted(batches: Report["batches"]): Promise<void>;
}

export class ReportCounter {
  private counters: ReportCounters;
  /** Reports waiting for a KV re-read before they are counted. */
  private readonly waiting = new Set<Promise<void>>();

  constructor(private readonly deps: ReportCounterDeps) {
    // Counters stored before a field existed get it at its initial value.
    this.counters = { ...NO_REPORTS, ...(deps.store.get<Partial<ReportCounters>>("reports") ?? {}) };
  }

  /** The counters the status shows. */
  get totals(): ReportCounters {
    return this.counters;
  }

  /** Counts `r` now, or after a KV re-read in the background when it names a version not known yet. */
  async take(r: Report): Promise<void> {
    const all = Array.isArray(r?.batches) ? r.batches.slice(0, MAX_BATCHES_PER_REPORT) : [];
    this.deps.flagGuards.count(all);
    const batches = all.filter((b) => flagBatchOf(String(b?.fingerprint)) === null);
    const fingerprints = batches.map((b) => String(b?.fingerprint));
    if (this.deps.versions.knowsAll(fingerprints)) return this.count(r, batches);
    // No report waits on KV: reports queued inside the object are what "overloaded" counts.
    const counted = this.deps.versions
      .learn(fingerprints)
      .then(() => this.count(r, batches))
      .catch((e: unknown) => console.error(`controller: counting a report failed: ${(e as Error).message}`))
      .finally(() => this.waiting.delete(counted));
    this.waiting.add(counted);
    this.deps.context.background(counted);
  }

  /** Settles once the reports now waiting for a KV re-read are counted (never rejects). */
  settled(): Promise<unknown> {
    return Promise.all(this.waiting);
  }

  private async count(r: Report, batches: Report["batches"]): Promise<void> {
    const now = this.deps.context.now();
    const { fingerprints, doc } = this.deps.context.state();
    const stable = otherSlot(doc.canary);
    const counted = reportVectors(batches, (f) => fingerprints.includes(f), stable);
    this.deps.windows.add(secondsOf(now), counted.health, counted.series);
    this.deps.windows.addContributors(
      secondsOf(now),
      batches,
      (b) => (fingerprints.includes(b.fingerprint) ? SLOTS : [stable]),
      doc.percent,
      this.deps.sampling(),
    );
    this.counters = afterReport(this.counters, r, now);
    this.deps.writeBehind.defer("reports", () => this.deps.store.put("reports", this.counters));
    await this.deps.counted(batches);
  }
}
