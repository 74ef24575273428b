// One experiment as the controller keeps it: the tally of the sample now (./tally.ts), its history
// for the chart, and the sample before the last change of percent. Pure (the caller passes the time).
//
// Why a change of percent starts a new sample: visitors who arrive while the treatment has 10 % and
// those who arrive while it has 50 % are drawn at different moments; pooled, a day-of-week or
// campaign effect on everyone's conversion would show as the treatment's (Simpson's paradox, the
// "ramp-up" bias of A/B platforms). Within one percent both arms are drawn from the same moments.
// The ended sample stays readable as `previous`, so a plan's step does not wipe what was learnt.
//
// The history keeps at most HISTORY_POINTS points; when full, every other one is dropped and the
// spacing doubles, so a week-long experiment still draws in one chart of bounded size.
import type { ExperimentStatus, ExperimentResult } from "../model/status";
import type { ReportBatch } from "../model/protocol";
import type { Slot } from "../model/rollout";
import { experimentResult } from "./result";
import { ExperimentTally, TALLY_LIMITS, type TallyFigures, type TallyState } from "./tally";

/** What an experiment stores besides its visitors' groups (src/controller/experiment-archive.ts). */
export interface ExperimentState {
  since: number;
  percent: number | null;
  tally: TallyState;
  history: { t: number; figures: TallyFigures }[];
  every: number;
  previous: Ended | null;
  /** The goals declared when the sample began (absent in rows saved before: none). */
  declared?: string[];
}

export const HISTORY_POINTS = 60;
export const HISTORY_EVERY_SECONDS = 10;

export interface ExperimentLabels {
  subject: ExperimentStatus["subject"];
  key: string | null;
  control: Slot;
  treatment: Slot;
  /** What the arms are called in the status (the slots, or "control"/"treatment"). */
  names: ExperimentStatus["arms"];
}

interface Ended {
  since: number;
  until: number;
  percent: number | null;
  figures: TallyFigures;
}

export class Experiment {
  private tally: ExperimentTally;
  private history: { t: number; figures: TallyFigures }[] = [];
  private every = HISTORY_EVERY_SECONDS;

  constructor(
    readonly since: number,
    readonly percent: number | null,
    private readonly previous: Ended | null = null,
    /** Visitors tracked before sampling (./tally.ts TALLY_LIMITS). */
    private readonly limit: number = TALLY_LIMITS.visitors,
    /** The goals declared when this sample began: one added later starts another. */
    private readonly declared: readonly string[] = [],
  ) {
    this.tally = new ExperimentTally(limit);
  }

  state(): ExperimentState {
    return {
      since: this.since,
      percent: this.percent,
      tally: this.tally.state(),
      history: this.history,
      every: this.every,
      previous: this.previous,
      declared: [...this.declared],
    };
  }

  /** The visitors' groups changed since the last call (see ./tally.ts): a save writes these. */
  takeDirty(): number[] {
    return this.tally.takeDirty();
  }

  /** Groups a save could not write (./tally.ts). */
  markDirty(groups: readonly number[]): void {
    this.tally.markDirty(groups);
  }

  chunk(i: number): number[] {
    return this.tally.chunk(i);
  }

  /** An experiment as `state()` and `chunk()` stored it. */
  static restore(state: ExperimentState, chunks: Iterable<unknown>): Experiment {
    const tally = ExperimentTally.restore(state.tally, chunks);
    const declared = Array.isArray(state.declared) ? state.declared.map(String) : [];
    const e = new Experiment(
      Number(state.since) || 0,
      state.percent ?? null,
      state.previous ?? null,
      tally.limit,
      declared,
    );
    e.tally = tally;
    e.history = Array.isArray(state.history) ? state.history.slice(-HISTORY_POINTS) : [];
    e.every = Number(state.every) >= HISTORY_EVERY_SECONDS ? Number(state.every) : HISTORY_EVERY_SECONDS;
    return e;
  }

  /** Adds a batch's contributors in `slots` at `nowSec`. */
  add(nowSec: number, b: ReportBatch, slots: readonly Slot[]): void {
    this.tally.addBatch(b, slots);
    this.mark(nowSec);
  }

  /**
   * The next sample (at `percent` from `nowSec`, over `goals`), this one kept as its `previous`;
   * one that counted nothing is replaced, keeping its own `previous`.
   */
  next(nowSec: number, percent: number | null, goals: readonly string[] = this.declared): Experiment {
    const ended: Ended | null = this.counted
      ? { since: this.since, until: nowSec, percent: this.percent, figures: this.tally.figures() }
      : this.previous;
    return new Experiment(nowSec, percent, ended, this.limit, goals);
  }

  /**
   * This sample, if it is still the one for `percent` and `goals`; else the next. A change of
   * percent starts a new sample (see above); so does a goal added to the declared ones, as visitors
   * seen before it was declared could not have reached it. A goal removed changes nothing.
   */
  continuedAt(nowSec: number, percent: number, goals: readonly string[]): Experiment {
    const added = goals.some((g) => !this.declared.includes(g));
    if (this.percent === percent && !added) return this;
    // A sample that has not started yet (no percent known: a new attempt, a restart) begins now.
    if (this.percent === null && !this.counted)
      return new Experiment(this.since, percent, this.previous, this.limit, goals);
    return this.next(nowSec, percent, goals);
  }

  /** Whether anything was counted (a visitor seen in either arm). */
  get counted(): boolean {
    const a = this.tally.figures().arms;
    return a.blue.rawVisitors + a.green.rawVisitors > 0;
  }

  /** The result now over `goals` (those reached when none are given). */
  result(control: Slot, treatment: Slot, goals: readonly string[]): ExperimentResult {
    const figures = this.tally.figures();
    return experimentResult(figures, control, treatment, this.percent, goals.length > 0 ? goals : figures.goals);
  }

  status(labels: ExperimentLabels, goals: readonly string[], active: boolean): ExperimentStatus {
    const figures = this.tally.figures();
    const known = goals.length > 0 ? goals : figures.goals;
    const result = (f: TallyFigures, percent: number | null): ExperimentResult =>
      inWordsOf(labels, experimentResult(f, labels.control, labels.treatment, percent, known));
    return {
      subject: labels.subject,
      key: labels.key,
      arms: labels.names,
      since: iso(this.since),
      percent: this.percent,
      active,
      result: result(figures, this.percent),
      history: this.history.map((p) => {
        const r = result(p.figures, null);
        return {
          t: iso(p.t),
          goals: Object.fromEntries(
            r.goals.map((g) => [
              g.goal,
              { difference: g.difference, low: g.interval?.low ?? null, high: g.interval?.high ?? null },
            ]),
          ),
        };
      }),
      previous:
        this.previous === null
          ? null
          : {
              since: iso(this.previous.since),
              until: iso(this.previous.until),
              percent: this.previous.percent,
              result: result(this.previous.figures, this.previous.percent),
            },
    };
  }

  private mark(nowSec: number): void {
    const last = this.history[this.history.length - 1];
    if (last !== undefined && nowSec - last.t < this.every) return;
    this.history.push({ t: nowSec, figures: this.tally.figures() });
    if (this.history.length > HISTORY_POINTS) {
      // Keep every other point, newest kept: the chart's spacing doubles.
      const kept = this.history.filter((_, i) => (this.history.length - 1 - i) % 2 === 0);
      this.history.splice(0, this.history.length, ...kept);
      this.every *= 2;
    }
  }
}

/** The sample-ratio check speaks of the canary; a flag's arms are its treatment and control. */
function inWordsOf(labels: ExperimentLabels, r: ExperimentResult): ExperimentResult {
  if (labels.subject === "rollout" || r.sampleRatio === null) return r;
  return { ...r, sampleRatio: { ...r.sampleRatio, detail: r.sampleRatio.detail.replace(/\bcanary\b/g, "treatment") } };
}

const iso = (sec: number) => new Date(sec * 1000).toISOString();
