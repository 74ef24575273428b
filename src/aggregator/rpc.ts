// The aggregator's RPC surface and how an isolate finds its aggregator: `<location>:<shard>`, where
// location is the Cloudflare colo the isolate runs in and shard a hash of the isolate's id. Layer 4
// like the controller's rpc.ts; both sides import it.
import type { Env } from "../env";
import { murmur3 } from "../lib/hash";
import type { ControllerView, Report } from "../model/protocol";
import type { WatchAnswer } from "../controller/watchers";

export interface AggregatorRpc {
  /** Merges an isolate's report; answers at once with the root's latest view (ageMs set). */
  report(r: Report): Promise<ControllerView>;
  /** The root's latest view as this aggregator holds it (ageMs set); asks the root for a newer one soon. */
  view(): Promise<ControllerView>;
  /**
   * An isolate's watch: answers when the held revision is no longer `known`, when this object can
   * no longer vouch for its view within `boundMs`, or after `maxWaitMs` (≤ 15 s); at once when one
   * of those already holds or too many watches are held. `heldMs`: how long it was held.
   */
  watch(known: number, maxWaitMs: number, boundMs: number): Promise<WatchAnswer>;
  /** Counts held, not yet accepted by the root (tests, debugging). */
  pending(): Promise<{ parts: number; reports: number }>;
  /** Lifetime counters: isolates' reports, root calls by kind, watches (tests, benchmarks, debugging). */
  counters(): Promise<AggregatorStats>;
}

export interface AggregatorStats {
  reports: number;
  forwards: number;
  viewCalls: number;
  failures: number;
  partsDropped: number;
  watches: number;
  watchFailures: number;
  watchesDead: number;
  /** Isolates' view() calls (the polling a watch replaces), their watch() calls, and those held. */
  isolateViews: number;
  isolateWatches: number;
  isolateWatchesHeld: number;
}

/**
 * Aggregators per location. One object serves about 1,000 calls/s (the documented soft limit); at
 * 500 calls/s each (half of it, for headroom) two shards serve 2,000 busy isolates of one location
 * at their 2 s cadence, and the root sees at most 2 × locations forwards per interval. Override
 * with the AGGREGATOR_SHARDS variable (1–64).
 */
export const DEFAULT_SHARDS = 2;
const SHARD_SEED = 0x61676772; // "aggr"

export function shardsOf(env: Pick<Env, "AGGREGATOR_SHARDS">): number {
  const n = Math.floor(Number(env.AGGREGATOR_SHARDS));
  return Number.isFinite(n) && n >= 1 ? Math.min(n, 64) : DEFAULT_SHARDS;
}

/** The aggregator instance an isolate reports to. Locally (no `cf.colo`) the location is "local". */
export function aggregatorName(location: string, isolateId: string, shards: number): string {
  return `${location}:${(murmur3(isolateId, SHARD_SEED) >>> 0) % shards}`;
}

export function aggregatorStub(env: Pick<Env, "AGGREGATOR">, name: string): AggregatorRpc {
  const ns = env.AGGREGATOR!;
  return ns.get(ns.idFromName(name)) as unknown as AggregatorRpc;
}
