// ReportAggregator: the tier between isolates and the one root controller (instance "rollout").
// Isolates of one location report here (instance "<colo>:<shard>", ./rpc.ts); this object merges
// their reports exactly (src/telemetry/merge.ts) and forwards ONE merged report per interval to
// the root, whose answer (the ControllerView) it hands back to every isolate at once. The root's
// load is then (aggregators with traffic) / interval, whatever the number of isolates.
//
// In memory only (no storage): what it holds is at most a few seconds of counts, and the isolates'
// own reports are already "at most once". Created by `idFromName`, an object starts near its first
// caller, i.e. in or near the location it is named for, so no `locationHint` is needed; the one
// long hop is its forward to the root, once per interval.
//
// Fail-safe decisions:
// | situation                            | behaviour                                                    |
// |--------------------------------------|--------------------------------------------------------------|
// | cold (no view yet)                   | the call waits for one root call shared by all callers; if   |
// |                                      | it fails, or took over COLD_MERGE_WITHIN_MS (the isolate may |
// |                                      | have given up), the call fails and its report is NOT merged  |
// |                                      | (the isolate counts it dropped or keeps it: never twice)     |
// | view held                            | answered at once with it and `ageMs` = time since the root   |
// |                                      | call that produced it started; never waits on the root       |
// | view held, watch open with its        | `ageMs` = the push bound (max recent root round trip) once   |
// | revision for ≥ the push bound         | the watch has been open that long (see "The watch" below)    |
// | isolate calls within WATCH_WHILE_     | exactly one watch open to the root, re-opened when it        |
// | ACTIVE_MS                             | returns; none once isolates have been quiet that long        |
// | watch fails, or answers early without | re-opened after a jittered backoff (WATCH_RETRY_MS × 2^n,    |
// | a change (root refused to hold it)    | ≤ ×32); meanwhile ageMs is the true age                      |
// | watch unanswered past maxWait +       | presumed dead: no longer counts as open, a new one is opened;|
// | WATCH_DEAD_MARGIN_MS                  | a late answer is still adopted if newer                      |
// | view() with a held view older than   | waits for one shared root call (the aggregator was idle);    |
// | VIEW_WAIT_AFTER_MS, root healthy     | if it fails, the old view with its true ageMs               |
// | root answers a newer revision        | held at once: the next answer to any isolate carries it      |
// |                                      | and every held isolate watch is answered with it             |
// | isolate watch(known, maxWait, bound) | held only while the root watch is current, the revision is   |
// |                                      | `known` and the push bound ≤ `bound` (2 × the push bound     |
// |                                      | while a root watch re-opened after a useful answer is younger |
// |                                      | than it: the bridge, so a root-watch cycle keeps isolates'   |
// |                                      | watches told ≥ 2P); answered at once                         |
// |                                      | otherwise, and the moment any of these stops holding (root   |
// |                                      | watch closed or presumed dead, push bound past the bound told|
// |                                      | with headroom, TOLD_BOUND_HEADROOM); ≤ maxWait (≤ 15 s)      |
// | more than MAX_ISOLATE_WATCHES held   | the new one answered at once (the isolate backs off, polls)  |
// | root slow or failing                 | merged counts kept (≤ MAX_PARTS parts of ≤ PART_SPAN_MS);     |
// |                                      | the interval doubles per failure up to ×8 (an overloaded     |
// |                                      | object must not be retried fast); answers carry the old view |
// |                                      | with its growing ageMs, so isolates see how stale it is      |
// | more parts than MAX_PARTS            | the oldest is dropped, counted in `dropped` of the next      |
// |                                      | forward (its reports and the isolates' own drops), logged    |
// | evicted with counts not yet sent     | lost (≤ one interval of one location), as an isolate's       |
// |                                      | in-flight batch is                                           |
// | root failed after counting (network  | the part is sent again: the one at-least-once case; the     |
// | lost the answer, not an overload)    | runtime reports overloads before the call runs              |
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { controllerStub } from "../controller/rpc";
import type { AggregatorStats } from "./rpc";
import type { WatchAnswer } from "../controller/watchers";
import { CONTROLLER_NAME } from "../model/names";
import type { ControllerView, Report } from "../model/protocol";
import { fits, mergeReport, newMerge, toReport, type Merge } from "../telemetry/merge";
import { FLUSH_TIMEOUT_MS } from "../telemetry/recorder";
import { toldBound } from "../telemetry/freshness";
import { RecentMax } from "../lib/recent-max";

/** Forward interval: FORWARD_EVERY_MS plus up to FORWARD_JITTER_MS (mean 1.25 s), so aggregators do not beat in step. */
export const FORWARD_EVERY_MS = 1000;
export const FORWARD_JITTER_MS = 500;
/** Backoff cap: the interval times 2^failures, at most ×8. */
export const MAX_BACKOFF_EXP = 3;
/** Merged reports held while the root is failing, each spanning at most PART_SPAN_MS of arrivals. */
export const MAX_PARTS = 3;
export const PART_SPAN_MS = 10_000;
/**
 * A view request finding the held view older than this, one longest interval (the aggregator was
 * idle, so nothing refreshed it) waits for one root call, shared by all callers, instead of handing out an old
 * verdict: a quiet isolate asking before a canary-bound request wants the root's word of now.
 */
export const VIEW_WAIT_AFTER_MS = FORWARD_EVERY_MS + FORWARD_JITTER_MS;
// The watch (issue 10). An aggregator with isolate traffic keeps one `watch(revision, maxWait)` open
// at the root, which answers when its revision changes. Let P be the push bound: the longest of the
// last RTT_SAMPLES root round trips (each leg of a call takes at most P, the answer leg carrying
// the push included). A watch sent at O with the held revision reaches the root at R ≤ O + P. A
// change before R is answered at once and arrives by O + P; a change at D after R arrives by D + P.
// So once the watch has been open P without an answer, the held view contains every change made
// before now − P: `ageMs` = P (never more than the true age). Before that, and whenever no watch is
// open (root failing, quiet aggregator, a watch presumed dead), `ageMs` is the true age as before.
// The assumption is that a push is not slower than the slowest recent round trip; a watch that
// dies silently stops counting at maxWait + WATCH_DEAD_MARGIN_MS, so it can mislead for at most
// that long only if the root also stopped answering every other call.

/** How long the root may hold a watch (the root clamps to its own MAX_WATCH_WAIT_MS, 25 s). */
export const WATCH_MAX_WAIT_MS = 20_000;
/** A watch unanswered after maxWait plus this is presumed dead and replaced. */
export const WATCH_DEAD_MARGIN_MS = 5_000;
/** A watch is kept open while an isolate called within this. */
export const WATCH_WHILE_ACTIVE_MS = 30_000;
/** Backoff base after a failed watch: × 2^failures up to ×32, jittered to 50–100 %. */
export const WATCH_RETRY_MS = 250;
const WATCH_MAX_BACKOFF_EXP = 5;
/** Root round trips remembered for the push bound. */
export const RTT_SAMPLES = 8;
/**
 * Isolate watches held at once. A held watch is a pending promise and a timer; what bounds the
 * number is the per-object request rate: each is re-opened about every maxWait (10 s), so 4,000
 * cost ~400 calls/s, under half of the ~1,000/s soft limit. Beyond it watches are answered at once.
 */
export const MAX_ISOLATE_WATCHES = 4000;
/** Longest hold of an isolate's watch (the isolate asks 10 s; its waitUntil ends 30 s after its response). */
export const MAX_ISOLATE_WATCH_WAIT_MS = 15_000;

interface IsolateWatch {
  known: number;
  bound: number;
  since: number;
  resolve: (a: WatchAnswer) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A report that waited this long for a cold aggregator's first view is refused, not merged (isolates give up after 2 s). */
export const COLD_MERGE_WITHIN_MS = FLUSH_TIMEOUT_MS / 2;

export class ReportAggregator extends DurableObject<Env> {
  /** Test seams: the clock, the interval, the root's instance name, and root calls made to fail (as an overloaded root does). */
  clock: () => number = () => Date.now();
  everyMs = FORWARD_EVERY_MS;
  jitterMs = FORWARD_JITTER_MS;
  rootName = CONTROLLER_NAME;
  failNextRootCalls = 0;
  waitAfterMs = VIEW_WAIT_AFTER_MS;
  /** Watch seams: 0 turns watching off; watches made to fail, or to hang without an answer (a dead connection). */
  watchMaxWaitMs = WATCH_MAX_WAIT_MS;
  watchDeadMarginMs = WATCH_DEAD_MARGIN_MS;
  failNextWatches = 0;
  stallNextWatches = 0;
  /** Lifetime counters (tests, debugging). */
  readonly stats: AggregatorStats = {
    reports: 0,
    forwards: 0,
    viewCalls: 0,
    failures: 0,
    partsDropped: 0,
    watches: 0,
    watchFailures: 0,
    watchesDead: 0,
    isolateViews: 0,
    isolateWatches: 0,
    isolateWatchesHeld: 0,
  };
  /** Test seam: bound on held isolate watches. */
  maxIsolateWatches = MAX_ISOLATE_WATCHES;
  private readonly isolateWatches = new Set<IsolateWatch>();

  /** Merged reports not yet accepted by the root, oldest first; new reports merge into the last. */
  private parts: Merge[] = [];
  private held: ControllerView | null = null;
  /** When the root call that produced `held` started (epoch ms). */
  private heldStartedAt = 0;
  /** An isolate asked for the view since the last root call: refresh it when due even without data. */
  private viewWanted = false;
  private inFlight: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastStartAt = -Infinity;
  private delayMs = 0;
  private failures = 0;
  private readonly label: string;
  /** Last isolate call (report or view): watches stop WATCH_WHILE_ACTIVE_MS after it. */
  private lastIsolateAt = -Infinity;
  /** The open watch: when it was sent and with which revision; null when none is open. */
  private watchOpenedAt: number | null = null;
  private watchKnown = -1;
  /** Bumped when a watch closes: a late answer of an abandoned watch is adopted but closes nothing. */
  private watchGen = 0;
  private watchFails = 0;
  private watchTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private readonly rtts = new RecentMax(RTT_SAMPLES);
  /** The open root watch was re-opened at once after a useful answer (vouchBoundMs). */
  private bridging = false;
  /** The bound last told to isolates (TOLD_BOUND_HEADROOM). */
  private toldBound = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.label = `agg:${ctx.id.name ?? ctx.id.toString()}`;
  }

  async report(r: Report): Promise<ControllerView> {
    if (!this.held) {
      const asked = this.clock();
      await this.cold();
      // The isolate may have given up by now (FLUSH_TIMEOUT_MS) and will count or resend its report:
      // merging it as well would count it twice.
      if (this.clock() - asked > COLD_MERGE_WITHIN_MS)
        throw new Error(
          `aggregator ${this.label} got its first view after ${this.clock() - asked} ms; the report is not merged (the isolate keeps it)`,
        );
    }
    this.stats.reports++;
    this.merge(r);
    this.schedule();
    this.keepWatching();
    return this.answer();
  }

  async view(): Promise<ControllerView> {
    this.stats.isolateViews++;
    if (!this.held) await this.cold();
    else if (this.failures === 0 && !this.watchCurrent() && this.clock() - this.heldStartedAt > this.waitAfterMs)
      await this.refreshNow();
    // A current watch already keeps the view fresh: asking the root again would be the polling it replaces.
    if (!this.watchCurrent()) this.viewWanted = true;
    this.schedule();
    this.keepWatching();
    return this.answer();
  }

  /**
   * An isolate's watch: answered when the held revision is no longer `known`, when this object can
   * no longer vouch for its view within `boundMs` (its root watch closed, or its push bound grew),
   * or after `maxWaitMs`; at once when any of that is already so, or over the bound on held watches.
   */
  async watch(known: number, maxWaitMs: number, boundMs: number): Promise<WatchAnswer> {
    this.stats.isolateWatches++;
    if (!this.held) await this.cold();
    this.keepWatching();
    const wait = Math.max(0, Math.min(MAX_ISOLATE_WATCH_WAIT_MS, Math.floor(Number(maxWaitMs)) || 0));
    const bound = Number(boundMs);
    const vouch = this.vouchBoundMs();
    if (
      this.held!.revision !== Number(known) ||
      wait === 0 ||
      vouch === null ||
      !(vouch <= bound) ||
      this.isolateWatches.size >= this.maxIsolateWatches
    )
      return { view: this.answer(), heldMs: 0 };
    this.stats.isolateWatchesHeld++;
    return new Promise((resolve) => {
      const w: IsolateWatch = {
        known: this.held!.revision,
        bound,
        since: this.clock(),
        resolve,
        timer: setTimeout(() => this.answerWatch(w), wait),
      };
      this.isolateWatches.add(w);
    });
  }

  private answerWatch(w: IsolateWatch): void {
    if (!this.isolateWatches.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve({ view: this.answer(), heldMs: Math.max(0, this.clock() - w.since) });
  }

  /** Answers the isolate watches this object can no longer vouch for (all, when `all`). */
  private releaseWatches(all: boolean): void {
    if (this.isolateWatches.size === 0) return;
    const vouch = all ? null : this.vouchBoundMs();
    for (const w of this.isolateWatches)
      if (vouch === null || w.known !== this.held?.revision || !(vouch <= w.bound)) this.answerWatch(w);
  }

  async counters(): Promise<AggregatorStats> {
    return { ...this.stats };
  }

  /** Test and debugging aid: counts held, not yet accepted by the root. */
  async pending(): Promise<{ parts: number; reports: number }> {
    return { parts: this.parts.length, reports: this.parts.reduce((s, m) => s + m.reports, 0) };
  }

  private answer(): ControllerView {
    const held = this.held!;
    const age = Math.max(0, this.clock() - this.heldStartedAt);
    if (!this.watchCurrent()) return { ...held, ageMs: age };
    return { ...held, ageMs: Math.min(age, this.pushBoundMs()), boundMs: this.toldBoundMs() };
  }

  /** The push bound P: the longest recent root round trip; Infinity before any was measured. */
  private pushBoundMs(): number {
    return this.rtts.max();
  }

  /** The push bound as told to isolates (src/telemetry/freshness.ts `toldBound`). */
  private toldBoundMs(): number {
    const p = this.pushBoundMs();
    if (!Number.isFinite(p)) return p;
    return (this.toldBound = toldBound(this.toldBound, p));
  }

  private noteRtt(ms: number): void {
    this.rtts.add(ms);
    // A grown bound: isolates watching with a smaller one must not keep relying on it.
    this.releaseWatches(false);
  }

  /**
   * Within how long of a root change this object's held view is known to contain it: P once the
   * root watch has been open P; 2P while a watch re-opened at once after a useful answer is younger
   * than P (the bridge: that answer was current as of ≥ its arrival − P, and a change after it is
   * answered on the new watch by its arrival + P, or pushed within P after that); null when it
   * cannot vouch (no watch, a revision not its own, presumed dead, or a re-open after a failure).
   */
  private vouchBoundMs(): number | null {
    const open = this.watchOpenFor();
    if (open === null) return null;
    const p = this.pushBoundMs();
    if (open >= p) return p;
    return this.bridging ? 2 * p : null;
  }

  /** A watch with the held revision has been open at least P and is not presumed dead. */
  private watchCurrent(): boolean {
    const open = this.watchOpenFor();
    return open !== null && open >= this.pushBoundMs();
  }

  /** How long the root watch has been open, if it holds this object's revision and is not presumed dead. */
  private watchOpenFor(): number | null {
    if (this.watchOpenedAt === null || this.held === null || this.watchKnown !== this.held.revision) return null;
    const open = this.clock() - this.watchOpenedAt;
    return open <= this.watchMaxWaitMs + this.watchDeadMarginMs ? open : null;
  }

  /** Takes a root view current as of `currentAt` (local ms) if it is not older than the one held. */
  private adopt(view: ControllerView, currentAt: number): void {
    if (this.held && view.revision < this.held.revision) return;
    if (this.held && view.revision === this.held.revision && currentAt <= this.heldStartedAt) return;
    // The root answered itself: its own ageMs (0 or absent) is replaced by ours on each answer.
    const { ageMs: _, boundMs: __, ...fresh } = view;
    this.held = fresh;
    this.heldStartedAt = currentAt;
    this.releaseWatches(false);
  }

  /** On each isolate call: note the traffic, and open the one watch if none is open or pending a retry. */
  private keepWatching(): void {
    this.lastIsolateAt = this.clock();
    if (this.watchOpenedAt === null && this.watchTimer === null && this.held !== null && this.watchMaxWaitMs > 0)
      this.openWatch();
  }

  private openWatch(bridge = false): void {
    this.bridging = bridge;
    const gen = ++this.watchGen;
    const opened = this.clock();
    const known = this.held!.revision;
    this.watchOpenedAt = opened;
    this.watchKnown = known;
    this.stats.watches++;
    this.watchdog = setTimeout(() => {
      if (gen !== this.watchGen) return;
      this.stats.watchesDead++;
      console.error(
        JSON.stringify({
          event: "aggregator-watch-dead",
          aggregator: this.label,
          openMs: this.clock() - opened,
          why: `no answer within maxWait ${this.watchMaxWaitMs} ms + ${this.watchDeadMarginMs} ms; its view no longer counts as current`,
        }),
      );
      this.watchClosed(false);
    }, this.watchMaxWaitMs + this.watchDeadMarginMs);
    const call = async (): Promise<WatchAnswer> => {
      if (this.failNextWatches > 0) {
        this.failNextWatches--;
        throw new Error("root controller watch failed (test seam)");
      }
      if (this.stallNextWatches > 0) {
        this.stallNextWatches--;
        return new Promise<WatchAnswer>(() => {});
      }
      return controllerStub(this.env, this.rootName).watch(known, this.watchMaxWaitMs);
    };
    call().then(
      (a) => {
        const now = this.clock();
        const heldMs = Math.max(0, Math.min(Number(a.heldMs) || 0, now - opened));
        this.noteRtt(now - opened - heldMs);
        // The root answered after holding heldMs from when it got the call, which was after `opened`.
        this.adopt(a.view, opened + heldMs);
        if (gen !== this.watchGen) return;
        // An early answer without a newer revision (a root over its bound, or one holding another
        // revision than ours that we did not adopt) must not turn into a tight loop.
        const useful =
          a.view.revision === this.held?.revision && (a.view.revision !== known || heldMs >= this.watchMaxWaitMs / 2);
        this.watchClosed(useful);
      },
      (e) => {
        if (gen !== this.watchGen) return;
        console.error(
          JSON.stringify({
            event: "aggregator-watch-failed",
            aggregator: this.label,
            message: (e as Error)?.message ?? String(e),
            keeping: "the view it holds, with its true age",
          }),
        );
        this.watchClosed(false);
      },
    );
  }

  /** The open watch ended: re-open at once after a useful answer, after a jittered backoff otherwise; none when quiet. */
  private watchClosed(useful: boolean): void {
    this.watchGen++;
    this.watchOpenedAt = null;
    if (this.watchdog !== null) (clearTimeout(this.watchdog), (this.watchdog = null));
    if (useful) this.watchFails = 0;
    else (this.watchFails++, this.stats.watchFailures++);
    if (useful && this.clock() - this.lastIsolateAt <= WATCH_WHILE_ACTIVE_MS) {
      // Re-opened at once: isolates told a bound ≥ 2P keep their watches across it (the bridge,
      // vouchBoundMs), so a root-watch cycle every ≤ 20 s does not send every isolate back at once.
      this.openWatch(true);
      return this.releaseWatches(false);
    }
    // Not current until the next watch has been open P: isolates may no longer rely on this object.
    this.releaseWatches(true);
    if (this.clock() - this.lastIsolateAt > WATCH_WHILE_ACTIVE_MS) return;
    const delay =
      WATCH_RETRY_MS * 2 ** Math.min(this.watchFails - 1, WATCH_MAX_BACKOFF_EXP) * (0.5 + Math.random() / 2);
    this.watchTimer = setTimeout(() => {
      this.watchTimer = null;
      if (
        this.watchOpenedAt === null &&
        this.held !== null &&
        this.clock() - this.lastIsolateAt <= WATCH_WHILE_ACTIVE_MS
      )
        this.openWatch();
    }, delay);
  }

  /** The first view: one root call shared by every caller; within a failure's backoff, fail at once. */
  private async cold(): Promise<void> {
    if (!this.inFlight && this.clock() < this.lastStartAt + this.delayMs)
      throw new Error(
        `aggregator ${this.label} has no view yet and the root controller failed ${this.failures} time(s); retrying after ${this.delayMs} ms`,
      );
    if (!this.inFlight) this.forward();
    await this.inFlight;
    if (!this.held) throw new Error(`aggregator ${this.label} could not reach the root controller for its first view`);
  }

  /** One root call now (or the one under way): only when the last one, which succeeded, is long past. */
  private async refreshNow(): Promise<void> {
    if (!this.inFlight) {
      if (this.timer !== null) (clearTimeout(this.timer), (this.timer = null));
      this.forward();
    }
    await this.inFlight;
  }

  private merge(r: Report): void {
    const now = this.clock();
    let m = this.parts[this.parts.length - 1];
    if (!m || now - m.since > PART_SPAN_MS || !fits(m, r)) {
      this.parts.push((m = newMerge(now)));
      if (this.parts.length > MAX_PARTS) this.dropOldest();
    }
    mergeReport(m, r);
  }

  private dropOldest(): void {
    const old = this.parts.shift()!;
    const next = this.parts[0];
    next.dropped += old.reports + old.dropped;
    next.mirrorsSkipped += old.mirrorsSkipped;
    this.stats.partsDropped++;
    console.error(
      JSON.stringify({
        event: "aggregator-dropped-counts",
        aggregator: this.label,
        reports: old.reports,
        heldMs: this.clock() - old.since,
        why: `the root controller failed ${this.failures} time(s) in a row; at most ${MAX_PARTS} parts are held`,
        fix: "check the root controller's errors (overloaded?) and AGGREGATOR_SHARDS",
      }),
    );
  }

  private due(): boolean {
    if (this.parts.length > 0) return true;
    return this.viewWanted && !this.watchCurrent() && this.clock() - this.heldStartedAt >= this.everyMs;
  }

  /** Arms the one timer for the next forward, if there is anything to send. */
  private schedule(): void {
    if (this.timer !== null || this.inFlight !== null || !this.due()) return;
    const wait = Math.max(0, this.lastStartAt + this.delayMs - this.clock());
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.inFlight === null && this.due()) this.forward();
    }, wait);
  }

  /** One root call: the oldest part (or a view request); the answer becomes the held view. */
  private forward(): void {
    const started = this.clock();
    this.lastStartAt = started;
    this.delayMs = (this.everyMs + Math.random() * this.jitterMs) * 2 ** Math.min(this.failures, MAX_BACKOFF_EXP);
    this.viewWanted = false;
    // Detached while in flight: reports arriving meanwhile start a new part, never join one already sent.
    const part = this.parts.shift();
    // Started after `inFlight` is set, so that its `finally` always clears this very promise.
    this.inFlight = Promise.resolve().then(async () => {
      try {
        if (this.failNextRootCalls > 0) {
          this.failNextRootCalls--;
          throw new Error("root controller overloaded (test seam)");
        }
        const root = controllerStub(this.env, this.rootName);
        const view = part ? await root.report(toReport(part, this.label, started)) : await root.view();
        if (part) this.stats.forwards++;
        else this.stats.viewCalls++;
        this.noteRtt(this.clock() - started);
        this.adopt(view, started);
        this.failures = 0;
      } catch (e) {
        this.failures++;
        this.stats.failures++;
        if (part) this.keep(part);
        console.error(
          JSON.stringify({
            event: "aggregator-root-failed",
            aggregator: this.label,
            message: (e as Error).message,
            keeping: part ? `${part.reports} report(s) for the next forward` : "the view it holds",
            retryInMs: Math.round((this.everyMs + this.jitterMs / 2) * 2 ** Math.min(this.failures, MAX_BACKOFF_EXP)),
          }),
        );
      } finally {
        this.inFlight = null;
        this.schedule();
      }
    });
  }

  /** A part the root did not accept goes back in front; later ones merge into it while they fit. */
  private keep(part: Merge): void {
    this.parts.unshift(part);
    while (this.parts.length > 1) {
      const next = this.parts[1];
      const r = toReport(next, this.label, 0);
      if (!fits(part, r)) break;
      mergeReport(part, r);
      this.parts.splice(1, 1);
    }
    while (this.parts.length > MAX_PARTS) this.dropOldest();
  }
}
