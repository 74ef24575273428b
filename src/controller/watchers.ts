// Watches held open by the root controller (RolloutController.watch, issue 10): an aggregator asks
// "answer when your revision is no longer N, or after maxWaitMs", so the view it holds is known
// current without polling. A held watch is a pending promise and a timer, nothing else: it costs no
// CPU while waiting and never delays a report or an operator call (those run between awaits as
// always). Memory only: after the root restarts its watchers' calls fail and they open new ones.
//
// | situation                              | behaviour                                                |
// |----------------------------------------|----------------------------------------------------------|
// | revision ≠ the watcher's (any change:  | answered at once (a watch opened late, or a root that    |
// | rollback, plan step, operator write)   | restarted with another revision, learns it immediately) |
// | revision changes while held            | every held watch answered in the same turn (microtask    |
// |                                        | after the change, so the view is the finished one)       |
// | nothing changes within maxWaitMs       | answered with the current view (heldMs = maxWaitMs)      |
// | maxWaitMs out of range                 | clamped to [0, MAX_WATCH_WAIT_MS]                        |
// | more than MAX_WATCHERS held            | the new one answered at once, unheld (heldMs 0): the     |
// |                                        | aggregator backs off; memory stays bounded               |
import type { ControllerView } from "../model/protocol";

/** What a watch answers: the view, and how long the root held the call before answering (its own clock). */
export interface WatchAnswer {
  view: ControllerView;
  heldMs: number;
}

/**
 * Longest hold. Waiting in an RPC call is not CPU time (Durable Objects count "CPU per request",
 * 30 s by default, of active CPU: developers.cloudflare.com/durable-objects/platform/limits/), and a
 * pending call to another object keeps the caller running (changelog 2026-10-01, "Pending I/O
 * operations"); 25 s stays well inside both and inside common idle-connection timeouts.
 */
export const MAX_WATCH_WAIT_MS = 25_000;
/** Held watches at most: 300 locations × 2 shards is 600 aggregators; room for 8,000 shards. */
export const MAX_WATCHERS = 8192;

interface Held {
  known: number;
  since: number;
  resolve: (a: WatchAnswer) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Watchers {
  private readonly held = new Set<Held>();
  private notifying = false;

  constructor(
    private readonly now: () => number,
    private readonly current: () => ControllerView,
    private readonly limit = MAX_WATCHERS,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /** Answers at once when the revision is not `known`, else when it changes or after `maxWaitMs`. */
  watch(known: number, maxWaitMs: number): Promise<WatchAnswer> {
    const view = this.current();
    const wait = Math.max(0, Math.min(MAX_WATCH_WAIT_MS, Math.floor(Number(maxWaitMs)) || 0));
    if (view.revision !== Number(known) || wait === 0 || this.held.size >= this.limit)
      return Promise.resolve({ view, heldMs: 0 });
    return new Promise((resolve) => {
      const w: Held = {
        known: view.revision,
        since: this.now(),
        resolve,
        timer: setTimeout(() => this.answer(w), wait),
      };
      this.held.add(w);
    });
  }

  /** Called on every state update: answers every held watch whose revision is gone, after the change is complete. */
  changed(): void {
    if (this.notifying || this.held.size === 0) return;
    this.notifying = true;
    queueMicrotask(() => {
      this.notifying = false;
      const revision = this.current().revision;
      for (const w of this.held) if (w.known !== revision) this.answer(w);
    });
  }

  private answer(w: Held): void {
    if (!this.held.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve({ view: this.current(), heldMs: Math.max(0, this.now() - w.since) });
  }
}
