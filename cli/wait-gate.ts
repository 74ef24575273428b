// What `edgeshift wait` (the CI gate) decides from one status answer: an outcome, or keep waiting.
// Pure: no clock, no I/O; the loop, the timeout and the retries are in ./commands/wait.ts.
//
// Which attempt the gate waits on (docs/cli.md, "wait"): a status answered right after
// `edgeshift start` may still show the previous attempt (a KV write the controller has not read
// yet), and that attempt's "promoted" or "rolled-back" must not end the gate.
// | given             | the gate waits on                                                         |
// |-------------------|---------------------------------------------------------------------------|
// | `--attempt N`     | the controller's attempt N: an earlier one shown is "not started yet"      |
// | `--release R`     | the first attempt shown with release R; another release: "not started yet" |
// | neither           | the attempt the first answer shows                                        |
// Once the attempt is known, a later attempt shown means it was replaced (superseded): another
// write came first, and what happens to it is no longer this gate's answer.
import type { RolloutEvent, StatusSnapshot } from "../src/model/status";

export type Until = { kind: "promoted" } | { kind: "percent"; percent: number } | { kind: "complete" };

/** What the gate waits on: exactly one attempt once known (see the table above). */
export type Target = { attempt: number } | { release: string } | { first: true };

export type Outcome =
  "promoted" | "reached" | "complete" | "rolled-back" | "aborted" | "paused" | "superseded" | "timeout" | "unreachable";

/**
 * `wait`'s exit codes (docs/cli.md, "Exit codes"; 0–3 keep their meaning for every command).
 * 3 is "cannot reach the Worker", here after MAX_FAILURES answers in a row failed.
 */
export const WAIT_EXIT: Record<Outcome, number> = {
  promoted: 0,
  reached: 0,
  complete: 0,
  unreachable: 3,
  "rolled-back": 10,
  aborted: 11,
  paused: 12,
  timeout: 13,
  superseded: 14,
};

/** Consecutive failed status calls after which the gate gives up (exit 3), unless the timeout comes first. */
export const MAX_FAILURES = 10;
/** The longest pause between retries while the Worker does not answer. */
export const MAX_BACKOFF_MS = 30_000;

export type Verdict =
  | { done: false; attempt: number | null; waiting: string }
  | { done: true; attempt: number; outcome: Outcome; reason: string };

/** The attempt `s` shows, if it is the one the gate waits on; else why not (or that it was replaced). */
export function resolveAttempt(s: StatusSnapshot, target: Target): { attempt: number } | { waiting: string } {
  const shown = s.attempt.number;
  if ("attempt" in target) {
    if (shown < target.attempt)
      return { waiting: `attempt ${target.attempt} not started yet (the controller shows attempt ${shown})` };
    return { attempt: target.attempt };
  }
  if ("release" in target && s.release !== target.release)
    return {
      waiting: `release ${target.release} not started yet (the controller shows attempt ${shown}, ${s.release ? `release ${s.release}` : "no release"})`,
    };
  return { attempt: shown };
}

/**
 * The gate's judgement of one answer for attempt `attempt` (null: not known yet, `target` says
 * how to find it). Order matters: a rollback outranks everything; a promotion satisfies every
 * `until`; the condition is checked before `paused` (a plan paused at 50 % has reached 50 %).
 */
export function judge(s: StatusSnapshot, target: Target, attempt: number | null, until: Until): Verdict {
  const found = attempt === null ? resolveAttempt(s, target) : { attempt };
  if ("waiting" in found) return { done: false, attempt: null, waiting: found.waiting };
  const n = found.attempt;
  const done = (outcome: Outcome, reason: string): Verdict => ({ done: true, attempt: n, outcome, reason });
  if (s.attempt.number > n)
    return done(
      "superseded",
      `attempt ${n} was replaced by attempt ${s.attempt.number} (${s.release ? `release ${s.release}` : "no release"}): another write came first`,
    );
  if (s.state === "rolled-back") {
    const why = s.rolledBack?.reason ?? "no reason given";
    if (s.rolledBack?.by !== undefined) return done("aborted", `by ${s.rolledBack.by}: ${why}`);
    // A controller older than `rolledBack.by` (the CLI and the Worker are deployed apart): the events tell.
    const end = lastEnd(s.events);
    return end?.kind === "abort" ? done("aborted", `by ${end.actor}: ${why}`) : done("rolled-back", why);
  }
  if (s.state === "promoted") return done("promoted", `${s.roles.stable} is the stable now`);
  if (until.kind === "percent" && s.percent >= until.percent)
    return done("reached", `the canary has ${s.percent} % (asked for at least ${until.percent} %)`);
  if (until.kind === "complete" && s.plan?.completed)
    return done("complete", s.plan.waitingFor ?? `plan complete at ${s.percent} %`);
  if (s.state === "paused") return done("paused", s.plan?.waitingFor ?? "the plan is paused");
  return { done: false, attempt: n, waiting: s.plan?.waitingFor ?? waitingWithoutPlan(s, until) };
}

/** The newest rollback or abort in the status's recent events: which of the two ended the attempt. */
function lastEnd(events: RolloutEvent[]): RolloutEvent | undefined {
  return [...events].sort((a, b) => b.id - a.id).find((e) => e.kind === "rollback" || e.kind === "abort");
}

function waitingWithoutPlan(s: StatusSnapshot, until: Until): string {
  if (until.kind === "complete") return "no plan in this attempt: nothing will complete (edgeshift start writes one)";
  return until.kind === "promoted"
    ? `no plan: the canary stays at ${s.percent} % until \`edgeshift promote\``
    : `no plan: the canary stays at ${s.percent} % until the document changes`;
}

/** What one progress line reports; a new line is printed only when this changes (not on every poll). */
export interface Progress {
  attempt: number;
  release: string | null;
  state: StatusSnapshot["state"];
  canary: string;
  percent: number;
  step: { number: number; of: number; percent: number } | null;
  healthy: boolean;
  /** The plan step waits for `edgeshift approve`: the gate keeps waiting (a person's step; --timeout bounds it). */
  awaitingApproval: boolean;
}

export function progressOf(s: StatusSnapshot): Progress {
  const p = s.plan;
  return {
    attempt: s.attempt.number,
    release: s.release,
    state: s.state,
    canary: s.roles.canary,
    percent: s.percent,
    step: p ? { number: p.index + 1, of: p.steps.length, percent: p.steps[p.index]?.percent ?? s.percent } : null,
    healthy: s.health.healthy,
    awaitingApproval: Boolean(p?.awaitingApproval),
  };
}

export const sameProgress = (a: Progress | null, b: Progress) => a !== null && JSON.stringify(a) === JSON.stringify(b);

export function progressLine(p: Progress): string {
  const step = p.step ? ` · step ${p.step.number}/${p.step.of} (${p.step.percent} %)` : "";
  return `attempt ${p.attempt}${p.release ? ` · release ${p.release}` : ""} · ${p.state} · ${p.canary} ${p.percent} %${step} · ${p.healthy ? "healthy" : "UNHEALTHY"}${p.awaitingApproval ? " · waiting for approval" : ""}`;
}

/** The pause before retry `failures` (1, 2, …): the interval, doubled each time, at most MAX_BACKOFF_MS. */
export function backoffMs(failures: number, intervalMs: number): number {
  return Math.min(MAX_BACKOFF_MS, intervalMs * 2 ** Math.max(0, failures - 1));
}
