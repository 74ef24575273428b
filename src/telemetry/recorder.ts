// Isolate-side outcome counters, flushed in batches to the controller off the request path; every
// answer's view goes to the verdict keeper (./verdict.ts: the held view, the gate, the watch).
// Pure apart from the injected `send`/`fetchView`/`watchView`, clock and random source.
//
// Fail-safe and bounds (decided here; the pace itself is ./cadence.ts, the verdict's ./verdict.ts):
// | concern                         | behaviour                                                        |
// |---------------------------------|------------------------------------------------------------------|
// | memory                          | ≤ MAX_BATCHES document versions × fixed arrays; a new version    |
// |                                 | beyond that drops the oldest batch (counted in `dropped`)        |
// | flush cadence                   | ./cadence.ts: 2–2.5 s with canary traffic possible, 30–37.5 s    |
// |                                 | when none is (percent 0, no rules, no shadow, or rolled back,    |
// |                                 | and no canary request in the batch); jitter on every interval;   |
// |                                 | early after ERROR_BURST canary errors only with a burst token    |
// | concurrency                     | one flush in flight; data recorded meanwhile waits for the next  |
// | answer after `timeoutMs` (late) | used: its view is adopted, its counts were delivered; the next   |
// |                                 | report backs off one level                                       |
// | no answer within ABANDON_MS     | abandoned: counts not re-sent (they may have been counted, and   |
// |                                 | the controller does not de-duplicate); `dropped` +1; backoff     |
// | call rejected, object never ran | (overloaded, network) the batch's counts are merged into the     |
// |                                 | next one (./carry.ts); a batch older than CARRY_MAX_MS, or one   |
// |                                 | beyond MAX_BATCHES versions, is dropped and counted in `dropped` |
// |                                 | backoff (./cadence.ts): ≥ 4–8 s after "overloaded", then doubling|
// | call rejected by the object's   | (`remote`) it ran and may have counted: not re-sent, `dropped`   |
// | own code                        | +1, backoff +1                                                   |
// | requests diverted to stable     | counted in `diverted` (sent with the next report, never as a     |
// | (no fresh verdict in time)      | stable outcome); one warning log line per DIVERTED_LOG_EVERY_MS  |
// | many visitors, or many ids from | bounded listing per slot and batch (./contributor-list.ts); the  |
// | one network, in one batch       | rest unattributed or shared by their network, still counted      |
// | no visitor given (older caller) | counted as before, not attributed (the ledger never sees it)     |
// Nothing here ever throws into, or waits on, the request (the gate's bounded wait is ./verdict.ts).
import type { Rollout, Slot } from "../model/rollout";
import { latencyBucketOf } from "../health/histogram";
import {
  FLAG_BATCH_PREFIX,
  MAX_BATCH_GOALS,
  NOT_EXPOSED_BIT,
  NOT_RANDOM_BIT,
  type ControllerView,
  type Report,
  type ReportBatch,
} from "../model/protocol";
import { withTimeout } from "../lib/timeout";
import { GATE_WAIT_MS } from "./freshness";
import { ACTIVE_EVERY_MS, BURST_GAP_MS, Cadence, isOverloaded, ranRemotely, type ReportOutcome } from "./cadence";
import { carryBatches } from "./carry";
import { ContributorList } from "./contributor-list";
import { emptyShadow, emptySlot } from "./merge";
import { VerdictKeeper, type BackgroundWork, type VerdictDeps } from "./verdict";

export type { BackgroundWork, WatchReply } from "./verdict";

export interface Outcome {
  slot: Slot;
  role: "canary" | "stable";
  /** Status of the origin's answer, null when there was none (network error, timeout). */
  status: number | null;
  error: null | "network" | "timeout";
  /** Time to response headers, ms. */
  latencyMs: number;
  /** This failed canary answer was replaced by stable's (GET/HEAD/OPTIONS). */
  failedOver: boolean;
}

export interface ShadowOutcome {
  status: number | null;
  error: null | "network" | "timeout";
  latencyMs: number;
  /** true: same as stable's; false: differs; null: not compared (see compareAnswers in shadow/compare.ts). */
  matched: boolean | null;
}

/**
 * What an answered request tells experiments (src/experiments): the goals it reached
 * (src/experiments/goals.ts `goalsReached`) and whether its arm was drawn at random.
 */
export interface Reached {
  goals: readonly string[];
  /** false: a rule, an override or a location pin chose the arm; the visitor is left out of experiments. */
  random: boolean;
  /** false: no exposure to this slot (a failed-over request's stable answer: NOT_EXPOSED_BIT). */
  exposed?: boolean;
}

/** The document version a request was routed under. */
export interface Routed {
  fingerprint: string;
  doc: Rollout;
}

export { ERROR_BURST, QUIET_EVERY_MS } from "./cadence";
/** The regular interval with canary traffic possible (before jitter and backoff). */
export const FLUSH_EVERY_MS = ACTIVE_EVERY_MS;
/** The shortest gap between two reports (an early one in an incident, before jitter). */
export const MIN_GAP_MS = BURST_GAP_MS;
/** An answer later than this is late: used, but the next report backs off. */
export const FLUSH_TIMEOUT_MS = 2000;
/**
 * No answer by then: the report is abandoned. Workers keep `waitUntil` work about 30 s after the
 * response; a call still pending then may be cancelled with it.
 */
export const ABANDON_MS = 30_000;
/** A failed batch is carried into later reports for at most this long (then dropped, counted). */
export const CARRY_MAX_MS = 120_000;
/**
 * Batches an isolate holds: document versions it can see within one flush interval (current,
 * previous, the controller's: 4), and two versions of each guarded flag's (src/model/flags.ts,
 * FLAG_LIMITS.guarded = 5). The controller and aggregators take 16 per report.
 */
export const MAX_BATCHES = 14;

/** The contributor bits for `reached` in batch `b`, listing a goal in `b.goals` the first time it is reached. */
function maskOf(b: ReportBatch, reached: Reached): number {
  let mask = (reached.random ? 0 : NOT_RANDOM_BIT) | (reached.exposed === false ? NOT_EXPOSED_BIT : 0);
  for (const key of reached.goals) {
    const list = (b.goals ??= []);
    let bit = list.indexOf(key);
    if (bit < 0 && list.length < MAX_BATCH_GOALS) bit = list.push(key) - 1;
    if (bit >= 0) mask |= 1 << bit;
  }
  return mask;
}

/** At most one `canary-diverted` log line per isolate this often, however many requests are diverted. */
export const DIVERTED_LOG_EVERY_MS = 60_000;

/** `T` is what the transport needs to reach the controller (the Worker passes its Env). */
export interface RecorderDeps<T> extends VerdictDeps<T> {
  send(target: T, report: Report): Promise<ControllerView>;
  isolateId?: string;
  /** Where the `canary-diverted` warning goes; default console.warn. */
  warn?(line: string): void;
  /** Default ABANDON_MS. */
  abandonMs?: number;
}

export class Recorder<T> {
  /** Canary-bound requests sent to stable for want of a fresh verdict, since the last successful flush. */
  diverted = 0;
  /** Reports given up since the last successful flush (sent with the next one). */
  dropped = 0;
  /** Shadow mirrors sampled but not sent (in-flight limit) since the last successful flush. */
  mirrorsSkipped = 0;
  /** Lifetime counters, for tests and debugging. */
  readonly stats = {
    flushes: 0,
    failures: 0,
    batchesDropped: 0,
    viewFetches: 0,
    gateWaits: 0,
    diverted: 0,
    late: 0,
    abandoned: 0,
    carried: 0,
    overloaded: 0,
    watches: 0,
    watchesUseful: 0,
    watchFailures: 0,
  };

  private batches = new Map<string, ReportBatch>();
  /** Who each batch's outcomes count for (./contributor-list.ts). */
  private readonly contributors = new ContributorList();
  /** Per batch: its document sends nothing to the canary (percent 0, no rules, no shadow, or rolled back). */
  private quietDoc = new Map<string, boolean>();
  private readonly cadence: Cadence;
  private inFlight = false;
  private lastFlushAt: number | null = null;
  private errorsSinceFlush = 0;
  private divertedLoggedAt: number | null = null;
  private readonly isolate: string;
  /** The held view and its freshness: reads `deps` at call time and adds to `stats`. */
  private readonly verdict: VerdictKeeper<T>;

  /** Public so a test can slow the transport down (a controller far away); never replaced otherwise. */
  constructor(readonly deps: RecorderDeps<T>) {
    this.isolate = deps.isolateId ?? randomId();
    this.cadence = new Cadence(deps.random);
    this.verdict = new VerdictKeeper(deps, this.stats, FLUSH_TIMEOUT_MS);
  }

  // The verdict's public face: the held view, its stamp, the gate and the watch are the keeper's
  // (./verdict.ts, with their table); the handler, the fleet simulation and tests reach them here.
  get view(): ControllerView {
    return this.verdict.view;
  }
  set view(v: ControllerView) {
    this.verdict.view = v;
  }
  get verdictAt(): number | null {
    return this.verdict.verdictAt;
  }
  set verdictAt(at: number | null) {
    this.verdict.verdictAt = at;
  }
  get watching(): boolean {
    return this.verdict.watching;
  }
  verdictFresh(): boolean {
    return this.verdict.verdictFresh();
  }
  freshVerdict(ctx: BackgroundWork, target: T): Promise<boolean> {
    return this.verdict.freshVerdict(ctx, target);
  }
  keepFresh(ctx: BackgroundWork, target: T): void {
    this.verdict.keepFresh(ctx, target);
  }
  refreshView(target: T): Promise<void> {
    return this.verdict.refreshView(target);
  }
  stamp(now = this.deps.now()): number | null {
    return this.verdict.stamp(now);
  }
  dropWatch(): void {
    this.verdict.dropWatch();
  }
  adopt(view: ControllerView | null | undefined, callStartedAt?: number): void {
    this.verdict.adopt(view, callStartedAt);
  }

  /**
   * `visitor`, `network`: who the outcome is attributed to (src/telemetry/contributor.ts); the
   * controller weighs outcomes per visitor and per network, so no single client decides a verdict.
   */
  record(r: Routed, o: Outcome, visitor?: number, network?: number, reached?: Reached): void {
    this.count(
      this.batchFor(r.fingerprint, r.doc.release, r.doc.canary, quietDocument(r.doc)),
      o,
      visitor,
      network,
      reached,
    );
  }

  /**
   * A request's outcome for a guarded flag (src/flags/guard.ts): `arm` "blue" is the flag's control
   * (visitors bucketed outside its rollout), "green" its treatment (bucketed into it). Counted like a
   * slot's outcome, in a batch of its own, so the controller judges it with the canary's rules.
   */
  recordFlag(
    key: string,
    flagsFingerprint: string,
    arm: Slot,
    o: Outcome,
    visitor?: number,
    network?: number,
    judged = true,
    goals?: readonly string[],
  ): void {
    // `judged` false (the rollout at 0 or 100 %, no comparison to make): counted, but no reason to
    // report at the active pace.
    this.count(
      this.batchFor(`${FLAG_BATCH_PREFIX}${key}@${flagsFingerprint}`, undefined, "green", !judged),
      { ...o, slot: arm, role: arm === "green" ? "canary" : "stable" },
      visitor,
      network,
      goals && goals.length > 0 ? { goals, random: true } : undefined,
    );
  }

  private count(b: ReportBatch, o: Outcome, visitor?: number, network?: number, reached?: Reached): void {
    const c = (b.slots[o.slot] ??= emptySlot());
    c.requests++;
    let error = false;
    if (o.error === "network") (c.errorsNetwork++, (error = true));
    else if (o.error === "timeout") (c.errorsTimeout++, (error = true));
    else if (o.status !== null && o.status >= 500) (c.errors5xx++, (error = true));
    if (o.failedOver) c.failovers++;
    // A network failure has no meaningful latency; a timeout's is its limit, which the latency rule should see.
    const bucket = o.error !== "network" ? latencyBucketOf(o.latencyMs) : -1;
    if (bucket >= 0) c.latency[bucket]++;
    if (error && o.role === "canary") this.errorsSinceFlush++;
    if (visitor !== undefined)
      this.contributors.attribute(b, o.slot, visitor, network ?? 0, error, bucket, reached ? maskOf(b, reached) : 0);
  }

  /**
   * Goals reached by an answer whose outcome was counted elsewhere: a failed-over request's stable
   * answer reached them, and they count for the canary's arm, in the entry its failure made. If that
   * entry was sent meanwhile (a flush during the retry), they are not counted: goals never make an
   * entry of their own, which would count the visitor as exposed twice.
   */
  reachGoals(r: Routed, slot: Slot, visitor: number, network: number, goals: readonly string[]): void {
    const b = this.batches.get(r.fingerprint);
    if (b === undefined || goals.length === 0) return;
    this.contributors.orGoals(b, slot, visitor, network, maskOf(b, { goals, random: true }));
  }

  /** A shadow mirror was sampled but not sent: the controller shows how much smaller the sample is. */
  recordMirrorSkipped(): void {
    this.mirrorsSkipped++;
  }

  recordNewVisitor(r: Routed, slot: Slot): void {
    const b = this.batchOf(r);
    const nv = (b.newVisitors ??= {});
    nv[slot] = (nv[slot] ?? 0) + 1;
  }

  recordShadow(r: Routed, o: ShadowOutcome): void {
    const b = this.batchOf(r);
    const s = (b.shadow ??= emptyShadow());
    s.mirrored++;
    const error = o.error !== null || (o.status !== null && o.status >= 500);
    if (error) (s.errors++, this.errorsSinceFlush++);
    if (o.matched === false) s.mismatches++;
    else if (o.matched === null) s.notCompared++;
    if (o.error !== "network") s.latency[latencyBucketOf(o.latencyMs)]++;
  }

  /** Starts a flush in ctx.waitUntil if one is due. Never throws; never delays the response. */
  maybeFlush(ctx: BackgroundWork, target: T): void {
    try {
      this.verdict.coldStart(ctx, target);
      if (this.flushDue(this.deps.now())) ctx.waitUntil(this.flush(target));
    } catch {
      // A broken ctx or clock must not reach the user.
    }
  }

  /** Whether a flush should start at `now`: pure policy, exposed for tests. */
  flushDue(now: number): boolean {
    if (this.inFlight || (this.batches.size === 0 && this.diverted === 0)) return false;
    const since = now - (this.lastFlushAt ?? now);
    return this.cadence.due(now, since, this.quiet(), this.errorsSinceFlush);
  }

  /** The backoff level (0: normal pace), for tests and the benchmark. */
  get backoffLevel(): number {
    return this.cadence.level;
  }

  /** Nothing gathered could reach the canary: the long interval applies. */
  private quiet(): boolean {
    // Diverted requests were canary-bound: the gate needs them seen at the usual pace.
    if (this.diverted > 0) return false;
    for (const b of this.batches.values()) {
      if (!this.quietDoc.get(b.fingerprint) || b.shadow || b.slots[b.canary]?.requests) return false;
    }
    return true;
  }

  /** Sends what has been gathered. Resolves (never rejects) when the answer arrived or was given up. */
  async flush(target: T): Promise<void> {
    // Diverted requests alone are worth a report: an isolate that only diverts must still be seen.
    if (this.inFlight || (this.batches.size === 0 && this.diverted === 0)) return;
    const startedAt = this.deps.now();
    this.cadence.started(startedAt, startedAt - (this.lastFlushAt ?? startedAt) < this.cadence.gapMs(this.quiet()));
    this.inFlight = true;
    const batches = [...this.batches.values()];
    const quiet = this.quietDoc;
    this.batches = new Map();
    this.contributors.clear();
    this.quietDoc = new Map();
    this.errorsSinceFlush = 0;
    this.lastFlushAt = startedAt;
    const skipped = this.mirrorsSkipped;
    const diverted = this.diverted;
    const dropped = this.dropped;
    const report: Report = {
      isolate: this.isolate,
      sentAt: startedAt,
      batches,
      dropped,
      ...(skipped ? { mirrorsSkipped: skipped } : {}),
      ...(diverted ? { diverted } : {}),
    };
    let outcome: ReportOutcome = "ok";
    let answered = false;
    try {
      // A transport that throws at once (no stub) rejects like one that fails later: the object never ran.
      const call = new Promise<ControllerView>((ok) => ok(this.deps.send(target, report))).finally(
        () => (answered = true),
      );
      const view = await withTimeout(call, this.deps.abandonMs ?? ABANDON_MS, "the controller");
      if (this.deps.now() - startedAt > (this.deps.timeoutMs ?? FLUSH_TIMEOUT_MS)) {
        outcome = "late";
        this.stats.late++;
      }
      // Stamped with this call's start (minus the view's age), however late it came: never fresher.
      this.adopt(view, startedAt);
      // What was dropped, skipped or diverted while this flush was in flight goes with the next one.
      this.dropped -= dropped;
      this.mirrorsSkipped -= skipped;
      this.diverted -= diverted;
      this.stats.flushes++;
    } catch (e) {
      this.stats.failures++;
      if (!answered || ranRemotely(e)) {
        // It may have been counted: like its batches, its skipped and diverted counts are not re-sent.
        outcome = answered ? "failed" : "abandoned";
        if (!answered) this.stats.abandoned++;
        this.dropped++;
        this.mirrorsSkipped -= skipped;
        this.diverted -= diverted;
      } else {
        // Never ran: batches, skipped and diverted counts all go with the next report.
        outcome = isOverloaded(e) ? "overloaded" : "failed";
        if (outcome === "overloaded") this.stats.overloaded++;
        this.carry(batches, quiet, startedAt);
      }
    } finally {
      this.inFlight = false;
      this.lastFlushAt = this.deps.now();
      this.cadence.ended(outcome);
    }
  }

  /** A rejected report's batches, back in front of what was gathered since (bounded, see the table). */
  private carry(sent: ReportBatch[], quiet: Map<string, boolean>, now: number): void {
    const kept: ReportBatch[] = [];
    for (const b of sent) {
      if (now - b.from * 1000 > CARRY_MAX_MS) this.dropBatch();
      else kept.push(b);
    }
    const { batches: merged, lost } = carryBatches(kept, [...this.batches.values()]);
    for (let k = 0; k < lost; k++) this.dropBatch();
    while (merged.length > MAX_BATCHES) {
      merged.shift();
      this.dropBatch();
    }
    for (const [fp, q] of quiet) if (!this.quietDoc.has(fp)) this.quietDoc.set(fp, q);
    this.batches = new Map(merged.map((b) => [b.fingerprint, b]));
    // Outcomes recorded from now on land in the merged batches, under the same bounds as before.
    this.contributors.rebuild(merged);
    this.stats.carried++;
  }

  private dropBatch(): void {
    this.stats.batchesDropped++;
    this.dropped++;
  }

  /** A canary-bound request went to stable for want of a fresh verdict (not an outcome of either slot). */
  recordDiverted(): void {
    this.diverted++;
    this.stats.diverted++;
    const now = this.deps.now();
    // Like an outcome, it starts the flush interval.
    if (this.lastFlushAt === null) this.lastFlushAt = now;
    if (this.divertedLoggedAt !== null && now - this.divertedLoggedAt < DIVERTED_LOG_EVERY_MS) return;
    this.divertedLoggedAt = now;
    const age = this.verdictAt === null ? null : now - this.verdictAt;
    (this.deps.warn ?? console.warn)(
      JSON.stringify({
        level: "warn",
        event: "canary-diverted",
        isolate: this.isolate,
        divertedSinceStart: this.stats.diverted,
        verdictAgeMs: age,
        message: `no fresh verdict from the controller within ${this.deps.gateWaitMs ?? GATE_WAIT_MS} ms: canary-bound requests go to stable (counted as diverted, status reports.diverted) until the controller answers; if this repeats, check the controller's load and reachability`,
      }),
    );
  }

  /** Batches held and their total array lengths: constant in traffic (the bounded-memory proof). */
  footprint(): { batches: number; numbers: number } {
    let numbers = 0;
    for (const b of this.batches.values()) {
      for (const c of Object.values(b.slots)) numbers += 5 + (c?.latency.length ?? 0);
      if (b.shadow) numbers += 4 + b.shadow.latency.length;
      if (b.newVisitors) numbers += Object.keys(b.newVisitors).length;
      for (const c of Object.values(b.contributors ?? {})) numbers += 5 * (c?.v.length ?? 0) + 2;
    }
    return { batches: this.batches.size, numbers };
  }

  /** The batches gathered since the last flush (copies), for tests. */
  pending(): ReportBatch[] {
    return structuredClone([...this.batches.values()]);
  }

  private batchOf(r: Routed): ReportBatch {
    return this.batchFor(r.fingerprint, r.doc.release, r.doc.canary, quietDocument(r.doc));
  }

  /** The batch of `fingerprint`, made if new (`quiet`: nothing in it can reach the canary). */
  private batchFor(fingerprint: string, release: string | undefined, canary: Slot, quiet: boolean): ReportBatch {
    const now = this.deps.now();
    // The first data of an isolate starts the interval: no flush of a single request at cold start.
    if (this.lastFlushAt === null) this.lastFlushAt = now;
    const sec = Math.floor(now / 1000);
    let b = this.batches.get(fingerprint);
    if (!b) {
      if (this.batches.size >= MAX_BATCHES) {
        // Oldest first (Map keeps insertion order): it is the version least likely still in use; a
        // guarded flag's batch before any of the rollout's, whose counts the canary's verdict needs.
        let oldest = this.batches.keys().next().value!;
        for (const fp of this.batches.keys())
          if (fp.startsWith(FLAG_BATCH_PREFIX)) {
            oldest = fp;
            break;
          }
        this.batches.delete(oldest);
        this.contributors.forget(oldest);
        this.quietDoc.delete(oldest);
        this.dropBatch();
      }
      b = { fingerprint, ...(release !== undefined ? { release } : {}), canary, from: sec, to: sec, slots: {} };
      this.batches.set(fingerprint, b);
      this.quietDoc.set(fingerprint, quiet);
    }
    b.to = sec;
    return b;
  }
}

/** Nothing under this document reaches the canary but a signed override (src/routing/decide.ts). */
function quietDocument(doc: Rollout): boolean {
  return doc.rolledBack !== undefined || (doc.percent === 0 && doc.rules.length === 0 && doc.shadowPercent === 0);
}

function randomId(): string {
  // Math.random is enough: the id only tells isolates' reports apart when debugging.
  return Math.random().toString(36).slice(2, 10);
}
