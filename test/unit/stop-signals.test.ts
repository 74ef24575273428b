// scripts/lib/stop-signals.ts: one orderly stop per run, whatever the signal; npm's forwarded copy of
// a Ctrl-C is not a second Ctrl-C, which leaves at once.
import { EventEmitter } from "node:events";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { onStopSignals } from "../../scripts/lib/stop-signals";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function signals() {
  const proc = new EventEmitter();
  const calls: string[] = [];
  onStopSignals(
    (code) => calls.push(`stop ${code}`),
    (code) => calls.push(`leave ${code}`),
    proc,
  );
  return { proc, calls };
}

it("stops once, with 128 + the signal: SIGINT 130, SIGTERM 143, SIGHUP 129", () => {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    const { proc, calls } = signals();
    proc.emit(signal);
    expect(calls).toEqual([`stop ${code}`]);
  }
});

it("takes the same signal within a second for the first (npm's forwarded copy), a later one as leave", () => {
  const { proc, calls } = signals();
  proc.emit("SIGINT");
  vi.advanceTimersByTime(30);
  proc.emit("SIGINT");
  expect(calls).toEqual(["stop 130"]);
  vi.advanceTimersByTime(1000);
  proc.emit("SIGINT");
  expect(calls).toEqual(["stop 130", "leave 130"]);
});

it("leaves at once on another signal, keeping the first's code", () => {
  const { proc, calls } = signals();
  proc.emit("SIGINT");
  proc.emit("SIGHUP");
  expect(calls).toEqual(["stop 130", "leave 130"]);
});
