// `edgeshift wait`, the CI gate: its pure judgement of status answers (cli/wait-gate.ts) and its
// loop (cli/commands/wait.ts) driven by a fake API and a fake clock, so no test sleeps.
import { describe, expect, it } from "vitest";
import { main } from "../../cli/edgeshift";
import { CliError, EXIT } from "../../cli/args";
import { ApiRefusal } from "../../cli/api";
import { runWait, type Clock, type WaitOptions } from "../../cli/commands/wait";
import { MAX_FAILURES, WAIT_EXIT, backoffMs, judge } from "../../cli/wait-gate";
import { ALL_STABLE } from "../../src/model/rollout";
import type { PlanStatus, RolloutEvent, SlotStats, StatusSnapshot } from "../../src/model/status";
import { captureIo } from "./cli-io";

const stats = (requests: number, errors: number): SlotStats => ({
  requests,
  errors,
  errorRate: requests ? errors / requests : 0,
  errorsByKind: { status5xx: errors, network: 0, timeout: 0 },
  failovers: 0,
  p50: 5,
  p95: 10,
  p99: 20,
  latencyBuckets: [],
});

const STEPS = [
  { percent: 10, seconds: 20 },
  { percent: 50, seconds: 20 },
  { percent: 100, seconds: 20 },
];

function plan(index: number, over: Partial<PlanStatus> = {}): PlanStatus {
  return {
    steps: STEPS,
    index,
    stepStartedAt: "2026-11-25T08:58:21.000Z",
    heldSeconds: 6,
    requiredSeconds: 20,
    requestsInStep: 21,
    minRequests: 50,
    paused: false,
    completed: false,
    waitingFor: `held 6 of 20 s at ${STEPS[index].percent} %`,
    sampleRatio: null,
    ...over,
  };
}

const event = (id: number, kind: RolloutEvent["kind"], actor: string, reason: string): RolloutEvent => ({
  id,
  at: "2026-11-25T08:58:27.000Z",
  kind,
  actor,
  reason,
});

/** Attempt 4 of release v2.0.0 at step 1/3 (10 %), healthy: the shape the controller answers. */
function snap(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  const percent = over.percent ?? 10;
  return {
    now: "2026-11-25T08:58:27.493Z",
    state: "running",
    attempt: { number: 4, startedAt: "2026-11-25T08:58:21.000Z" },
    config: { doc: { ...ALL_STABLE, percent, release: "v2.0.0" }, fingerprint: "1f0c", source: "controller" },
    configError: null,
    roles: { canary: "green", stable: "blue" },
    percent,
    release: "v2.0.0",
    plan: plan(0),
    window: { seconds: 60, canary: stats(21, 0), stable: stats(293, 0), shadow: null },
    health: { healthy: true, verdicts: [{ rule: "min-requests", ok: true, detail: "21 of 50: not judged yet" }] },
    rolledBack: null,
    series: [],
    events: [
      event(12, "plan-start", "operator", "plan 10 → 50 → 100 % started at step 1/3: 10 % held 20 s"),
      event(11, "attempt", "operator", "attempt 4: release v2.0.0, canary green at 10 %"),
    ],
    reports: { received: 29, droppedByIsolates: 0, mirrorsSkipped: 0, diverted: 0, lastAt: "2026-11-25T08:58:27.493Z" },
    saveError: null,
    ...over,
  };
}

const rolledBack = (over: Partial<StatusSnapshot> = {}) =>
  snap({
    state: "rolled-back",
    percent: 0,
    plan: null,
    health: { healthy: false, verdicts: [{ rule: "error-rate", ok: false, detail: "7.0 % > 5.0 %" }] },
    rolledBack: { at: "2026-11-25T08:59:03.000Z", reason: "canary 7.0 % errors (8/115) > maxErrorRate 5.0 %" },
    events: [event(14, "rollback", "controller", "canary 7.0 % errors (8/115) > maxErrorRate 5.0 %"), ...snap().events],
    ...over,
  });

const promoted = (over: Partial<StatusSnapshot> = {}) =>
  snap({
    state: "promoted",
    percent: 0,
    plan: null,
    roles: { canary: "blue", stable: "green" },
    events: [event(16, "promote", "controller", "plan complete at 100 %: green is stable"), ...snap().events],
    ...over,
  });

const PROMOTED = { kind: "promoted" } as const;
const FIRST = { first: true } as const;

describe("judge: one status answer → an outcome or keep waiting", () => {
  it("a running plan keeps waiting, with what the step waits for", () => {
    expect(judge(snap(), FIRST, null, PROMOTED)).toEqual({
      done: false,
      attempt: 4,
      waiting: "held 6 of 20 s at 10 %",
    });
  });

  it("promoted, rolled back, aborted, paused: each its outcome and exit code", () => {
    expect(judge(promoted(), FIRST, 4, PROMOTED)).toMatchObject({ done: true, outcome: "promoted", attempt: 4 });
    expect(judge(rolledBack(), FIRST, 4, PROMOTED)).toMatchObject({
      outcome: "rolled-back",
      reason: "canary 7.0 % errors (8/115) > maxErrorRate 5.0 %",
    });
    const aborted = rolledBack({
      rolledBack: { at: "2026-11-25T08:59:03.000Z", reason: "bad deploy" },
      events: [event(15, "abort", "alice", "bad deploy"), ...snap().events],
    });
    expect(judge(aborted, FIRST, 4, PROMOTED)).toMatchObject({
      outcome: "aborted",
      reason: "by alice: bad deploy",
    });
    // The record says who aborted, so the abort is known however many events came after it.
    const abortedLongAgo = rolledBack({
      rolledBack: { at: "2026-11-25T08:59:03.000Z", reason: "bad deploy", by: "alice" },
      events: [event(40, "rollback", "controller", "an earlier attempt's rollback")],
    });
    expect(judge(abortedLongAgo, FIRST, 4, PROMOTED)).toMatchObject({
      outcome: "aborted",
      reason: "by alice: bad deploy",
    });
    const paused = snap({ state: "paused", plan: plan(1, { paused: true, waitingFor: "paused by root: dashboards" }) });
    expect(judge(paused, FIRST, 4, PROMOTED)).toMatchObject({
      outcome: "paused",
      reason: "paused by root: dashboards",
    });
    expect([0, 10, 11, 12, 13, 14, 3]).toEqual(
      (["promoted", "rolled-back", "aborted", "paused", "timeout", "superseded", "unreachable"] as const).map(
        (o) => WAIT_EXIT[o],
      ),
    );
  });

  it("--until percent:N is reached at N or above (even paused there); a promotion satisfies it too", () => {
    const at = (percent: number, index: number) => snap({ percent, plan: plan(index) });
    const half = { kind: "percent", percent: 50 } as const;
    expect(judge(at(10, 0), FIRST, 4, half).done).toBe(false);
    expect(judge(at(50, 1), FIRST, 4, half)).toMatchObject({ outcome: "reached" });
    expect(
      judge(snap({ state: "paused", percent: 50, plan: plan(1, { paused: true }) }), FIRST, 4, half),
    ).toMatchObject({
      outcome: "reached",
    });
    expect(judge(promoted(), FIRST, 4, half)).toMatchObject({ outcome: "promoted" });
  });

  it("--until complete: a plan that completes without promoting (autoPromote off) ends it; promoted does too", () => {
    const done = snap({
      percent: 100,
      plan: plan(2, { completed: true, waitingFor: "plan complete at 100 %: promote to make the canary the stable" }),
    });
    expect(judge(done, FIRST, 4, { kind: "complete" })).toMatchObject({ outcome: "complete" });
    expect(judge(done, FIRST, 4, PROMOTED)).toMatchObject({ done: false, waiting: expect.stringContaining("promote") });
    expect(judge(promoted(), FIRST, 4, { kind: "complete" })).toMatchObject({ outcome: "promoted" });
  });

  it("a stale start: the previous attempt's promotion or rollback is not this attempt's", () => {
    const previous = { attempt: { number: 3, startedAt: "2026-11-25T08:50:00.000Z" }, release: "v1.9.0" };
    expect(judge(rolledBack(previous), { attempt: 4 }, null, PROMOTED)).toEqual({
      done: false,
      attempt: null,
      waiting: "attempt 4 not started yet (the controller shows attempt 3)",
    });
    expect(judge(promoted(previous), { release: "v2.0.0" }, null, PROMOTED)).toMatchObject({
      done: false,
      waiting: "release v2.0.0 not started yet (the controller shows attempt 3, release v1.9.0)",
    });
    expect(judge(snap(), { release: "v2.0.0" }, null, PROMOTED)).toMatchObject({ done: false, attempt: 4 });
  });

  it("a newer attempt replaces the one waited on (another write came first)", () => {
    const next = snap({ attempt: { number: 5, startedAt: "2026-11-25T09:00:00.000Z" }, release: "v2.0.1" });
    expect(judge(next, FIRST, 4, PROMOTED)).toMatchObject({
      outcome: "superseded",
      reason: "attempt 4 was replaced by attempt 5 (release v2.0.1): another write came first",
    });
    expect(judge(next, { attempt: 4 }, null, PROMOTED)).toMatchObject({ outcome: "superseded" });
  });

  it("backoff doubles from the interval up to 30 s", () => {
    expect([1, 2, 3, 4, 5, 6].map((f) => backoffMs(f, 2000))).toEqual([2000, 4000, 8000, 16000, 30000, 30000]);
  });
});

/** A clock that advances only when the loop sleeps; `sleeps` keeps every pause asked for. */
function fakeClock(): Clock & { sleeps: number[] } {
  let t = Date.parse("2026-11-25T09:00:00.000Z");
  const sleeps: number[] = [];
  return { sleeps, now: () => t, sleep: async (ms) => void (sleeps.push(ms), (t += ms)) };
}

/** An API answering `answers` in turn (an Error is thrown), repeating the last. */
function fakeApi(answers: (StatusSnapshot | Error)[]) {
  let i = 0;
  return {
    calls: () => i,
    async status() {
      const a = answers[Math.min(i++, answers.length - 1)];
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

const OPTIONS: WaitOptions = { target: FIRST, until: PROMOTED, timeoutMs: 600_000, intervalMs: 2000, json: false };
const down = () => new CliError("cannot reach the Worker at http://127.0.0.1:8787 (ECONNREFUSED)", EXIT.UNREACHABLE);

describe("the loop", () => {
  it("one line per change, not per poll; the outcome last", async () => {
    const { x, out } = captureIo();
    const step2 = snap({ percent: 50, plan: plan(1) });
    const api = fakeApi([snap(), snap(), snap({ plan: plan(0, { heldSeconds: 12 }) }), step2, step2, promoted()]);
    expect(await runWait(api, OPTIONS, x, fakeClock())).toBe(0);
    expect(out).toEqual([
      "09:00:00  attempt 4 · release v2.0.0 · running · green 10 % · step 1/3 (10 %) · healthy — held 6 of 20 s at 10 %",
      "09:00:06  attempt 4 · release v2.0.0 · running · green 50 % · step 2/3 (50 %) · healthy — held 6 of 20 s at 50 %",
      "09:00:10  PROMOTED: green is the stable now — attempt 4, after 10 s, exit 0",
    ]);
  });

  it("--json: one object per line, the outcome last", async () => {
    const { x, out } = captureIo();
    expect(await runWait(fakeApi([snap(), rolledBack()]), { ...OPTIONS, json: true }, x, fakeClock())).toBe(10);
    const lines = out.map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ event: "progress", attempt: 4, state: "running", percent: 10, healthy: true });
    expect(lines[0].step).toEqual({ number: 1, of: 3, percent: 10 });
    expect(lines.at(-1)).toEqual({
      event: "outcome",
      at: "2026-11-25T09:00:02.000Z",
      outcome: "rolled-back",
      exitCode: 10,
      attempt: 4,
      reason: "canary 7.0 % errors (8/115) > maxErrorRate 5.0 %",
      elapsedSeconds: 2,
    });
  });

  it("survives a Worker briefly unreachable: says so once, backs off, says when it answers again", async () => {
    const { x, out } = captureIo();
    const clock = fakeClock();
    const gateway = new ApiRefusal("502: bad gateway", 502, null);
    const api = fakeApi([snap(), down(), down(), gateway, snap(), promoted()]);
    expect(await runWait(api, OPTIONS, x, clock)).toBe(0);
    expect(clock.sleeps).toEqual([2000, 2000, 4000, 8000, 2000]);
    expect(out.filter((l) => l.includes("does not answer"))).toHaveLength(1);
    expect(out).toContain("09:00:16  the Worker answers again after 3 failed calls");
    expect(out.filter((l) => l.includes("attempt 4 · release"))).toHaveLength(1);
  });

  it(`gives up after ${MAX_FAILURES} failed calls in a row: exit 3`, async () => {
    const { x, out } = captureIo();
    const api = fakeApi([snap(), down()]);
    expect(await runWait(api, OPTIONS, x, fakeClock())).toBe(3);
    expect(api.calls()).toBe(1 + MAX_FAILURES);
    expect(out.at(-1)).toContain(`UNREACHABLE: ${MAX_FAILURES} status calls in a row failed`);
  });

  it("the API's own refusals are not retried (a wrong token, admin disabled)", async () => {
    const { x } = captureIo();
    const refused = new ApiRefusal("401: unauthorized", 401, { error: "unauthorized" });
    await expect(runWait(fakeApi([refused]), OPTIONS, x, fakeClock())).rejects.toBe(refused);
    const disabled = new ApiRefusal("503: admin disabled", 503, { error: "admin disabled" });
    await expect(runWait(fakeApi([disabled]), OPTIONS, x, fakeClock())).rejects.toBe(disabled);
  });

  it("the timeout: exit 13 with what it was waiting for; never sleeps past it", async () => {
    const { x, out } = captureIo();
    const clock = fakeClock();
    expect(await runWait(fakeApi([snap()]), { ...OPTIONS, timeoutMs: 5000 }, x, clock)).toBe(13);
    expect(clock.sleeps).toEqual([2000, 2000, 1000]);
    expect(out.at(-1)).toBe(
      "09:00:05  TIMEOUT: no outcome within 5 s waiting for promoted; last: held 6 of 20 s at 10 % — attempt 4, after 5 s, exit 13",
    );
  });

  it("a stale start with --release: waits for the release, then judges only its attempt", async () => {
    const { x, out } = captureIo();
    const previous = promoted({ attempt: { number: 3, startedAt: "2026-11-25T08:50:00.000Z" }, release: "v1.9.0" });
    const api = fakeApi([previous, previous, snap(), promoted()]);
    expect(await runWait(api, { ...OPTIONS, target: { release: "v2.0.0" } }, x, fakeClock())).toBe(0);
    expect(out[0]).toBe("09:00:00  release v2.0.0 not started yet (the controller shows attempt 3, release v1.9.0)");
    expect(out).toHaveLength(3);
  });
});

describe("arguments", () => {
  it("errors name the flag, the value and the fix (exit 2)", async () => {
    const run = async (...args: string[]) => {
      const { x, err } = captureIo({ EDGESHIFT_TOKEN: "t" });
      return { code: await main(["wait", ...args], x), err: err.join("\n") };
    };
    expect(await run("--until", "percentage:50")).toEqual({
      code: 2,
      err: 'edgeshift wait: --until: must be promoted, complete or percent:<N>, e.g. --until percent:50 (got "percentage:50")',
    });
    expect((await run("--until", "percent:150")).err).toContain("at most 100");
    expect((await run("--timeout", "soon")).err).toContain("--timeout: must be a duration such as 30m, 8h or 7d");
    expect((await run("--attempt", "x")).err).toContain("--attempt: must be the controller's attempt number");
    expect((await run("--attempt", "3", "--release", "v2")).err).toContain("give one");
  });
});
