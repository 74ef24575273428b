// A rejected report's batches carried into the next one. The merge is src/telemetry/merge.ts, the
// aggregation tier's: what the root judges from the carried-and-new report is what it would have
// judged had the rejected report arrived and then the new one (slot counters, histograms, shadow,
// newVisitors summed; contributors one tuple per (visitor, network) with r, e summed and `m` the
// max; ur / ue summed). A carried batch can hold more listed ids than one interval's bound (up to
// its two parts' together, per slot and per network): the root bounds its ledger itself, and
// MAX_BATCHES versions × 2 × MAX_CONTRIBUTORS stays far below merge.ts's MAX_MERGED_CONTRIBUTORS.
// Pure.
import type { ReportBatch } from "../model/protocol";
import { mergeAll } from "./merge";

/** `sent`'s batches with `since`'s added, one per document version, oldest first. Neither input is changed. */
export function carryBatches(sent: readonly ReportBatch[], since: readonly ReportBatch[]): ReportBatch[] {
  const parts = mergeAll([
    { isolate: "carried", sentAt: 0, batches: [...sent], dropped: 0 },
    { isolate: "carried", sentAt: 0, batches: [...since], dropped: 0 },
  ]);
  // Two isolate-bounded reports always fit one merged part (≤ 16 versions, ≤ 20,000 pairs per slot).
  return parts.flatMap((p) => p.batches);
}
