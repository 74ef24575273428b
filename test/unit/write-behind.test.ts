// The controller's one write-behind: writes queued per report run together, at most every 250 ms.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PERSIST_EVERY_MS, WriteBehind } from "../../src/controller/write-behind";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("WriteBehind", () => {
  it("runs the writes queued in one interval together, once, when the interval ends", () => {
    const wrote: string[] = [];
    const wb = new WriteBehind();
    let counter = 0;
    for (let i = 0; i < 1000; i++) {
      counter++;
      // The write reads the live value when it runs: the interval's last value is stored.
      wb.defer("reports", () => wrote.push(`reports=${counter}`));
      wb.defer(`row:${i % 2}`, () => wrote.push(`row:${i % 2}`));
    }
    vi.advanceTimersByTime(PERSIST_EVERY_MS - 1);
    expect(wrote).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(wrote).toEqual(["reports=1000", "row:0", "row:1"]);
    vi.advanceTimersByTime(10 * PERSIST_EVERY_MS);
    expect(wrote).toHaveLength(3);
  });

  it("flush() writes at once and cancels the timer; the next write starts a new interval", () => {
    const wrote: string[] = [];
    const wb = new WriteBehind();
    wb.defer("a", () => wrote.push("a"));
    wb.flush();
    expect(wrote).toEqual(["a"]);
    vi.advanceTimersByTime(PERSIST_EVERY_MS);
    expect(wrote).toEqual(["a"]);
    wb.defer("b", () => wrote.push("b"));
    vi.advanceTimersByTime(PERSIST_EVERY_MS);
    expect(wrote).toEqual(["a", "b"]);
  });

  it("discard(prefix) drops queued writes that are obsolete (a window that started over)", () => {
    const wrote: string[] = [];
    const wb = new WriteBehind();
    wb.defer("health:1", () => wrote.push("health:1"));
    wb.defer("health:2", () => wrote.push("health:2"));
    wb.defer("series:0", () => wrote.push("series:0"));
    wb.discard("health:");
    wb.flush();
    expect(wrote).toEqual(["series:0"]);
  });

  it("a failing write is logged and does not stop the others", () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const wrote: string[] = [];
    const wb = new WriteBehind();
    wb.defer("bad", () => {
      throw new Error("disk full");
    });
    wb.defer("good", () => wrote.push("good"));
    wb.flush();
    expect(wrote).toEqual(["good"]);
    expect(error).toHaveBeenCalledWith(expect.stringMatching(/deferred storage write failed: disk full/));
    error.mockRestore();
  });
});
