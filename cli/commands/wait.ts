// wait: the CI gate. Polls the controller's status until the attempt it waits on is promoted (or
// reaches a percent, or its plan completes), is rolled back, aborted, paused or replaced, or the
// timeout passes; each outcome its own exit code. The decisions are ../wait-gate.ts's (pure).
import { z } from "zod";
import type { StatusSnapshot } from "../../src/model/status";
import { ApiRefusal } from "../api";
import { CliError, EXIT, check, durationBetween, usageError } from "../args";
import { API_OPTIONS, apiFrom, noPositionals, type Command, type Io } from "../command";
import {
  MAX_FAILURES,
  WAIT_EXIT,
  backoffMs,
  judge,
  progressLine,
  progressOf,
  sameProgress,
  type Outcome,
  type Progress,
  type Target,
  type Until,
} from "../wait-gate";

const untilArg = z.string().transform((s, ctx): Until => {
  if (s === "promoted" || s === "complete") return { kind: s };
  const m = /^percent:(\d+(?:\.\d+)?)$/.exec(s);
  const n = m ? Number(m[1]) : NaN;
  if (m && n > 0 && n <= 100) return { kind: "percent", percent: n };
  ctx.addIssue({
    code: "custom",
    message: m
      ? "the percent must be above 0 and at most 100, e.g. --until percent:50"
      : "must be promoted, complete or percent:<N>, e.g. --until percent:50",
  });
  return z.NEVER;
});

const timeoutArg = durationBetween(1, 7 * 86400, "must be at least 1s", "must be at most 7d, e.g. 45m");
const intervalArg = durationBetween(1, 300, "must be at least 1s", "must be at most 300s (5m), e.g. 2s");
const attemptArg = z
  .string()
  .regex(/^\d+$/, "must be the controller's attempt number, e.g. 7 (edgeshift start prints it)")
  .transform(Number)
  .pipe(z.number().int().min(1, "must be at least 1"));

export interface WaitOptions {
  target: Target;
  until: Until;
  timeoutMs: number;
  intervalMs: number;
  json: boolean;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/**
 * A failure worth retrying: the Worker not answering, or an answer from in front of it (a
 * gateway's 5xx page, 429). The API's own refusals (401, 404, its JSON 503 "admin disabled") are not.
 */
function transient(e: unknown): boolean {
  if (e instanceof ApiRefusal) return e.status === 429 || (e.status >= 500 && (e.status !== 503 || e.body === null));
  return e instanceof CliError && e.exitCode === EXIT.UNREACHABLE;
}

/** The gate's loop; returns the exit code. `clock` is a parameter so tests need not sleep. */
export async function runWait(
  api: { status(): Promise<StatusSnapshot> },
  o: WaitOptions,
  io: Io,
  clock: Clock = realClock,
): Promise<number> {
  const started = clock.now();
  const stamp = () => new Date(clock.now()).toISOString();
  const line = (human: string, json: Record<string, unknown>) =>
    io.out(o.json ? JSON.stringify({ event: json.event, at: stamp(), ...json }) : `${stamp().slice(11, 19)}  ${human}`);
  let attempt: number | null = null;
  let shown: Progress | null = null;
  let notStarted: string | null = null;
  let last = "no answer from the Worker yet";
  let failures = 0;
  const finish = (outcome: Outcome, reason: string) => {
    const code = WAIT_EXIT[outcome];
    const elapsedSeconds = Math.round((clock.now() - started) / 1000);
    line(
      `${outcome.replace("-", " ").toUpperCase()}: ${reason} — ${attempt === null ? "" : `attempt ${attempt}, `}after ${elapsedSeconds} s, exit ${code}`,
      {
        event: "outcome",
        outcome,
        exitCode: code,
        attempt,
        reason,
        elapsedSeconds,
      },
    );
    return code;
  };
  const untilText = o.until.kind === "percent" ? `percent:${o.until.percent}` : o.until.kind;
  for (;;) {
    let s: StatusSnapshot | null = null;
    try {
      s = await api.status();
    } catch (e) {
      if (!transient(e)) throw e;
      failures++;
      last = (e as Error).message;
      if (failures === 1)
        line(
          `the Worker does not answer (${last}); retrying with backoff, giving up after ${MAX_FAILURES} failures in a row`,
          {
            event: "unreachable",
            error: last,
            maxFailures: MAX_FAILURES,
          },
        );
      if (failures >= MAX_FAILURES)
        return finish("unreachable", `${MAX_FAILURES} status calls in a row failed, the last: ${last}`);
    }
    if (s) {
      if (failures > 0)
        line(`the Worker answers again after ${failures} failed calls`, { event: "reachable", failures });
      failures = 0;
      const v = judge(s, o.target, attempt, o.until);
      if (v.done) {
        attempt = v.attempt;
        return finish(v.outcome, v.reason);
      }
      last = v.waiting;
      if (v.attempt === null) {
        if (notStarted !== v.waiting) line(v.waiting, { event: "not-started", reason: v.waiting });
        notStarted = v.waiting;
      } else {
        attempt = v.attempt;
        const p = progressOf(s);
        if (!sameProgress(shown, p))
          line(`${progressLine(p)} — ${v.waiting}`, { event: "progress", ...p, waitingFor: v.waiting });
        shown = p;
      }
    }
    const left = started + o.timeoutMs - clock.now();
    if (left <= 0)
      return finish(
        "timeout",
        `no outcome within ${Math.round(o.timeoutMs / 1000)} s waiting for ${untilText}; last: ${last}`,
      );
    await clock.sleep(Math.min(left, failures ? backoffMs(failures, o.intervalMs) : o.intervalMs));
  }
}

export const wait: Command = {
  name: "wait",
  usage: "wait [--until promoted|percent:<N>|complete] [--timeout <duration>] [options]",
  summary:
    "Block until the attempt is promoted (or reaches a percent, or its plan completes), rolled back, aborted, paused or replaced, or the timeout passes: a CI gate, one exit code per outcome.",
  details: [
    "Waits on one attempt of the controller: --attempt N, else the first one shown with --release R, else the",
    "one the first answer shows (a status from before your `edgeshift start` is not taken for the new attempt",
    "when you give --attempt or a new --release). One line per change (state, percent, plan step, health).",
    `Retries an unreachable Worker with backoff; gives up (exit 3) after ${MAX_FAILURES} failed calls in a row.`,
    "",
    "Exit codes: 0 reached (promoted, percent or complete) · 10 rolled back · 11 aborted · 12 paused · 13 timeout ·",
    "14 replaced by a newer attempt · 3 Worker unreachable · 1 refused · 2 bad usage",
    "",
    "Examples:",
    "  edgeshift start --steps 5,25,100 --step-seconds 300 --release v2.4.0 && edgeshift wait --release v2.4.0 --timeout 30m",
    "  edgeshift wait --until percent:25 --json",
  ].join("\n"),
  options: {
    ...API_OPTIONS,
    until: {
      type: "string",
      value: "<goal>",
      help: "promoted (default), percent:<N> (the canary has at least N %) or complete",
    },
    timeout: { type: "string", value: "<duration>", help: "give up after this long (exit 13), e.g. 45m (default 30m)" },
    interval: { type: "string", value: "<duration>", help: "between status calls (default 2s)" },
    attempt: { type: "string", value: "<n>", help: "the controller's attempt to wait on (edgeshift start prints it)" },
    release: { type: "string", value: "<label>", help: "wait on the first attempt with this release" },
    json: { type: "boolean", help: "one JSON object per line; the last is the outcome" },
  },
  async run(a, io) {
    noPositionals(a, "wait");
    if (a.values.attempt !== undefined && a.values.release !== undefined)
      throw usageError("--attempt and --release: give one (--attempt names the attempt exactly)");
    const target: Target =
      a.values.attempt !== undefined
        ? { attempt: check(attemptArg, a.values.attempt, "--attempt") }
        : typeof a.values.release === "string"
          ? { release: a.values.release }
          : { first: true };
    const o: WaitOptions = {
      target,
      until: a.values.until === undefined ? { kind: "promoted" } : check(untilArg, a.values.until, "--until"),
      timeoutMs: (a.values.timeout === undefined ? 1800 : check(timeoutArg, a.values.timeout, "--timeout")) * 1000,
      intervalMs: (a.values.interval === undefined ? 2 : check(intervalArg, a.values.interval, "--interval")) * 1000,
      json: Boolean(a.values.json),
    };
    return runWait(apiFrom(a.values, io), o, io);
  },
};
