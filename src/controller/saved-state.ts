// The controller's state in memory and its rows in `kv_state` ("controller", and one row per
// document field: docs/storage-schema.md): read once at start-up, written on every change. The
// state's shape and its pure rules are ./state.ts.
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | saving the state fails             | the decision stands in memory and still reaches KV, the event |
// |                                    | log and the webhook; logged, status().saveError says so; the  |
// |                                    | next change rewrites every row; KV's copy is what a restart   |
// |                                    | falls back on (a rolledBack document keeps all on stable)     |
// | a stored document field unreadable | that field falls back (state.ts repairParts), the others kept |
// | at start-up                        | (attempt, rollback); logged, status().stateRepaired says so   |
import { DOCUMENT_FIELDS, initialState, repairParts, type ControllerState } from "./state";
import type { ControllerStore } from "./store";

export class SavedState {
  private current: ControllerState;
  /** Rows rewritten by the next save: all of them at first (rows from before the split) and after a failure. */
  private rewriteAll = true;
  private failed: { at: string; message: string } | null = null;
  /** Document fields found unreadable at start-up and replaced by fallbacks (memory only). */
  readonly repaired: { at: string; fields: string[] } | null = null;

  constructor(
    private readonly store: ControllerStore,
    private readonly now: () => number,
  ) {
    // State stored before a field existed gets it at its initial value.
    const corrupt: string[] = [];
    const stored = store.getParts<ControllerState>("controller", DOCUMENT_FIELDS, corrupt);
    this.current = repairParts({ ...initialState(), ...(stored ?? {}) }, corrupt);
    if (corrupt.length > 0) {
      // The next save rewrites every row (rewriteAll starts true), so the bad rows do not outlive this.
      this.repaired = { at: new Date(now()).toISOString(), fields: corrupt };
      console.error(
        JSON.stringify({
          level: "error",
          event: "controller-state-part-corrupt",
          fields: corrupt,
          message: `stored controller field(s) ${corrupt.join(", ")} were unreadable; the other fields were kept and these fell back (src/controller/state.ts repairParts). Check the rollout with \`edgeshift status\``,
        }),
      );
    }
  }

  get state(): ControllerState {
    return this.current;
  }

  /** The last failed save, until one succeeds (memory only: it could not be saved). */
  get saveError(): { at: string; message: string } | null {
    return this.failed;
  }

  /**
   * Replaces fields of the state and saves it. Never throws: a decision already made (a rollback)
   * must still reach KV, the event log and the webhook, which follow the state update. A failure
   * is logged and shown in status().
   */
  update(change: Partial<ControllerState>): void {
    this.current = { ...this.current, ...change };
    try {
      this.store.putParts(
        "controller",
        this.current,
        DOCUMENT_FIELDS,
        this.rewriteAll ? undefined : Object.keys(change),
      );
      this.rewriteAll = false;
      if (this.failed) console.log(JSON.stringify({ event: "controller-save-recovered", failedAt: this.failed.at }));
      this.failed = null;
    } catch (e) {
      this.rewriteAll = true;
      this.failed = { at: new Date(this.now()).toISOString(), message: (e as Error).message };
      console.error(
        JSON.stringify({
          event: "controller-save-failed",
          message: this.failed.message,
          keeping: "the decision in memory; KV, the event log and the webhook still get it",
          fix: "check the Durable Object's storage (size, quota); the next change retries every row",
        }),
      );
    }
  }
}
