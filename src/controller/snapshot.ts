// Builds the StatusSnapshot the admin API, the CLI and the status page show. Pure.
import { otherSlot } from "../model/rollout";
import type { Health, HealthInput } from "../health/rules";
import { shadowStats, slotCounters, slotStats, type WindowRow } from "../health/window";
import { percentile } from "../health/histogram";
import type { ControllerState, ReportCounters } from "./state";
import type { PlanStatus, RolloutEvent, RolloutState, SeriesPoint, StatusSnapshot } from "../model/status";

export interface SnapshotInput {
  now: number;
  s: ControllerState;
  health: Health & { input: HealthInput };
  series: WindowRow[];
  events: RolloutEvent[];
  reports: ReportCounters;
  plan: PlanStatus | null;
}

export function buildSnapshot(x: SnapshotInput): StatusSnapshot {
  const { s, health } = x;
  const doc = s.doc;
  return {
    now: new Date(x.now).toISOString(),
    state: stateOf(s, x.plan),
    config: { doc, fingerprint: s.fingerprint, source: s.source },
    configError: s.configError
      ? { at: s.configError.at, summary: s.configError.summary, problems: s.configError.problems }
      : null,
    roles: { canary: doc.canary, stable: otherSlot(doc.canary) },
    percent: doc.percent,
    release: doc.release ?? null,
    plan: x.plan,
    window: {
      seconds: health.input.windowSeconds,
      canary: slotStats(health.input.canary),
      stable: slotStats(health.input.stable),
      shadow: health.input.shadow ? shadowStats(health.input.shadow) : null,
    },
    health: { healthy: health.healthy, verdicts: health.verdicts },
    rolledBack: s.rolledBack,
    series: x.series.map(point),
    events: x.events,
    reports: x.reports,
  };
}

function stateOf(s: ControllerState, plan: PlanStatus | null): RolloutState {
  if (s.rolledBack) return "rolled-back";
  if (plan?.paused) return "paused";
  const d = s.doc;
  // Until the operator's next write (a new attempt), the switch is what this attempt ended in.
  if (s.promotedAt && d.percent === 0) return "promoted";
  return d.percent > 0 || d.shadowPercent > 0 || d.rules.length > 0 ? "running" : "idle";
}

function point(r: WindowRow): SeriesPoint {
  const one = (slot: "blue" | "green") => {
    const c = slotCounters(r.v, slot);
    const errors = c.errors5xx + c.errorsNetwork + c.errorsTimeout;
    return { requests: c.requests, errorRate: c.requests ? errors / c.requests : 0, p95: percentile(c.latency, 95) };
  };
  return { t: r.t, blue: one("blue"), green: one("green") };
}
