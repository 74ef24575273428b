// The controller's two sliding windows and their storage: the health window of the current
// attempt (1 s buckets over `rollback.windowSeconds`) and the status series (10 s bins over 10
// minutes, all attempts). Rows live in `window_bucket` (docs/storage-schema.md) and are written
// through the controller's write-behind (./write-behind.ts), not per report.
//
// Beside the health window, two visitor ledgers (src/health/ledger.ts): one over the same sliding
// window (the quorum and the weighted rates) and one over the attempt since its percent last changed
// (the sequential test's growing sample: with a fixed percent, canary and stable are drawn from the
// same moments, so a change in everyone's error rate over time cannot look like the canary's). They
// live in memory only:
// | situation                  | behaviour                                                            |
// |----------------------------|----------------------------------------------------------------------|
// | the object restarts        | both ledgers start empty: no rule can trip until the quorum is met   |
// |                            | again from new reports (fails safe: a late rollback, never a wrong one)|
// | new attempt, roles switch  | both start over with the window (same moment, same reason)           |
// | percent changes (a step)   | the sample starts over (the window ledger keeps sliding)             |
//
// And the attempt's experiment (src/experiments/experiment.ts): the goals its visitors reached, per
// arm, over the same span as the sequential sample (a change of percent starts it over, the ended
// one kept as `previous`), saved through ./experiment-archive.ts so that a restart keeps it (an
// experiment runs for days; the ledgers judge minutes). It counts only while goals are declared and
// only the batches routed by the version in force: a batch of an earlier version holds visitors
// assigned under another split (a previous step's percent); one of an earlier attempt would be
// counted in its stable slot alone, as the health window counts it, and after a rollback or at
// percent 0 that is up to QUIET_EVERY_MS (30 s, src/telemetry/cadence.ts) of everyone's traffic,
// all in one arm of the new sample. A goal added to the declared ones starts a new sample too
// (visitors seen before it could not have reached it). Once the canary is rolled back it is
// frozen: every visitor is then sent to stable, and the result stays what it was at the rollback.
import { SlidingWindow, type WindowRow } from "../health/window";
import { addBatches, limitsOf, slidingLedger, VisitorLedger } from "../health/ledger";
import { peopleOf } from "../health/judge";
import type { People } from "../health/rules";
import type { ReportBatch } from "../model/protocol";
import type { RollbackRules, Slot } from "../model/rollout";
import { Experiment } from "../experiments/experiment";
import type { ControllerStore } from "./store";
import type { ExperimentArchive } from "./experiment-archive";
import type { WriteBehind } from "./write-behind";

export const SERIES_BIN_SECONDS = 10;
/** The rollout's experiment's name in the archive (a flag's is `flag:<key>`). */
export const ROLLOUT_EXPERIMENT = "rollout";
export const SERIES_BINS = 60;

/** The windows' second of an epoch-ms time (their buckets are whole seconds of the object's clock). */
export function secondsOf(epochMs: number): number {
  return Math.floor(epochMs / 1000);
}

export class ControllerWindows {
  private healthWindow: SlidingWindow;
  private readonly seriesWindow: SlidingWindow;
  private attempt: number;
  private readonly prunedAt = { health: 0, series: 0 };
  private ledger: VisitorLedger;
  private attemptLedger: VisitorLedger;
  /** The percent the attempt ledger's sample was drawn at (null: not yet known). */
  private samplePercent: number | null = null;
  /** The attempt's experiment over the goals (see above). */
  private experimentNow: Experiment;

  /** Rebuilds both windows from storage as of `nowSec`. */
  constructor(
    private readonly store: ControllerStore,
    private readonly writeBehind: WriteBehind,
    private readonly nowSec: () => number,
    attempt: number,
    windowSeconds: number,
    rules: RollbackRules | false,
    private readonly archive: ExperimentArchive,
  ) {
    const sec = nowSec();
    this.ledger = slidingLedger(limitsOf(rules), windowSeconds);
    this.attemptLedger = new VisitorLedger(limitsOf(rules));
    const saved = archive.load(ROLLOUT_EXPERIMENT, String(attempt));
    this.experimentNow = saved ?? new Experiment(sec, null);
    this.attempt = attempt;
    this.healthWindow = SlidingWindow.fromRows(
      1,
      windowSeconds,
      store.buckets(attempt, "health", sec - windowSeconds),
      sec,
    );
    this.seriesWindow = SlidingWindow.fromRows(
      SERIES_BIN_SECONDS,
      SERIES_BINS,
      store.buckets(0, "series", sec - SERIES_BIN_SECONDS * SERIES_BINS),
      sec,
    );
  }

  /** Adds one report's vectors at `sec`: `health` to the attempt's window, `series` to the chart bins. */
  add(sec: number, health: number[], series: number[]): void {
    const healthRow = this.healthWindow.add(sec, health);
    const seriesRow = this.seriesWindow.add(sec, series);
    const attempt = this.attempt;
    // The rows are live references into the rings: the write stores their value at flush time.
    if (healthRow)
      this.writeBehind.defer(`health:${healthRow.t}`, () => this.store.putBucket(attempt, "health", healthRow));
    if (seriesRow) this.writeBehind.defer(`series:${seriesRow.t}`, () => this.store.putBucket(0, "series", seriesRow));
    this.writeBehind.defer("prune", () => this.prune(this.nowSec()));
  }

  /**
   * Adds one report's contributors at `sec`; `slotsOf` says which slots of a batch count (stable
   * alone for a version not of this attempt, as the health vector does). `experiment`: the goals
   * declared now and the batches the experiment counts (null: frozen, after a rollback).
   */
  addContributors(
    sec: number,
    batches: readonly ReportBatch[],
    slotsOf: (b: ReportBatch) => readonly Slot[],
    percent: number,
    experiment: { goals: readonly string[]; inSample: (b: ReportBatch) => boolean } | null = null,
  ): void {
    if (this.samplePercent !== null && this.samplePercent !== percent)
      this.attemptLedger = new VisitorLedger(this.attemptLedger.limits);
    this.samplePercent = percent;
    addBatches(this.ledger, sec, batches, slotsOf);
    addBatches(this.attemptLedger, sec, batches, slotsOf);
    // Frozen (rolled back), or nothing to count (no goals): the experiment is left as it is.
    if (experiment === null || experiment.goals.length === 0) return;
    this.experimentNow = this.experimentNow.continuedAt(sec, percent, experiment.goals);
    let added = false;
    for (const b of batches)
      if (b?.contributors && experiment.inSample(b)) (this.experimentNow.add(sec, b, slotsOf(b)), (added = true));
    if (added) this.archive.changed(ROLLOUT_EXPERIMENT, String(this.attempt), this.experimentNow);
  }

  /** The attempt's experiment over the goals (at its current percent). */
  get experiment(): Experiment {
    return this.experimentNow;
  }

  /** Who produced the window's counts, and the attempt's sample for the sequential test. */
  people(sec: number, canary: Slot): { window: People; attempt: People } {
    return { window: peopleOf(this.ledger, canary, sec), attempt: peopleOf(this.attemptLedger, canary) };
  }

  /** Running totals of the health window now, and the seconds it spans. */
  healthTotals(sec: number): { counts: readonly number[]; seconds: number } {
    return { counts: this.healthWindow.totals(sec), seconds: this.healthWindow.span };
  }

  /** The status page's bins, oldest first. */
  seriesBins(sec: number): WindowRow[] {
    return this.seriesWindow.bins(sec);
  }

  /** An empty health window: a new attempt, or roles switched (its numbers would be read as the other slot's). */
  resetHealth(attempt: number, windowSeconds: number, rules: RollbackRules | false): void {
    this.attempt = attempt;
    this.healthWindow = new SlidingWindow(1, windowSeconds);
    this.ledger = slidingLedger(limitsOf(rules), windowSeconds);
    this.attemptLedger = new VisitorLedger(limitsOf(rules));
    this.experimentNow = new Experiment(this.nowSec(), null);
    this.samplePercent = null;
    this.writeBehind.discard("health:");
    // Once per attempt (or promotion), so the per-second prune can stay on the primary key.
    this.store.clearBuckets("health");
  }

  private prune(sec: number) {
    // Once per bucket, not per persist: a DELETE each time would be wasted work.
    if (sec !== this.prunedAt.health) {
      this.prunedAt.health = sec;
      this.store.pruneBuckets(this.attempt, "health", sec - this.healthWindow.span);
    }
    const bin = sec - (sec % SERIES_BIN_SECONDS);
    if (bin !== this.prunedAt.series) {
      this.prunedAt.series = bin;
      this.store.pruneBuckets(0, "series", sec - this.seriesWindow.span);
    }
  }
}
