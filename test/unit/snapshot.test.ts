// The StatusSnapshot the admin API, the CLI and the status page show, built from plain inputs.
import { describe, expect, it } from "vitest";
import { buildSnapshot, type SnapshotInput } from "../../src/controller/snapshot";
import { initialState, NO_REPORTS, type ControllerState } from "../../src/controller/state";
import { judgeHealth } from "../../src/health/judge";
import { emptyVector, OFFSET, WIDTH } from "../../src/health/window";
import { rolloutSchema } from "../../src/model/rollout";
import type { PlanStatus } from "../../src/model/status";

const NOW = Date.UTC(2026, 0, 1, 12);
const doc = (x: object) => rolloutSchema.parse(x);

function input(state: Partial<ControllerState>, extra: Partial<SnapshotInput> = {}): SnapshotInput {
  const full = { ...initialState(), ...state };
  return {
    now: NOW,
    state: full,
    health: judgeHealth(emptyVector(), full.doc.canary, full.doc.rollback, 60),
    series: [],
    events: [],
    reports: NO_REPORTS,
    plan: null,
    ...extra,
  };
}

const plan = { paused: false } as PlanStatus;

describe("state", () => {
  it.each([
    ["idle", {}, null],
    ["running", { doc: doc({ percent: 5 }) }, null],
    ["running", { doc: doc({ shadowPercent: 10 }) }, null],
    ["running", { doc: doc({ rules: [{ slot: "canary", header: { name: "x-beta", values: ["1"] } }] }) }, null],
    ["paused", { doc: doc({ percent: 5 }) }, { ...plan, paused: true }],
    ["rolled-back", { doc: doc({ percent: 0 }), rolledBack: { at: "t", reason: "r" } }, { ...plan, paused: true }],
    ["promoted", { doc: doc({ percent: 0, canary: "blue" }), promotedAt: "t" }, null],
    ["running", { doc: doc({ percent: 10 }), promotedAt: "t" }, null],
  ] as const)("%s for %j", (want, state, planStatus) => {
    expect(
      buildSnapshot(input(state as Partial<ControllerState>, { plan: planStatus as PlanStatus | null })).state,
    ).toBe(want);
  });
});

describe("the snapshot", () => {
  it("names roles, percent, release and where the document came from", () => {
    const s = buildSnapshot(
      input({ doc: doc({ percent: 20, canary: "blue", release: "v2" }), fingerprint: "fp", source: "controller" }),
    );
    expect(s).toMatchObject({
      now: "2026-01-01T12:00:00.000Z",
      roles: { canary: "blue", stable: "green" },
      percent: 20,
      release: "v2",
      config: { fingerprint: "fp", source: "controller" },
      configError: null,
      rolledBack: null,
      plan: null,
    });
  });

  it("shows the window's figures and verdicts as judged, and a config error without its fingerprint", () => {
    const counts = emptyVector();
    counts[OFFSET.green] = 40; // requests
    counts[OFFSET.green + 1] = 2; // errors5xx
    counts[OFFSET.blue] = 60;
    const state = {
      ...initialState(),
      configError: {
        at: "t",
        fingerprint: "bad",
        summary: "precent: unknown",
        problems: [{ path: "precent", message: "x" }],
      },
    };
    const s = buildSnapshot({ ...input(state), health: judgeHealth(counts, "green", state.doc.rollback, 60) });
    expect(s.window).toMatchObject({ seconds: 60, canary: { requests: 40, errors: 2, errorRate: 0.05 }, shadow: null });
    expect(s.window.stable.requests).toBe(60);
    expect(s.health.verdicts[0]).toMatchObject({ rule: "min-requests", ok: true });
    expect(s.configError).toEqual({
      at: "t",
      summary: "precent: unknown",
      problems: [{ path: "precent", message: "x" }],
    });
  });

  it("turns window rows into chart points per slot (requests, error rate, p95)", () => {
    const v = new Array<number>(WIDTH).fill(0);
    v[OFFSET.green] = 10;
    v[OFFSET.green + 2] = 1; // a network error counts as an error
    v[OFFSET.green + 5 + 3] = 10; // all ten in latency bucket 3 (≤ 20 ms)
    const s = buildSnapshot(input({}, { series: [{ t: 1000, v }] }));
    expect(s.series).toEqual([
      { t: 1000, green: { requests: 10, errorRate: 0.1, p95: 20 }, blue: { requests: 0, errorRate: 0, p95: null } },
    ]);
  });
});
