// Builds the StatusSnapshot the admin API, the CLI and the status page show. Pure.
import { otherSlot } from "../model/rollout";
import type { Judgement } from "../health/judge";
import { errorsOf, shadowStats, slotCounters, slotStats, type WindowRow } from "../health/window";
import { percentile } from "../health/histogram";
import type { ControllerState, ReportCounters } from "./state";
import type { PlanStatus, RolloutEvent, RolloutState, SeriesPoint, StatusSnapshot } from "../model/status";

export interface SnapshotInput {
  now: number;
  state: ControllerState;
  health: Judgement;
  series: WindowRow[];
  events: RolloutEvent[];
  reports: ReportCounters;
  plan: PlanStatus | null;
  /** The controller's last failed save of its state, null when the last save succeeded. */
  saveError?: { at: string; message: string } | null;
  /** Document fields found unreadable at start-up and replaced by fallbacks. */
  stateRepaired?: { at: string; fields: string[] } | null;
  /** The feature flags and their guards (./flag-guard.ts); absent when not read. */
  flags?: StatusSnapshot["flags"];
  /** The experiments over the goals; absent when no goals are declared. */
  experiments?: StatusSnapshot["experiments"];
  /** Destinations and their deliveries; absent when none is configured. */
  notifications?: StatusSnapshot["notifications"];
}

export function buildSnapshot(input: SnapshotInput): StatusSnapshot {
  const { state, health } = input;
  const doc = state.doc;
  return {
    now: new Date(input.now).toISOString(),
    state: stateOf(state, input.plan),
    attempt: { number: state.attempt, startedAt: state.attemptStartedAt },
    config: { doc, fingerprint: state.fingerprint, source: state.source },
    configError: state.configError
      ? { at: state.configError.at, summary: state.configError.summary, problems: state.configError.problems }
      : null,
    roles: { canary: doc.canary, stable: otherSlot(doc.canary) },
    percent: doc.percent,
    release: doc.release ?? null,
    plan: input.plan,
    window: {
      seconds: health.input.windowSeconds,
      canary: slotStats(health.input.canary),
      stable: slotStats(health.input.stable),
      shadow: health.input.shadow ? shadowStats(health.input.shadow) : null,
    },
    health: { healthy: health.healthy, verdicts: health.verdicts },
    rolledBack: state.rolledBack,
    series: input.series.map(point),
    events: input.events,
    reports: input.reports,
    saveError: input.saveError ?? null,
    ...(input.stateRepaired ? { stateRepaired: input.stateRepaired } : {}),
    ...(input.flags ? { flags: input.flags } : {}),
    ...(input.experiments ? { experiments: input.experiments } : {}),
    ...(input.notifications ? { notifications: input.notifications } : {}),
  };
}

function stateOf(state: ControllerState, plan: PlanStatus | null): RolloutState {
  if (state.rolledBack) return "rolled-back";
  if (plan?.paused) return "paused";
  const doc = state.doc;
  // Until the operator's next write (a new attempt), the switch is what this attempt ended in.
  if (state.promotedAt && doc.percent === 0) return "promoted";
  return doc.percent > 0 || doc.shadowPercent > 0 || doc.rules.length > 0 ? "running" : "idle";
}

function point(row: WindowRow): SeriesPoint {
  const one = (slot: "blue" | "green") => {
    const counters = slotCounters(row.v, slot);
    const errors = errorsOf(counters);
    return {
      requests: counters.requests,
      errorRate: counters.requests ? errors / counters.requests : 0,
      p95: percentile(counters.latency, 95),
    };
  };
  return { t: row.t, blue: one("blue"), green: one("green") };
}
