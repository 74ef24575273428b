import { describe, expect, it } from "vitest";
import { bar, figuresSummary, renderHistory, renderStatus, sparkline } from "../../cli/render";
import type { ExperimentStatus, FlagStatus, GoalResult } from "../../src/model/status";
import { killedFlag, snapshot } from "./status-fixture";

describe("status view", () => {
  it("shows split, roles, release, plan step, per-slot rates and the last events", () => {
    const text = renderStatus(snapshot(), { color: false, width: 100 });
    expect(text).toContain("RUNNING");
    expect(text).toContain("release v2");
    expect(text).toContain("green (canary) 25 %");
    expect(text).toContain("blue (stable) 75 %");
    expect(text).toContain("step 2/3 (25 %)");
    expect(text).toMatch(/green canary\s+600\s+10\.0\s+6\s+1\.00 %/);
    expect(text).toMatch(/blue stable\s+1800\s+30\.0\s+2\s+0\.11 %/);
    expect(text).toContain("step 1/3 (5 %) held 60 s: on to 25 %");
    expect(text).toContain("observed over 60s: 25.0 % of 2400 requests on the canary · sticky by cookie");
    expect(text).not.toContain("\x1b[");
  });

  it("one line on the experiments, what each has shown, and where to read them", () => {
    const goal = (g: string, state: GoalResult["state"]) => ({ goal: g, state }) as GoalResult;
    const experiment = (over: object) =>
      ({
        subject: "rollout",
        key: null,
        result: { goals: [goal("checkout", "better"), goal("signup", "inconclusive")] },
        ...over,
      }) as ExperimentStatus;
    const text = renderStatus(
      snapshot({
        experiments: [
          experiment({ guardrails: [{ goal: "signup", maxDrop: 0.01, state: "pending", detail: "…" }] }),
          experiment({ subject: "flag", key: "theme", result: { goals: [goal("checkout", "collecting")] } }),
        ],
      }),
      { color: false, width: 100 },
    );
    expect(text).toContain(
      "experiments rollout: checkout better, guardrail signup pending · flag theme: nothing shown yet (`edgeshift experiment`)",
    );
    expect(renderStatus(snapshot(), { color: false, width: 100 })).not.toContain("experiments");
  });

  it("the plan's sample-ratio check: its progress, and a mismatch marked as a failure", () => {
    const plan = snapshot().plan!;
    const srm = (x: object) => ({
      newVisitors: { canary: 30, stable: 90 },
      observedShare: 0.25,
      expectedShare: 0.25,
      judged: false,
      mismatch: false,
      detail: "120 of 200 new visitors: sample ratio not judged yet",
      ...x,
    });
    expect(renderStatus(snapshot({ plan: { ...plan, sampleRatio: srm({}) } }), { color: false, width: 100 })).toContain(
      "sample ratio: 120 of 200 new visitors: sample ratio not judged yet",
    );
    const bad = renderStatus(
      snapshot({
        plan: {
          ...plan,
          sampleRatio: srm({
            judged: true,
            mismatch: true,
            detail: "observed canary share 60.0 % of 400 new visitors vs 25 % expected",
          }),
        },
      }),
      { color: false, width: 100 },
    );
    expect(bad).toContain("✘ sample ratio: observed canary share 60.0 % of 400 new visitors vs 25 % expected");
    expect(renderStatus(snapshot(), { color: false, width: 100 })).not.toContain("sample ratio");
  });

  it("the plan's request count is the step's, said apart from the health window's", () => {
    const text = renderStatus(snapshot(), { color: false, width: 120 });
    expect(text).toContain("held 30/60s · 80/50 requests in this step");
  });

  it("a step that waits for approval is marked in the plan line as `start --steps` writes it", () => {
    const steps = [
      { percent: 5, seconds: 60 },
      { percent: 25, seconds: 60, approve: { timeoutSeconds: null, onTimeout: "wait" as const } },
      { percent: 100, seconds: 60 },
    ];
    const text = renderStatus(snapshot({ plan: { ...snapshot().plan!, steps } }), { color: false, width: 120 });
    expect(text).toMatch(/5 → \[25:approve\] → 100/);
  });

  it("skipped shadow mirrors are called out (the shadow sample is smaller than shadowPercent)", () => {
    const text = renderStatus(
      snapshot({ reports: { received: 10, droppedByIsolates: 0, mirrorsSkipped: 12, diverted: 0, lastAt: null } }),
      { color: false, width: 100 },
    );
    expect(text).toContain("12 shadow mirrors skipped");
    expect(renderStatus(snapshot(), { color: false, width: 100 })).not.toContain("mirrors skipped");
  });

  it("canary-bound requests diverted to stable (no fresh verdict in time) are called out", () => {
    const text = renderStatus(
      snapshot({ reports: { received: 10, droppedByIsolates: 0, mirrorsSkipped: 0, diverted: 7, lastAt: null } }),
      { color: false, width: 100 },
    );
    expect(text).toContain("7 canary-bound requests diverted to stable");
    expect(renderStatus(snapshot(), { color: false, width: 100 })).not.toContain("diverted");
  });

  it("a controller that cannot save, or that repaired unreadable stored state, says so", () => {
    const text = renderStatus(
      snapshot({
        saveError: { at: "2026-11-25T08:00:00.000Z", message: "SQLITE_FULL" },
        stateRepaired: { at: "2026-11-25T07:00:00.000Z", fields: ["attempt", "rollback"] },
      }),
      { color: false, width: 100 },
    );
    expect(text).toContain("CONTROLLER CANNOT SAVE ITS STATE since 2026-11-25T08:00:00.000Z: SQLITE_FULL");
    expect(text).toContain(
      "STORED CONTROLLER STATE WAS PARTLY UNREADABLE at 2026-11-25T07:00:00.000Z: fell back for attempt, rollback",
    );
    const plain = renderStatus(snapshot(), { color: false, width: 100 });
    expect(plain).not.toContain("UNREADABLE");
    expect(plain).not.toContain("CANNOT SAVE");
  });

  it("each notification destination in a line; a failure, a retry and a missing secret stand out", () => {
    const dest = {
      name: "releases",
      type: "slack",
      events: ["rollback"],
      problem: null,
      sent: 4,
      failed: 0,
      waiting: 0,
      lastSent: null,
      lastFailure: null,
      retrying: null,
    };
    const text = renderStatus(
      snapshot({
        notifications: {
          problem: null,
          destinations: [
            dest,
            {
              ...dest,
              name: "oncall",
              type: "pagerduty",
              sent: 1,
              failed: 1,
              waiting: 1,
              lastFailure: {
                at: "2026-11-25T08:00:00.000Z",
                eventId: 9,
                kind: "rollback",
                tries: 6,
                error: "answered 500",
              },
              retrying: {
                eventId: 10,
                kind: "promote",
                tries: 2,
                nextAt: "2026-11-25T08:01:00.000Z",
                error: "answered 503",
              },
              retryingChange: {
                eventId: 8,
                kind: "attempt",
                tries: 1,
                nextAt: "2026-11-25T08:00:30.000Z",
                error: "answered 500",
                lane: "change",
              },
              openIncidents: ["edgeshift/rollback/attempt-3"],
            },
            { ...dest, name: "teams", type: "teams", problem: "the secret T is not set" },
          ],
        },
      }),
      { color: false, width: 120 },
    );
    expect(text).toContain("notify    releases (slack): 4 sent\n");
    expect(text).toContain("notify    oncall (pagerduty): 1 sent, 1 failed, 1 waiting\n");
    // PagerDuty's page queue first, then its change events'.
    expect(text).toContain(
      "retrying event 10 (promote), try 3 at 2026-11-25T08:01:00.000Z: answered 503\n" +
        "          retrying change event for event 8 (attempt), try 2 at 2026-11-25T08:00:30.000Z: answered 500\n",
    );
    expect(text).toContain("last failure 2026-11-25T08:00:00.000Z: event 9 (rollback) answered 500");
    expect(text).toContain("open incidents: edgeshift/rollback/attempt-3");
    expect(text).toContain("cannot send: the secret T is not set");
    expect(renderStatus(snapshot(), { color: false, width: 100 })).not.toContain("notify ");
  });

  it("a rollback and an invalid document are impossible to miss", () => {
    const text = renderStatus(
      snapshot({
        state: "rolled-back",
        percent: 0,
        rolledBack: {
          at: "2026-11-25T08:00:00.000Z",
          reason: "canary 50.0 % errors (40/80) > maxErrorRate 5.0 %",
          figures: {
            windowSeconds: 60,
            canary: { requests: 85, errors: 6, errorRate: 6 / 85 },
            stable: { requests: 265, errors: 0, errorRate: 0 },
            tripped: ["error-rate"],
          },
        },
        configError: {
          at: "2026-11-25T08:00:00.000Z",
          summary: "x",
          problems: [{ path: "percent", message: "percent must be at most 100 (got 150)" }],
        },
      }),
      { color: false, width: 100 },
    );
    expect(text).toContain(
      "ROLLED BACK at 2026-11-25T08:00:00.000Z: canary 50.0 % errors (40/80) > maxErrorRate 5.0 %",
    );
    expect(text).toContain(
      "canary 6/85 errors (7.06 %) · stable 0/265 errors (0.00 %) · over 60s · tripped: error-rate",
    );
    expect(text).toContain("CONFIG ERROR");
    expect(text).toContain("percent: percent must be at most 100 (got 150)");
  });

  it("an operator's abort says who", () => {
    const text = renderStatus(
      snapshot({
        state: "rolled-back",
        rolledBack: { at: "2026-11-25T08:00:00.000Z", reason: "bad deploy", by: "alice" },
      }),
      { color: false, width: 100 },
    );
    expect(text).toContain("ABORTED by alice at 2026-11-25T08:00:00.000Z: bad deploy");
    expect(text).not.toContain("ROLLED BACK");
  });
});

describe("flags in the status view", () => {
  // As test/worker/flag-guard.test.ts sees them: a guarded flag its guard killed, and a plain one.
  const killed = killedFlag();
  const theme: FlagStatus = {
    key: "theme",
    on: true,
    type: "string",
    percent: 20,
    exposure: { light: 80, dark: 10, contrast: 10 },
    rules: 2,
    origin: true,
    browser: true,
    killed: false,
    guard: null,
  };
  const flags = (list: FlagStatus[], error: string | null = null) => ({ fingerprint: "abc", flags: list, error });

  it("a row per flag, and under a killed guarded flag its reason and both arms' figures", () => {
    const text = renderStatus(snapshot({ flags: flags([killed, theme]) }), { color: false, width: 100 });
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.startsWith("flags "));
    expect(lines[at]).toMatch(/^flags\s+state\s+type\s+exposure\s+rules\s+sent to$/);
    expect(lines.slice(at + 1, at + 5)).toEqual([
      "  new-checkout  KILLED by its guard  boolean  off 100 %                               0      origin",
      "    ✘ killed by its guard: treatment 40.0 % errors (16/40 weighted by visitor) > maxErrorRate 5.0 % · over 60s, compared since 2026-11-25 07:58:00",
      "    control         42 requests     0 errors   0.00 %  p95   75ms      9 visitors",
      "    treatment       40 requests    16 errors  40.00 %  p95   75ms      8 visitors",
    ]);
    expect(lines[at + 5]).toBe(
      "  theme         on                   string   light 80 % · dark 10 % · contrast 10 %  2      origin, browser",
    );
    // The section sits before the events.
    expect(lines.findIndex((l) => l === "events")).toBeGreaterThan(at + 5);
  });

  it("a kill the controller recorded is said with its own time and reason, not the live window's", () => {
    const withKill: FlagStatus = {
      ...killed,
      kill: {
        at: "2026-11-25T07:59:10.000Z",
        reason: "treatment 13.2 % errors (17/129 weighted by visitor) > maxErrorRate 5.0 %",
      },
    };
    const text = renderStatus(snapshot({ flags: flags([withKill]) }), { color: false, width: 100 });
    expect(text).toContain(
      "✘ killed by its guard at 2026-11-25T07:59:10.000Z: treatment 13.2 % errors (17/129 weighted by visitor) > maxErrorRate 5.0 %",
    );
    expect(text).not.toContain("16/40 weighted by visitor) > maxErrorRate");
  });

  it("colours the kill and the failing arm; a healthy or observing guard says so", () => {
    const text = renderStatus(snapshot({ flags: flags([killed]) }), { color: true, width: 100 });
    expect(text).toContain("\x1b[31;1mKILLED by its guard\x1b[0m");
    expect(text).toContain("\x1b[31;1m  40.00 %\x1b[0m");
    const guard = killed.guard!;
    const healthy = {
      ...killed,
      on: true,
      killed: false,
      guard: { ...guard, healthy: true, reason: null, tripped: false },
    };
    const observed = { ...killed, on: true, killed: false, guard: { ...guard, mode: "observe" as const } };
    const plain = (f: FlagStatus) => renderStatus(snapshot({ flags: flags([f]) }), { color: false, width: 100 });
    expect(plain(healthy)).toContain("    ✔ guard healthy · over 60s");
    expect(plain(observed)).toContain("    ✘ would be switched off (guard observing): treatment 40.0 % errors");
  });

  it("nothing without flags; an invalid flags document is named with the last good flags kept", () => {
    for (const none of [undefined, flags([])])
      expect(renderStatus(snapshot({ flags: none }), { color: false, width: 100 })).not.toMatch(/^flags/m);
    const text = renderStatus(snapshot({ flags: flags([theme], "flags.theme.on: must be true or false") }), {
      color: false,
      width: 100,
    });
    expect(text).toContain(
      "flags document in KV is invalid, the last good one is shown: flags.theme.on: must be true or false",
    );
    expect(text).toMatch(/^ {2}theme {2}/m);
  });
});

describe("charts", () => {
  it("bar fills its share", () => {
    expect(bar(0.25, 8)).toBe("▕██░░░░░░▏");
    expect(bar(2, 4)).toBe("▕████▏");
  });
  it("sparkline: no data is blank (not 'no errors'), scaled to the top value", () => {
    expect(sparkline([0, null, 0.5, 1], 1)).toBe("▁ ▅█");
    // A calm 0.2 % stays near the floor instead of filling the chart.
    expect(sparkline([0.002, 0.002])).toBe("▁▁");
  });
  it("a verdict's figures in one line, the arms named as the caller calls them (a flag's treatment is its canary)", () => {
    const f = {
      windowSeconds: 60,
      canary: { requests: 40, errors: 10, errorRate: 0.25 },
      stable: { requests: 50, errors: 0, errorRate: 0 },
      tripped: ["error-rate"],
    };
    expect(figuresSummary(f)).toBe(
      "canary 10/40 errors (25.00 %) · stable 0/50 errors (0.00 %) · over 60s · tripped: error-rate",
    );
    expect(figuresSummary(f, { canary: "with it", stable: "without" })).toBe(
      "with it 10/40 errors (25.00 %) · without 0/50 errors (0.00 %) · over 60s · tripped: error-rate",
    );
  });
  it("history lists events, their data only when asked (--data)", () => {
    const events = [
      {
        id: 1,
        at: "2026-11-25T08:00:00.000Z",
        kind: "rollback" as const,
        actor: "controller",
        reason: "error rate",
        data: { requests: 300 },
      },
    ];
    const t = renderHistory(events, { color: false, width: 80 });
    expect(t).toContain("rollback");
    expect(t).toContain("error rate");
    expect(t).not.toContain("requests");
    expect(renderHistory(events, { color: false, width: 80 }, true)).toContain('{"requests":300}');
    expect(renderHistory([], { color: false, width: 80 })).toBe("no events yet");
  });
});
