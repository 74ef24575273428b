// Experiments outlive the controller's restarts (a deploy, the runtime's own): each experiment's
// state and visitors are saved in `experiment_part` (./store.ts, docs/storage-schema.md) and read
// back when the object starts. Experiments run for days; the health ledgers, which judge minutes,
// are memory only.
//
// | concern                        | behaviour                                                       |
// |--------------------------------|-----------------------------------------------------------------|
// | write cost                     | at most one save per experiment every EXPERIMENT_SAVE_EVERY_MS: |
// |                                | its state row and only the visitor groups that changed          |
// |                                | (src/experiments/tally.ts CHUNKS), so ≤ 65 rows per experiment  |
// |                                | per save however many visitors arrive                           |
// | a restart                      | the saved experiment is used if it is the same one (the rollout:|
// |                                | same attempt; a flag: same definition); up to one save interval |
// |                                | of counts is lost, never counted twice                           |
// | a stored part unreadable       | its group's visitors are lost; the rest is read                 |
// | the flag gone, or not guarded  | its rows are deleted                                            |
import { Experiment, type ExperimentState } from "../experiments/experiment";
import type { ControllerStore } from "./store";
import { WriteBehind } from "./write-behind";

export const EXPERIMENT_SAVE_EVERY_MS = 10_000;

/** Part −1 of an experiment: what it is (`identity`) and its state. */
interface Saved {
  identity: string;
  state: ExperimentState;
}

export class ExperimentArchive {
  private readonly writeBehind: WriteBehind;
  private readonly live = new Map<string, { identity: string; experiment: Experiment }>();

  constructor(
    private readonly store: ControllerStore,
    saveEveryMs = EXPERIMENT_SAVE_EVERY_MS,
  ) {
    this.writeBehind = new WriteBehind(saveEveryMs);
  }

  /** `experiment` (what `name` is now, for `identity`) changed: it is saved within the interval. */
  changed(name: string, identity: string, experiment: Experiment): void {
    this.live.set(name, { identity, experiment });
    // The key ends in a newline so that discard(), a prefix match, drops this name only ("flag:a" not "flag:ab").
    this.writeBehind.defer(`${name}\n`, () => this.save(name));
  }

  /** The saved experiment `name` if it is `identity`'s, else null. */
  load(name: string, identity: string): Experiment | null {
    const parts = this.store.experiment(name);
    const saved = parts.get(-1) as Saved | undefined;
    if (!saved || saved.identity !== identity || !saved.state) return null;
    parts.delete(-1);
    try {
      return Experiment.restore(saved.state, parts.values());
    } catch (e) {
      console.error(`controller: experiment ${name} could not be read back: ${(e as Error).message}`);
      return null;
    }
  }

  /** `name` is no more: its rows go. */
  drop(name: string): void {
    this.live.delete(name);
    this.writeBehind.discard(`${name}\n`);
    this.store.deleteExperiment(name);
  }

  /** Saves what is pending now (tests, the controller's settle()). */
  flush(): void {
    this.writeBehind.flush();
  }

  private save(name: string): void {
    const x = this.live.get(name);
    if (!x) return;
    const e = x.experiment;
    const dirty = e.takeDirty();
    const parts: [number, unknown][] = [[-1, { identity: x.identity, state: e.state() } satisfies Saved]];
    for (const i of dirty) parts.push([i, e.chunk(i)]);
    try {
      this.store.putExperiment(name, parts);
    } catch (err) {
      // Nothing of it was written (one transaction): every group goes with the next save, or a
      // restart would read the previous sample's rows under this state.
      e.markDirty(dirty);
      this.changed(name, x.identity, e);
      throw err;
    }
  }
}
