// What isolates tell the controller (Durable Object) and what it answers. Pure types and a few
// constants; both sides import them. Documented in docs/storage-schema.md ("Reports").
import type { Rollout, Slot } from "./rollout";

/**
 * Latency histogram bucket upper bounds in ms (last bucket is +Inf). Fixed and log-spaced so a
 * report's size and the controller's cost per report are constant whatever the traffic.
 */
export const LATENCY_BOUNDS_MS = [
  5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000,
  60000,
] as const;
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

export interface SlotCounters {
  requests: number;
  /** Answers with status >= 500. 4xx are the client's fault and never count. */
  errors5xx: number;
  /** Connection refused, reset, DNS failure: no answer at all. */
  errorsNetwork: number;
  /** No response headers within the slot's `timeoutMs`. */
  errorsTimeout: number;
  /** Canary failures that were answered from stable instead (GET/HEAD/OPTIONS only). */
  failovers: number;
  /** Counts per LATENCY_BOUNDS_MS bucket (time to response headers). Length LATENCY_BUCKETS. */
  latency: number[];
}

export interface ShadowCounters {
  /** Mirrored requests whose canary answer came back (or failed). */
  mirrored: number;
  /** Canary answer differed from stable's (status, compared headers or body hash). */
  mismatches: number;
  /**
   * Mirrors whose answers could not be compared: both bodies over `shadow.maxBodyBytes`, a body that
   * could not be read, or no canary answer (also counted in `errors`). Excluded from the mismatch
   * rate's denominator. Mirrors never sent (in-flight limit) are not here: see Report.mirrorsSkipped.
   */
  notCompared: number;
  /** Canary errors on mirrored requests (5xx, network, timeout). */
  errors: number;
  latency: number[];
}

/**
 * A guarded flag's batch (src/flags/guard.ts) is named `flag:<key>@<flags fingerprint>`; its slots
 * are the flag's arms: "blue" the control (visitors bucketed outside the flag's rollout), "green"
 * the treatment (bucketed into it); `canary` is "green". It rides in `Report.batches` beside the
 * rollout's batches, merged by aggregators the same way.
 */
export const FLAG_BATCH_PREFIX = "flag:";

/** Counters gathered under one version of the document (one fingerprint). */
export interface ReportBatch {
  fingerprint: string;
  release?: string;
  canary: Slot;
  /** Seconds (unix) the first and last counted request fell in. */
  from: number;
  to: number;
  slots: Partial<Record<Slot, SlotCounters>>;
  shadow?: ShadowCounters;
  /** New visitors (cookie just issued) assigned by bucket, per slot: for the sample-ratio check. */
  newVisitors?: Partial<Record<Slot, number>>;
  /** Who the slot's outcomes came from (the visitor ledger, src/health/ledger.ts); absent in older isolates. */
  contributors?: Partial<Record<Slot, Contributors>>;
  /**
   * The experiment goals (src/model/goals.ts) contributors reached: bit i of a contributor's `g` is
   * `goals[i]`. Listed in the order an isolate first saw each reached, at most MAX_BATCH_GOALS; a
   * merge (src/telemetry/merge.ts) renumbers the bits of batches whose lists differ.
   */
  goals?: string[];
}

/** Goal keys a batch lists (bits 0–28 of a contributor's `g`; GOAL_LIMITS allows 20 per document). */
export const MAX_BATCH_GOALS = 29;
/**
 * Bit 29 of a contributor's `g`: these outcomes are no exposure of the visitor to this slot — the
 * stable answer to a canary request that failed over. Experiments skip the tuple (the visitor stays
 * in the canary's arm, where its goals are counted); health counts it as any stable outcome.
 */
export const NOT_EXPOSED_BIT = 1 << 29;
/**
 * Bit 30 of a contributor's `g`: some of its outcomes in this slot were not assigned at random (a
 * targeting rule, a tester's override, a location pin): such a visitor is left out of experiments,
 * whose arms must be drawn by chance alone (src/experiments/tally.ts).
 */
export const NOT_RANDOM_BIT = 1 << 30;

/**
 * One slot's outcomes per contributor, as parallel arrays (compact on the wire): entry i is visitor
 * `v[i]` (32-bit hash of the sticky key) on network `n[i]` (32-bit hash of the client's IPv4 /24 or
 * IPv6 /48; 0 when unknown) with `r[i]` requests of which `e[i]` were errors (the same errors as
 * SlotCounters counts). An isolate lists at most MAX_CONTRIBUTORS per slot and batch; outcomes of
 * further visitors are counted in `ur` / `ue` (unattributed requests / errors), never lost.
 * At most MAX_CONTRIBUTORS_PER_NETWORK ids are listed per network: that network's further visitors
 * share the entry with visitor id `-2 - n` (negative: never a real id), so a flood of minted ids
 * from one address cannot push other networks' visitors into `ur`.
 * `m[i]` (absent in older isolates): the LATENCY_BOUNDS_MS bucket index of the contributor's
 * slowest answer (−1: none timed, e.g. only network failures). Merging two tuples of the same
 * (v, n): r, e, ur, ue add up; m takes the max.
 * `g[i]` (absent: 0 for every entry): the goals the contributor reached (bits of the batch's
 * `goals`) and NOT_RANDOM_BIT; merging ORs them. Experiments count visitors and their goals
 * from these (src/experiments/tally.ts); unattributed outcomes (`ur`) count for none.
 */
export interface Contributors {
  v: number[];
  n: number[];
  r: number[];
  e: number[];
  m?: number[];
  g?: number[];
  ur?: number;
  ue?: number;
}

/** Visitor ids an isolate lists per network, slot and batch (the ledger's own per-network bound). */
export const MAX_CONTRIBUTORS_PER_NETWORK = 64;

/** Visitors an isolate lists per slot and batch (a batch is about two seconds of one isolate). */
export const MAX_CONTRIBUTORS = 2000;

export interface Report {
  /**
   * Random id of the reporting isolate (or "agg:<location>:<shard>" for an aggregator's merged
   * report), for debugging only: the controller does not read it. There is nothing to de-duplicate:
   * an isolate re-sends counts only when the call was rejected before the object ran (overloaded,
   * network), merged into its next report; a report that may have been counted (no answer, or the
   * object's own error) is never re-sent, only counted in `dropped`. An aggregator never re-sends.
   */
  isolate: string;
  sentAt: number;
  batches: ReportBatch[];
  /** Reports (or carried batches) whose counts this isolate had to give up since its last success. */
  dropped: number;
  /** Shadow mirrors sampled but not sent (too many in flight) since its last success. */
  mirrorsSkipped?: number;
  /**
   * Isolates' reports this one stands for: set by an aggregator (src/aggregator) on a merged report,
   * absent (1) from an isolate. The root counts `received` with it, so the figure keeps meaning
   * "isolates' reports" whichever way they came.
   */
  reports?: number;
  /**
   * Canary-bound requests sent to stable because no fresh verdict arrived within the gate's wait
   * (src/telemetry/freshness.ts), since its last success. Counted in no slot: they are neither a
   * stable visitor's outcome nor a canary outcome, and must not tilt the comparison.
   */
  diverted?: number;
}

/**
 * The controller's word, carried back on every flush answer. An isolate whose cached document
 * has a fingerprint in `supersedes` uses `doc` instead: that is how a rollback, a plan step or a
 * promotion reaches isolates before KV has propagated, and why stale copies cannot undo it.
 */
export interface ControllerView {
  /** Increases on every change the controller makes; isolates keep the highest they have seen. */
  revision: number;
  /** The document the controller last wrote to KV (null: it has written none yet). */
  doc: Rollout | null;
  /** Fingerprint of the text it wrote. */
  fingerprint: string | null;
  /** Fingerprints of document versions that `doc` replaces (bounded, newest first). */
  supersedes: string[];
  /**
   * How old this view already was when the answering object sent it, ms: 0 or absent when the root
   * controller answered itself; an aggregator sends the time since the root call that produced it
   * started. The isolate stamps the view `call start − ageMs` (src/telemetry/freshness.ts).
   */
  ageMs?: number;
  /**
   * Set by an aggregator whose own watch at the root is current: a change at the root reaches it
   * within this many ms (its push bound). An isolate watching the aggregator adds it to its own
   * round trip to know how current its view is (src/telemetry/freshness.ts `watchStamp`).
   */
  boundMs?: number;
  /**
   * Guarded flags the controller switched off (src/flags/guard.ts): an isolate whose cached flag has
   * the `definition` judged serves it off at once, whichever `flags` version it holds, before KV
   * shows the controller's write. A changed definition is not the one judged; switching the flag on
   * again takes it out of this list (src/controller/flag-guard.ts).
   */
  killedFlags?: KilledFlag[];
}

export interface KilledFlag {
  key: string;
  /** The flag's definition judged (src/model/flags.ts `definitionOf`). */
  definition: string;
}

export const EMPTY_VIEW: ControllerView = { revision: 0, doc: null, fingerprint: null, supersedes: [] };
