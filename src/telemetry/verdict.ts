// The isolate's copy of the controller's verdict, kept fresh: the latest ControllerView it answered
// with (how a rollback reaches this isolate before KV does), how far that view is known current,
// the gate a canary-bound request passes, and the one watch the isolate holds at its aggregator.
// The policy (ages, bounds, what a watch vouches for) is ./freshness.ts; this is its bookkeeping.
// The recorder (./recorder.ts) owns one keeper and hands it every answer (`adopt`), its own
// reports' included. Pure apart from the injected `fetchView`/`watchView` and clock.
// Nothing here ever throws into the request; the gate's wait is bounded (GATE_WAIT_MS).
import { EMPTY_VIEW, type ControllerView } from "../model/protocol";
import { withTimeout } from "../lib/timeout";
import { RecentMax } from "../lib/recent-max";
import {
  GATE_WAIT_MS,
  ISOLATE_RTT_SAMPLES,
  ISOLATE_WATCH_DEAD_MARGIN_MS,
  ISOLATE_WATCH_CHAIN_MS,
  ISOLATE_WATCH_EVIDENCE_MS,
  ISOLATE_WATCH_MAX_WAIT_MS,
  ISOLATE_WATCH_QUICK_RETRY_MS,
  ISOLATE_WATCH_REOPEN_SPREAD_MS,
  ISOLATE_WATCH_RENEW_AFTER_MS,
  VERDICT_MAX_AGE_MS,
  mustRefresh,
  refreshDue,
  stampOf,
  usefulWatch,
  watchRetryAt,
  watchStamp,
} from "./freshness";

/** The part of Workers' ExecutionContext the recorder and the keeper need: work that outlives the response. */
export interface BackgroundWork {
  waitUntil(p: Promise<unknown>): void;
}

/** A watch's answer: the view, and how long the answering object held the call (its clock). */
export interface WatchReply {
  view: ControllerView;
  heldMs: number;
}

/** What the keeper calls; the recorder's own deps object, read at call time (tests replace its functions). */
export interface VerdictDeps<T> {
  fetchView(target: T): Promise<ControllerView>;
  /**
   * Optional: hold a call until the view's revision is no longer `known` (or the answering object
   * can no longer vouch for `boundMs`), at most `maxWaitMs`. Absent: no watch, polling only.
   */
  watchView?(target: T, known: number, maxWaitMs: number, boundMs: number): Promise<WatchReply> | null;
  now(): number;
  /** Uniform in [0, 1): the jitter's source (default Math.random). */
  random?: () => number;
  /** A view call unanswered by then is given up (a report's answer is late); default FLUSH_TIMEOUT_MS. */
  timeoutMs?: number;
  /** How long a canary-bound request waits for a fresh verdict; default GATE_WAIT_MS. */
  gateWaitMs?: number;
}

/** The recorder's lifetime counters the keeper adds to (the recorder's `stats` object itself). */
export interface VerdictStats {
  viewFetches: number;
  gateWaits: number;
  watches: number;
  watchesUseful: number;
  watchFailures: number;
}

/**
 * Fail-safe and bounds (decided here; the numbers are ./freshness.ts):
 * | concern                         | behaviour                                                        |
 * |---------------------------------|------------------------------------------------------------------|
 * | cold isolate                    | first request starts a background `view()` so a rollback already |
 * |                                 | in force applies at once, whatever the cached KV copy says       |
 * | answers out of order            | a view is adopted only if its revision ≥ the one held; every     |
 * |                                 | answer still proves the held view current as of its call's stamp |
 * | verdict older than VERDICT_MAX_ | a canary-bound request waits ≤ GATE_WAIT_MS for a fresh view     |
 * | AGE_MS (src/telemetry/freshness)| (`freshVerdict`); one view call in flight per isolate, shared by |
 * |                                 | every waiting request, the cold-start fetch and the background   |
 * |                                 | refresh; a late answer is still adopted after the wait gave up   |
 * | canary traffic, verdict at least| background refresh (`keepFresh`): busy isolates never wait       |
 * | REFRESH_AFTER_MS old            |                                                                  |
 * | canary traffic, transport can   | one watch held at the aggregator in that request's waitUntil     |
 * | watch (aggregator)              | (`keepWatch`); while it vouches (freshness.ts `watchStamp`) the  |
 * |                                 | stamp is now − (r + B) and `keepFresh` does not poll; a request  |
 * |                                 | that waited at the gate opens it only once its answer came       |
 * | watch open RENEW_AFTER (7 s)    | the next canary request sends its successor (the old one's stamp |
 * | and canary traffic              | banked), so maxWait never leaves a gap                           |
 * | watch answered held or changed, | re-opened at once in the same waitUntil while canary traffic came|
 * | canary traffic in the last 7 s  | in the last 7 s and that request is ≤ ISOLATE_WATCH_CHAIN_MS old |
 * |                                 | (its waitUntil outlives the next watch); if that one is answered |
 * |                                 | at once unchanged (the aggregator re-opening its root watch), one|
 * |                                 | retry after the aggregator's bound                               |
 * | watch answered early unchanged, | no watch for ISOLATE_WATCH_RETRY_MS × 2^n (≤ ×16); polling as    |
 * | or failed                       | before meanwhile                                                 |
 * | watch unanswered past maxWait + | presumed dead: vouches for nothing; the next canary request opens|
 * | margin (request cancelled)      | another; a late answer is still adopted by its own stamp         |
 * | no answer from the aggregator   | no watch vouches (a watch that hangs, renewed or not, misleads   |
 * | for ISOLATE_WATCH_EVIDENCE_MS   | for no longer); the isolate polls before that, as without one    |
 * `T` is what the transport needs to reach the controller (the Worker passes its Env).
 */
export class VerdictKeeper<T> {
  view: ControllerView = EMPTY_VIEW;
  /**
   * Local time (ms) up to which `view` is known to be the controller's current word (see
   * src/telemetry/freshness.ts `stampOf`); null until the first answer.
   */
  verdictAt: number | null = null;

  private viewRequested = false;
  /** The one view call in flight (coalescing): cold start, gate and background refresh share it. */
  private viewCall: Promise<void> | null = null;
  /** The open watch (freshness.ts): when it was sent, with which revision and aggregator bound. */
  private watchOpenedAt: number | null = null;
  private watchKnown = -1;
  private watchBound = Infinity;
  /** Bumped per watch: an answer of a watch presumed dead closes nothing newer. */
  private watchGen = 0;
  private watchFails = 0;
  /** Watches up to this generation were dropped (`dropWatch`): their answers never arrive. */
  private droppedUpTo = 0;
  private watchNotBefore = -Infinity;
  /** Last canary-bound request (the gate's two paths): whether an answered watch is re-opened. */
  private lastCanaryAt = -Infinity;
  /** When the transport last answered anything (a watch vouches only shortly after, freshness.ts). */
  private answeredAt = -Infinity;
  /** The aggregator's push bound from the last answer that carried one (Infinity: none yet). */
  private aggregatorBound = Infinity;
  /** Recent aggregator round trips, ms (view calls and watches, less the time held). */
  private readonly rtts = new RecentMax(ISOLATE_RTT_SAMPLES);

  /**
   * `defaultTimeoutMs`: a view call's bound when `deps.timeoutMs` is absent (the recorder passes its
   * FLUSH_TIMEOUT_MS: a view call is held to the same bound as a report).
   */
  constructor(
    private readonly deps: VerdictDeps<T>,
    private readonly stats: VerdictStats,
    private readonly defaultTimeoutMs: number,
  ) {}

  /** The first call of a cold isolate starts the view call (see the table); later calls do nothing. */
  coldStart(ctx: BackgroundWork, target: T): void {
    if (this.viewRequested) return;
    this.viewRequested = true;
    ctx.waitUntil(this.refreshView(target));
  }

  /** Asks the controller for its view; joins the call already in flight if there is one. Never rejects. */
  refreshView(target: T): Promise<void> {
    return (this.viewCall ??= this.fetchView(target).finally(() => (this.viewCall = null)));
  }

  private async fetchView(target: T): Promise<void> {
    try {
      this.stats.viewFetches++;
      const startedAt = this.deps.now();
      const view = await withTimeout(
        this.deps.fetchView(target),
        this.deps.timeoutMs ?? this.defaultTimeoutMs,
        "the controller",
      );
      this.rtts.add(this.deps.now() - startedAt);
      this.adopt(view, startedAt);
    } catch {
      // Without the controller's word the cached KV copy routes, as before; the gate diverts.
    }
  }

  /**
   * The gate: before a request goes to the canary. Resolves true at once when the verdict is fresh;
   * otherwise starts (or joins) a view call, kept alive in `ctx`, and resolves within the gate's
   * wait: true if a fresh verdict arrived (the caller decides again under `view`), false if not (the
   * caller sends the request to stable and calls `recordDiverted`). Never rejects.
   */
  async freshVerdict(ctx: BackgroundWork, target: T): Promise<boolean> {
    if (!mustRefresh(this.stamp(), this.deps.now())) return true;
    this.stats.gateWaits++;
    try {
      this.lastCanaryAt = this.deps.now();
      const call = this.refreshView(target);
      ctx.waitUntil(call);
      await withTimeout(call, this.deps.gateWaitMs ?? GATE_WAIT_MS, "the controller's view");
    } catch {
      // The wait is over; the call goes on in ctx and its answer serves later requests.
    }
    if (mustRefresh(this.stamp(), this.deps.now())) return false;
    // Passed on a fresh answer: this request's waitUntil can hold the watch that spares the next
    // canary-bound requests this wait (not before: a watch vouches on the round trips seen so far,
    // and a transport slow enough to make this request wait is no base for that).
    try {
      this.keepWatch(ctx, target);
    } catch {
      // A broken ctx must not reach the user; the next canary-bound request tries again.
    }
    return true;
  }

  /** Whether a canary-bound request may go now (synchronous: the busy isolate's path has no await). */
  verdictFresh(): boolean {
    return !mustRefresh(this.stamp(), this.deps.now());
  }

  /**
   * Canary traffic flows: keep the one watch open (when the transport can watch), and refresh in
   * the background before the verdict expires unless the watch vouches for it. Never waits.
   */
  keepFresh(ctx: BackgroundWork, target: T): void {
    try {
      const now = this.deps.now();
      this.lastCanaryAt = now;
      this.keepWatch(ctx, target);
      // The open watch vouches only shortly after the aggregator's last answer: poll before that
      // lapses, so that no request has to wait for a view when it does (a watch that hangs).
      const lapsing =
        this.watchOpenedAt !== null && now - this.answeredAt >= ISOLATE_WATCH_EVIDENCE_MS - VERDICT_MAX_AGE_MS;
      if (this.viewCall === null && (refreshDue(this.stamp(now), now) || (lapsing && refreshDue(this.verdictAt, now))))
        ctx.waitUntil(this.refreshView(target));
    } catch {
      // A broken ctx or clock must not reach the user.
    }
  }

  /**
   * The time up to which `view` is known current: the last answer's stamp, or what an open watch
   * vouches for, whichever is later (src/telemetry/freshness.ts).
   */
  stamp(now = this.deps.now()): number | null {
    if (this.watchOpenedAt === null || this.watchKnown !== this.view.revision) return this.verdictAt;
    if (now - this.answeredAt > ISOLATE_WATCH_EVIDENCE_MS) return this.verdictAt;
    const w = watchStamp(this.watchOpenedAt, now, this.rtts.max(), this.watchBound);
    return w === null || (this.verdictAt !== null && this.verdictAt >= w) ? this.verdictAt : w;
  }

  /** Whether a watch is open and not presumed dead (tests). */
  get watching(): boolean {
    return (
      this.watchOpenedAt !== null &&
      this.deps.now() - this.watchOpenedAt <= ISOLATE_WATCH_MAX_WAIT_MS + ISOLATE_WATCH_DEAD_MARGIN_MS
    );
  }

  /**
   * Forgets the open watch and whatever it would answer, as when the request keeping it is
   * cancelled (tests: an isolate whose verdict is aged must not be kept fresh by a watch).
   */
  dropWatch(): void {
    this.droppedUpTo = ++this.watchGen;
    this.watchOpenedAt = null;
  }

  /**
   * Opens the one watch if none is open, none failed lately, and both bounds are known; renews one
   * open ISOLATE_WATCH_RENEW_AFTER_MS from this (younger) request.
   */
  private keepWatch(ctx: BackgroundWork, target: T): void {
    if (!this.deps.watchView) return;
    const now = this.deps.now();
    if (this.watching) {
      if (now - this.watchOpenedAt! < ISOLATE_WATCH_RENEW_AFTER_MS) return;
      // What the old watch vouches for now stays true; the successor vouches once open r.
      this.bankStamp(now);
    }
    if (now < this.watchNotBefore || !Number.isFinite(this.aggregatorBound) || this.rtts.empty) return;
    this.openWatch(ctx, target, now, "new");
  }

  /**
   * Sends a watch kept alive by `ctx`, whose request began the chain at `chainAt`: opened by a
   * request, re-opened in the chain after a useful answer, or the chain's one quick retry (`done`).
   */
  private openWatch(ctx: BackgroundWork, target: T, chainAt: number, kind: "new" | "chained" | "retry"): void {
    const gen = ++this.watchGen;
    const opened = this.deps.now();
    const known = this.view.revision;
    const bound = this.aggregatorBound;
    this.watchOpenedAt = opened;
    this.watchKnown = known;
    this.watchBound = bound;
    this.stats.watches++;
    const done = (useful: boolean) => {
      if (gen !== this.watchGen) return;
      this.watchOpenedAt = null;
      this.watchFails = useful ? 0 : this.watchFails + 1;
      const now = this.deps.now();
      this.watchNotBefore = watchRetryAt(now, this.watchFails);
      // Canary traffic lately, and the request holding it young enough: the next at once. (Not
      // "since it opened": an aggregator releasing a watch just opened would leave an isolate with
      // one canary request a second without a watch until its next request found the verdict old.)
      if (now - this.lastCanaryAt >= ISOLATE_WATCH_RENEW_AFTER_MS || now - chainAt > ISOLATE_WATCH_CHAIN_MS) return;
      // At once, not jittered: until the next watch reaches the aggregator this isolate hears of no
      // change, while the answer's stamp still lets canary-bound requests go for ~500 ms (the e2e
      // fleet test caught 7 of 18 quiet isolates' POSTs reaching a just-rolled-back canary in such
      // gaps). The aggregator's bridge keeps its isolates' watches across its root-watch cycle,
      // so this is no burst there.
      if (useful) return this.openWatch(ctx, target, chainAt, "chained");
      // Answered at once right after a useful answer: most likely the aggregator re-opening its
      // own root watch (it holds none until that one is open its bound). One retry in the chain
      // once that is over, so that an isolate with sparse canary traffic is not left without one.
      if (kind !== "chained" || !Number.isFinite(this.aggregatorBound)) return;
      // Jittered: isolates answered together (a far aggregator's root-watch cycle) retry apart.
      const spread = (this.deps.random ?? Math.random)() * ISOLATE_WATCH_REOPEN_SPREAD_MS;
      ctx.waitUntil(
        new Promise<void>((ok) => setTimeout(ok, this.aggregatorBound + ISOLATE_WATCH_QUICK_RETRY_MS + spread)).then(
          () => {
            if (!this.watching && gen === this.watchGen) this.openWatch(ctx, target, chainAt, "retry");
          },
        ),
      );
    };
    const call = new Promise<WatchReply | null>((ok) =>
      ok(this.deps.watchView!(target, known, ISOLATE_WATCH_MAX_WAIT_MS, bound)),
    ).then(
      (a) => {
        if (gen <= this.droppedUpTo) return;
        if (!a || !a.view) throw new Error("no watch answer");
        const end = this.deps.now();
        const heldMs = Math.max(0, Math.min(Number(a.heldMs) || 0, end - opened));
        this.rtts.add(end - opened - heldMs);
        // The aggregator answered at least heldMs after the call was sent: that (less the view's
        // age) is the answer's stamp, as for any other answer.
        this.adopt(a.view, opened + heldMs);
        const useful = usefulWatch(known, a.view.revision, heldMs);
        if (useful) this.stats.watchesUseful++;
        done(useful);
      },
      () => {
        this.stats.watchFailures++;
        done(false);
      },
    );
    ctx.waitUntil(call.catch(() => done(false)));
  }

  /** Keeps what the open watch vouches for at `now` as the verdict's stamp (before it is replaced). */
  private bankStamp(now: number): void {
    const s = this.stamp(now);
    if (s !== null && (this.verdictAt === null || s > this.verdictAt)) this.verdictAt = s;
  }

  /**
   * Takes `view` if it is at least as new as the one held. `callStartedAt`: when the call that
   * brought it started (local clock); any answer, adopted or not, proves the held view current as
   * of that call's stamp, since the controller's revision only grows.
   */
  adopt(view: ControllerView | null | undefined, callStartedAt?: number): void {
    if (!view || typeof view.revision !== "number") return;
    if (view.revision >= this.view.revision) this.view = view;
    // The last bound an aggregator sent: a watch opened with it is held only while the aggregator
    // can vouch within it (it checks), so a stale bound costs an early answer, never a false stamp.
    if (typeof view.boundMs === "number" && view.boundMs >= 0) this.aggregatorBound = view.boundMs;
    if (callStartedAt !== undefined) {
      this.answeredAt = this.deps.now();
      const stamp = stampOf(callStartedAt, view.ageMs);
      if (this.verdictAt === null || stamp > this.verdictAt) this.verdictAt = stamp;
    }
  }
}
