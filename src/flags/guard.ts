// Guarded flags, judged: each guarded flag's treatment (visitors its rollout gave a variation) against
// its control (visitors bucketed outside the rollout), with the canary's own machinery — the same
// counters, sliding window, visitor ledger (weighing per visitor and network, distinct visitors and
// networks) and sequential test (src/health). The arms ride on the slots: control is "blue",
// treatment "green" (src/telemetry/recorder.ts `recordFlag`), so `judgeHealth(…, "green", …)` judges
// a flag exactly as it judges a canary. Pure; the controller keeps one FlagGuards
// (src/controller/flag-guard.ts) and acts on what it returns.
//
// | situation                                         | what the guard does                               |
// |---------------------------------------------------|---------------------------------------------------|
// | a batch of a flag version not known yet           | not counted (`unknown` +1): the controller reads  |
// |                                                   | the flags document and later batches count        |
// | a new flags version, the flag's definition as it  | counted on: its window, ledgers and verdict go on |
// | was (another flag changed)                        |                                                   |
// | the flag's definition changed (percent, split,    | a new comparison: window and ledgers start empty  |
// | rules, guard rules)                               |                                                   |
// | the flag no longer guarded, or gone               | its guard dropped                                 |
// | control under the rules' minRequests (thin, or a  | not judged (healthy, "no comparison yet"): the    |
// | rollout at or near 100 %)                         | rules would fall back on the treatment alone      |
// | the judgement fails                               | returned once per comparison (`tripped`), with    |
// |                                                   | the figures; the caller kills (or observes)       |
// | the operator switches a killed flag on again      | a new comparison (`restart`, the controller's     |
// |                                                   | call: the text may be the judged one, byte-alike)  |
import { defaultOf, definitionOf, type Flag, type FlagsDocument } from "../model/flags";
import { splitOf } from "./evaluate";
import type { RollbackRules } from "../model/rollout";
import { FLAG_BATCH_PREFIX, type ReportBatch } from "../model/protocol";
import { addBatch, emptyVector, slotCounters, SlidingWindow, type CountedParts } from "../health/window";
import { addBatches, limitsOf, slidingLedger, VisitorLedger } from "../health/ledger";
import { judgeHealth, peopleOf, type Judgement } from "../health/judge";
import type { People } from "../health/rules";
import { Experiment } from "../experiments/experiment";
import { TALLY_LIMITS } from "../experiments/tally";
import type { ExperimentStatus } from "../model/status";

/** `flag:<key>@<fingerprint>` → its parts, or null for a rollout batch. */
export function flagBatchOf(fingerprint: string): { key: string; fingerprint: string } | null {
  if (!fingerprint.startsWith(FLAG_BATCH_PREFIX)) return null;
  const at = fingerprint.lastIndexOf("@");
  if (at <= FLAG_BATCH_PREFIX.length) return null;
  return { key: fingerprint.slice(FLAG_BATCH_PREFIX.length, at), fingerprint: fingerprint.slice(at + 1) };
}

const ARMS: CountedParts = { slots: ["blue", "green"], shadow: false, newVisitors: false };

interface Guard {
  /** The flag's definition (model/flags.ts `definitionOf`): a change starts a new comparison. */
  definition: string;
  rules: RollbackRules;
  /** Flags versions whose batches count for this comparison. */
  versions: Set<string>;
  window: SlidingWindow;
  ledger: VisitorLedger;
  /** Since the comparison began: the sequential test's cumulative sample. */
  sample: VisitorLedger;
  tripped: boolean;
  startedAt: number;
  /** The goals per arm since the comparison began (src/experiments): a flag's experiment. */
  experiment: Experiment;
}

export interface FlagTrip {
  key: string;
  judgement: Judgement;
  rules: RollbackRules;
  /** The flag's definition judged: isolates whose flag has it serve it off (the kill's scope). */
  definition: string;
}

/** Flags versions a comparison accepts batches of (the newest). */
const MAX_VERSIONS = 16;

function fresh(
  definition: string,
  rules: RollbackRules,
  versions: Set<string>,
  nowSec: number,
  experiment: Experiment,
): Guard {
  return {
    experiment,
    definition,
    rules,
    versions,
    window: new SlidingWindow(1, rules.windowSeconds),
    ledger: slidingLedger(limitsOf(rules), rules.windowSeconds),
    sample: new VisitorLedger(limitsOf(rules), null),
    tripped: false,
    startedAt: nowSec,
  };
}

/**
 * Where flags' experiments are kept across the controller's restarts (src/controller/
 * experiment-archive.ts), under `flag:<key>` for the flag's definition.
 */
export interface ExperimentKeeper {
  load(name: string, identity: string): Experiment | null;
  changed(name: string, identity: string, experiment: Experiment): void;
  drop(name: string): void;
}

const experimentName = (key: string) => `flag:${key}`;

export class FlagGuards {
  private readonly guards = new Map<string, Guard>();
  /** Batches of flags versions not (yet) known, for the status. */
  unknown = 0;

  constructor(private readonly keeper?: ExperimentKeeper) {}

  /** The flags document in force (version `fingerprint`): guards made, kept or dropped (table above). */
  configure(doc: FlagsDocument, fingerprint: string, nowSec: number): void {
    for (const key of [...this.guards.keys()]) {
      const f = doc.flags[key];
      if (f === undefined || f.guard === false) {
        this.guards.delete(key);
        this.keeper?.drop(experimentName(key));
      }
    }
    for (const [key, f] of Object.entries(doc.flags)) {
      if (f.guard === false) continue;
      const definition = definitionOf(f);
      const g = this.guards.get(key);
      if (g !== undefined && g.definition === definition) {
        // Bounded: an old version's batches stop counting, a new one's start with the next read.
        g.versions.add(fingerprint);
        if (g.versions.size > MAX_VERSIONS) g.versions.delete(g.versions.values().next().value!);
        continue;
      }
      // A changed definition (a new percent, split or rules) is a new sample; the last one stays readable.
      const share = treatmentShare(f);
      // After a restart the saved experiment of this very definition goes on.
      const experiment =
        (g === undefined ? this.keeper?.load(experimentName(key), definition) : null) ??
        g?.experiment.next(nowSec, share) ??
        new Experiment(nowSec, share, null, TALLY_LIMITS.flagVisitors);
      this.guards.set(key, fresh(definition, f.guard, new Set([fingerprint]), nowSec, experiment));
    }
  }

  /**
   * A new comparison for `key` (the operator switched a killed flag on again: src/controller/
   * flag-guard.ts decides that, since the text alone cannot tell it from a stale copy).
   */
  restart(key: string, nowSec: number): void {
    const g = this.guards.get(key);
    if (g === undefined) return;
    this.guards.set(
      key,
      fresh(g.definition, g.rules, g.versions, nowSec, g.experiment.next(nowSec, g.experiment.percent)),
    );
  }

  /** Whether a batch's flags version is one the guards know (else the caller reads the document). */
  knows(fingerprint: string): boolean {
    for (const g of this.guards.values()) if (g.versions.has(fingerprint)) return true;
    return false;
  }

  /**
   * Counts flag batches at `nowSec`; returns the comparisons that failed just now. `goals`: those
   * declared, which the flags' experiments count (none: the experiments are left as they are).
   */
  add(nowSec: number, batches: readonly ReportBatch[], goals: readonly string[] = []): FlagTrip[] {
    const touched = new Set<string>();
    for (const b of batches) {
      const id = flagBatchOf(String(b?.fingerprint));
      if (id === null) continue;
      const g = this.guards.get(id.key);
      if (g === undefined || !g.versions.has(id.fingerprint)) {
        this.unknown++;
        continue;
      }
      g.window.add(nowSec, addBatch(emptyVector(), b, ARMS));
      addBatches(g.ledger, nowSec, [b], () => ARMS.slots);
      addBatches(g.sample, nowSec, [b], () => ARMS.slots);
      // Once killed, every visitor gets the flag's off variation: the experiment is what it was then.
      if (!g.tripped && goals.length > 0) {
        g.experiment = g.experiment.continuedAt(nowSec, g.experiment.percent ?? 0, goals);
        g.experiment.add(nowSec, b, ARMS.slots);
        this.keeper?.changed(experimentName(id.key), g.definition, g.experiment);
      }
      touched.add(id.key);
    }
    const trips: FlagTrip[] = [];
    for (const key of touched) {
      const g = this.guards.get(key)!;
      if (g.tripped) continue;
      const judgement = this.judge(g, nowSec);
      if (judgement.healthy) continue;
      g.tripped = true;
      trips.push({ key, judgement, rules: g.rules, definition: g.definition });
    }
    return trips;
  }

  /** Each guarded flag's judgement now (the status page and CLI show them). */
  status(nowSec: number): { key: string; since: number; judgement: Judgement; tripped: boolean }[] {
    return [...this.guards].map(([key, g]) => ({
      key,
      since: g.startedAt,
      judgement: this.judge(g, nowSec),
      tripped: g.tripped,
    }));
  }

  /** Each guarded flag's experiment over `goals`: treatment against control. */
  experiments(goals: readonly string[]): ExperimentStatus[] {
    return [...this.guards].map(([key, g]) =>
      g.experiment.status(
        {
          subject: "flag",
          key,
          control: "blue",
          treatment: "green",
          names: { control: "control", treatment: "treatment" },
        },
        goals,
        !g.tripped,
      ),
    );
  }

  private judge(g: Guard, nowSec: number): Judgement {
    return inFlagWords(this.judgeArms(g, nowSec));
  }

  private judgeArms(g: Guard, nowSec: number): Judgement {
    const totals = g.window.totals(nowSec);
    // No control, no comparison: the rules would fall back to the treatment's own error rate, and
    // an outage of the whole site (or a rollout at 100 %) would switch the flag off.
    const control = slotCounters(totals, "blue");
    if (control.requests < g.rules.minRequests)
      return notJudged(g, totals, control.requests, peopleOf(g.ledger, "green", nowSec));
    return judgeHealth(
      totals,
      "green",
      g.rules,
      g.rules.windowSeconds,
      peopleOf(g.ledger, "green", nowSec),
      peopleOf(g.sample, "green"),
    );
  }
}

/**
 * The share of visitors (0–100) the flag's rollout puts in the treatment: `percent` of them, less
 * those whose split variation is the default (they get the default, and count as control).
 */
function treatmentShare(f: Flag): number {
  const percent = f.rollout?.percent ?? 0;
  const fallback = defaultOf(f);
  const split = splitOf(f, fallback);
  const total = split.reduce((n, [, w]) => n + w, 0);
  const treated = split.filter(([v]) => v !== fallback).reduce((n, [, w]) => n + w, 0);
  return total > 0 ? (percent * treated) / total : 0;
}

/** Healthy by default: the control arm is too thin to compare with (a verdict with the figures). */
function notJudged(g: Guard, totals: ArrayLike<number>, controlRequests: number, people: People): Judgement {
  // With the window's people, so the status shows each arm's visitors while no verdict is made.
  const j = judgeHealth(totals, "green", false, g.rules.windowSeconds, people);
  const detail = `${controlRequests} of ${g.rules.minRequests} control requests: no comparison yet (a guard judges the treatment only against its control)`;
  return { ...j, healthy: true, reason: null, verdicts: [{ rule: "control", ok: true, detail }] };
}

/**
 * The rules speak of a canary and its stable baseline; a flag's arms are its treatment and control.
 * The words are the rules' own (src/health/rules.ts), so one rename covers every reason and detail.
 */
function inFlagWords(j: Judgement): Judgement {
  const words = (t: string) => t.replace(/\bcanary\b/g, "treatment").replace(/\bstable\b/g, "control");
  return {
    ...j,
    reason: j.reason === null ? null : words(j.reason),
    verdicts: j.verdicts.map((v) => ({ ...v, detail: words(v.detail) })),
  };
}
