// The root's held watches (src/controller/watchers.ts): bounded, answered once per change with the
// finished view, and never left hanging.
import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_WATCH_WAIT_MS, MAX_WATCHERS, Watchers } from "../../src/controller/watchers";
import type { ControllerView } from "../../src/model/protocol";

const viewAt = (revision: number): ControllerView => ({ revision, doc: null, fingerprint: null, supersedes: [] });

describe("Watchers", () => {
  afterEach(() => void vi.useRealTimers());

  it("answers every held watch after the change is complete, with the final revision", async () => {
    let revision = 3;
    const w = new Watchers(
      () => 0,
      () => viewAt(revision),
    );
    const held = [w.watch(3, 10_000), w.watch(3, 10_000)];
    expect(w.size).toBe(2);
    // Two updates in one turn (a rollback writes the document, then the event): one answer, the last.
    revision = 4;
    w.changed();
    revision = 5;
    w.changed();
    const answers = await Promise.all(held);
    expect(answers.map((a) => a.view.revision)).toEqual([5, 5]);
    expect(w.size).toBe(0);
  });

  it("answers at once for another revision, and after maxWait (clamped) when nothing changes", async () => {
    vi.useFakeTimers();
    let now = 0;
    const w = new Watchers(
      () => now,
      () => viewAt(7),
    );
    expect(await w.watch(6, 10_000)).toEqual({ view: viewAt(7), heldMs: 0 });
    const quiet = w.watch(7, 10 * MAX_WATCH_WAIT_MS);
    now = MAX_WATCH_WAIT_MS;
    await vi.advanceTimersByTimeAsync(MAX_WATCH_WAIT_MS);
    expect(await quiet).toEqual({ view: viewAt(7), heldMs: MAX_WATCH_WAIT_MS });
    // A state update that leaves the revision alone answers nobody.
    const still = w.watch(7, 1000);
    w.changed();
    await Promise.resolve();
    expect(w.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await still;
  });

  it(`holds at most its bound (${MAX_WATCHERS} in the controller): past that a watch is answered at once, unheld`, async () => {
    vi.useFakeTimers();
    const w = new Watchers(
      () => 0,
      () => viewAt(1),
      16,
    );
    const held = Array.from({ length: 16 }, () => w.watch(1, 1000));
    expect(w.size).toBe(16);
    expect(await w.watch(1, 1000)).toEqual({ view: viewAt(1), heldMs: 0 });
    expect(w.size).toBe(16);
    await vi.advanceTimersByTimeAsync(1000);
    await Promise.all(held);
    expect(w.size).toBe(0);
  });
});
