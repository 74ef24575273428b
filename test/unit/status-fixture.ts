// A status snapshot as the controller answers it (release v2 at step 2/3, 25 %, healthy), for the
// tests of what is made from one: the CLI's view (cli-render) and the Prometheus exposition (metrics).
import { ALL_STABLE } from "../../src/model/rollout";
import type { FlagStatus, SlotStats, StatusSnapshot } from "../../src/model/status";

export const stats = (requests: number, errors: number): SlotStats => ({
  requests,
  errors,
  errorRate: requests ? errors / requests : 0,
  errorsByKind: { status5xx: errors, network: 0, timeout: 0 },
  failovers: errors,
  p50: 20,
  p95: 75,
  p99: 150,
  latencyBuckets: [],
});

export function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    now: "2026-11-25T08:00:00.000Z",
    state: "running",
    attempt: { number: 3, startedAt: "2026-11-25T07:58:30.000Z" },
    config: { doc: { ...ALL_STABLE, percent: 25, release: "v2" }, fingerprint: "f", source: "kv" },
    configError: null,
    saveError: null,
    roles: { canary: "green", stable: "blue" },
    percent: 25,
    release: "v2",
    plan: {
      steps: [
        { percent: 5, seconds: 60 },
        { percent: 25, seconds: 60 },
        { percent: 100, seconds: 60 },
      ],
      index: 1,
      stepStartedAt: "2026-11-25T07:59:30.000Z",
      heldSeconds: 30,
      requiredSeconds: 60,
      requestsInStep: 80,
      minRequests: 50,
      paused: false,
      completed: false,
      waitingFor: "held 30 of 60 s",
      sampleRatio: null,
    },
    window: { seconds: 60, canary: stats(600, 6), stable: stats(1800, 2), shadow: null },
    health: {
      healthy: true,
      verdicts: [{ rule: "error-rate", ok: true, detail: "canary 1.0 % errors (6/600) ≤ maxErrorRate 5.0 %" }],
    },
    rolledBack: null,
    series: [
      { t: 1, blue: { requests: 30, errorRate: 0, p95: 40 }, green: { requests: 10, errorRate: 0.01, p95: 50 } },
      { t: 2, blue: { requests: 30, errorRate: 0, p95: 40 }, green: { requests: 0, errorRate: 0, p95: null } },
    ],
    events: [
      {
        id: 2,
        at: "2026-11-25T07:59:30.000Z",
        kind: "step",
        actor: "controller",
        reason: "step 1/3 (5 %) held 60 s: on to 25 %",
      },
    ],
    reports: { received: 10, droppedByIsolates: 0, mirrorsSkipped: 0, diverted: 0, lastAt: "2026-11-25T08:00:00.000Z" },
    ...over,
  };
}

/** A guarded flag its guard killed, as test/worker/flag-guard.test.ts sees one (the live window's figures). */
export function killedFlag(over: Partial<FlagStatus> = {}): FlagStatus {
  return {
    key: "new-checkout",
    on: false,
    type: "boolean",
    percent: 50,
    exposure: { off: 100 },
    rules: 0,
    origin: true,
    browser: false,
    killed: true,
    guard: {
      mode: "enforce",
      healthy: false,
      reason: "treatment 40.0 % errors (16/40 weighted by visitor) > maxErrorRate 5.0 %",
      tripped: true,
      since: "2026-11-25T07:58:00.000Z",
      windowSeconds: 60,
      control: { ...stats(42, 0), visitors: 9 },
      treatment: { ...stats(40, 16), visitors: 8 },
      verdicts: [{ rule: "error-rate", ok: false, detail: "treatment 40.0 % errors" }],
    },
    ...over,
  };
}
