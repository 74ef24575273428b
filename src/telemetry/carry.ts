// A rejected report's batches carried into the next one. The merge is src/telemetry/merge.ts, the
// aggregation tier's: what the root judges from the carried-and-new report is what it would have
// judged had the rejected report arrived and then the new one (slot counters, histograms, shadow,
// newVisitors summed; contributors one tuple per (visitor, network) with r, e summed and `m` the
// max; ur / ue summed). A carried batch can hold more listed ids than one interval's bound (up to
// its two parts' together, per slot and per network): the root bounds its ledger itself, and
// each carry adds at most one interval's ids (MAX_CONTRIBUTORS per slot), far below merge.ts's
// MAX_MERGED_CONTRIBUTORS unless failures go on for many intervals (then see carryBatches).
// Pure.
import type { ReportBatch } from "../model/protocol";
import { mergeAll } from "./merge";

/**
 * `sent`'s batches with `since`'s added, one per document version, oldest first, and how many
 * batches could not be kept. Neither input is changed. Each carry adds at most one interval's
 * listed ids, so only a long run of failures nears MAX_MERGED_CONTRIBUTORS; past it, the batches
 * merge.ts would have started a second part for are given up (counted by the caller), never
 * silently replaced by a second batch of the same version.
 */
export function carryBatches(
  sent: readonly ReportBatch[],
  since: readonly ReportBatch[],
): { batches: ReportBatch[]; lost: number } {
  const parts = mergeAll([
    { isolate: "carried", sentAt: 0, batches: [...sent], dropped: 0 },
    { isolate: "carried", sentAt: 0, batches: [...since], dropped: 0 },
  ]);
  const batches = parts[0]?.batches ?? [];
  let lost = 0;
  for (const p of parts.slice(1)) lost += p.batches.length;
  return { batches, lost };
}
