// The demo's way out: Ctrl-C (SIGINT), SIGTERM, and SIGHUP (the terminal closed; node's default for
// it is to die at once, skipping every cleanup) each start one orderly stop, exiting 128 + the signal.

export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

// One Ctrl-C can arrive twice: the terminal sends it to the whole foreground group, npm's run-script
// among it, and npm forwards it to its child as well. Only a second one a person means leaves at once.
const REPEAT_MS = 1000;

/**
 * `stop(code)` on the first stop signal; on a later one `leave(code)` (the first's code), unless it is
 * the same signal again within a second. `on` is `process` but in tests.
 */
export function onStopSignals(
  stop: (code: number) => void,
  leave: (code: number) => void,
  on: Pick<NodeJS.EventEmitter, "on"> = process,
): void {
  let first: { signal: StopSignal; at: number } | undefined;
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[])
    on.on(signal, () => {
      if (!first) {
        first = { signal, at: Date.now() };
        stop(STOP_SIGNALS[signal]);
      } else if (signal !== first.signal || Date.now() - first.at >= REPEAT_MS) leave(STOP_SIGNALS[first.signal]);
    });
}
