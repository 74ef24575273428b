// What the CLI's unit tests share (not a test file itself): an Io that keeps what a command prints,
// and the message of the usage error (exit 2) a call must throw.
import { expect } from "vitest";
import { CliError, EXIT } from "../../cli/args";
import type { Io } from "../../cli/command";

/** An Io without colour at 100 columns; `out` and `err` collect its lines. */
export function captureIo(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const x: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env, style: { color: false, width: 100 } };
  return { x, out, err };
}

/** The message of the usage error `f` throws; fails the test if it throws none, or another kind. */
export function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(EXIT.USAGE);
    return (e as Error).message;
  }
  throw new Error("expected a usage error");
}
