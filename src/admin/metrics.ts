// The controller's status snapshot in the Prometheus text exposition format 0.0.4, for
// GET /__edgeshift/api/metrics (./app.ts). Pure: a StatusSnapshot in, text out (docs/metrics.md
// lists every metric).
//
// Counter or gauge is decided by what the figure is, not by what looks conventional:
// | figure                                        | type      | why                                              |
// |-----------------------------------------------|-----------|--------------------------------------------------|
// | reports received/dropped, mirrors skipped,    | counter   | only ever added to, and kept across restarts     |
// | requests diverted                             |           | (the controller's stored `reports`)              |
// | the health window's requests, errors,         | gauge     | a sliding window: they fall as old requests      |
// | failovers; experiment visitors, conversions   |           | leave it, or restart with an attempt or a step   |
// | the window's latency                          | histogram | the only type with `_bucket{le}`; its buckets    |
// |                                               |           | are over the window too (HELP says so): read it  |
// |                                               |           | with histogram_quantile() directly, not rate()   |
// The latency histogram has no `_sum`: the window keeps bucket counts only (src/health/window.ts),
// and a sum made up from bucket bounds would be a wrong number with a right-looking name.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
import { LATENCY_BOUNDS_MS } from "../model/protocol";
import type { Slot } from "../model/rollout";
import type { RolloutState, SlotStats, StatusSnapshot } from "../model/status";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const STATES: readonly RolloutState[] = ["idle", "running", "paused", "rolled-back", "promoted"];

type Labels = Record<string, string>;
interface Sample {
  /** Appended to the family's name: "_bucket", "_count" (histograms). */
  suffix?: string;
  labels: Labels;
  value: number;
}
interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
  samples: Sample[];
}

/** A label value with backslash, double quote and line feed escaped, as the format requires. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

function formatFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  for (const s of f.samples) {
    const pairs = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    const labels = pairs.length ? `{${pairs.join(",")}}` : "";
    lines.push(`${f.name}${s.suffix ?? ""}${labels} ${formatValue(s.value)}`);
  }
  return lines.join("\n");
}

const bit = (b: boolean) => (b ? 1 : 0);

/** The whole exposition: every family with at least one sample, a line feed at the end. */
export function formatMetrics(s: StatusSnapshot): string {
  const families: Family[] = [];
  const add = (name: string, type: Family["type"], help: string, samples: Sample[]) => {
    if (samples.length) families.push({ name: `edgeshift_${name}`, type, help, samples });
  };
  const one = (value: number, labels: Labels = {}): Sample[] => [{ labels, value }];
  const w = s.window;
  const slots: { slot: Slot; role: "canary" | "stable"; stats: SlotStats }[] = [
    { slot: s.roles.canary, role: "canary", stats: w.canary },
    { slot: s.roles.stable, role: "stable", stats: w.stable },
  ];
  const perSlot = (f: (x: SlotStats) => number) =>
    slots.map(({ slot, role, stats }) => ({ labels: { slot, role }, value: f(stats) }));

  add(
    "info",
    "gauge",
    "Always 1; the labels say which slot is canary and stable, the release and the document's fingerprint.",
    one(1, {
      canary: s.roles.canary,
      stable: s.roles.stable,
      release: s.release ?? "",
      fingerprint: s.config.fingerprint,
      source: s.config.source,
    }),
  );
  add("attempt", "gauge", "The controller's attempt number (+1 on every operator write).", one(s.attempt.number));
  add(
    "state",
    "gauge",
    "1 for the rollout's current state, 0 for the others.",
    STATES.map((state) => ({ labels: { state }, value: bit(s.state === state) })),
  );
  add("split_percent", "gauge", "The canary's share of traffic, 0-100.", one(s.percent));
  add("rolled_back", "gauge", "1 while the current attempt is rolled back, else 0.", one(bit(s.rolledBack !== null)));
  add("healthy", "gauge", "1 when every health rule passes on the current window, else 0.", one(bit(s.health.healthy)));
  add(
    "rule_ok",
    "gauge",
    "1 when the health rule passes on the current window, else 0.",
    // A rule named twice is one series (Prometheus rejects duplicates): ok only if every verdict is.
    [...new Set(s.health.verdicts.map((v) => v.rule))].map((rule) => ({
      labels: { rule },
      value: bit(s.health.verdicts.filter((v) => v.rule === rule).every((v) => v.ok)),
    })),
  );
  add(
    "config_error",
    "gauge",
    "1 while the document in KV is invalid (the last good one is in force).",
    one(bit(s.configError !== null)),
  );
  add("save_error", "gauge", "1 while the controller's last save of its state failed.", one(bit(s.saveError !== null)));

  add(
    "window_seconds",
    "gauge",
    "The span of the health window the window_ figures cover, in seconds.",
    one(w.seconds),
  );
  const over = "over the health window (a gauge: it falls as requests leave the window)";
  add(
    "window_requests",
    "gauge",
    `Requests answered by the slot ${over}.`,
    perSlot((x) => x.requests),
  );
  add(
    "window_errors",
    "gauge",
    `Failed requests by kind (5xx, network, timeout) ${over}.`,
    slots.flatMap(({ slot, role, stats }) =>
      (
        [
          ["5xx", stats.errorsByKind.status5xx],
          ["network", stats.errorsByKind.network],
          ["timeout", stats.errorsByKind.timeout],
        ] as const
      ).map(([kind, value]) => ({ labels: { slot, role, kind }, value })),
    ),
  );
  add(
    "window_failovers",
    "gauge",
    `Requests retried on the other slot ${over}.`,
    perSlot((x) => x.failovers),
  );
  add(
    "window_request_duration_seconds",
    "histogram",
    "Answer latency per slot over the health window (buckets fall as requests leave it: use histogram_quantile() without rate()). No _sum: the window keeps bucket counts only.",
    slots.flatMap(({ slot, role, stats }) => histogram({ slot, role }, stats.latencyBuckets)),
  );
  if (w.shadow) {
    const sh = w.shadow;
    add("shadow_window_mirrored", "gauge", `Requests mirrored to the shadow ${over}.`, one(sh.mirrored));
    add(
      "shadow_window_mismatches",
      "gauge",
      `Mirrored answers that differed from stable's ${over}.`,
      one(sh.mismatches),
    );
    add("shadow_window_not_compared", "gauge", `Mirrored answers not compared ${over}.`, one(sh.notCompared));
    add("shadow_window_errors", "gauge", `Mirrored requests that failed ${over}.`, one(sh.errors));
  }

  if (s.plan) {
    const p = s.plan;
    add("plan_step", "gauge", "The plan's current step, counted from 0.", one(p.index));
    add("plan_steps", "gauge", "How many steps the plan has.", one(p.steps.length));
    add(
      "plan_step_percent",
      "gauge",
      "The current step's canary percent, 0-100.",
      one(p.steps[p.index]?.percent ?? s.percent),
    );
    add(
      "plan_step_held_seconds",
      "gauge",
      "How long the current step has held healthy, in seconds.",
      one(p.heldSeconds),
    );
    add(
      "plan_step_required_seconds",
      "gauge",
      "How long the current step must hold, in seconds.",
      one(p.requiredSeconds),
    );
    add("plan_paused", "gauge", "1 while the plan is paused.", one(bit(p.paused)));
    add(
      "plan_completed",
      "gauge",
      "1 once the last step held and the plan will not promote by itself.",
      one(bit(p.completed)),
    );
  }

  const r = s.reports;
  add("reports_received_total", "counter", "Isolates' reports the controller counted.", one(r.received));
  add(
    "reports_dropped_total",
    "counter",
    "Report batches isolates gave up delivering and dropped.",
    one(r.droppedByIsolates),
  );
  add(
    "mirrors_skipped_total",
    "counter",
    "Shadow mirrors sampled but not sent (in-flight limit).",
    one(r.mirrorsSkipped),
  );
  add(
    "requests_diverted_total",
    "counter",
    "Canary-bound requests sent to stable for want of a fresh verdict.",
    one(r.diverted),
  );
  if (r.lastAt)
    add(
      "last_report_timestamp_seconds",
      "gauge",
      "When the last report arrived, Unix seconds.",
      one(Date.parse(r.lastAt) / 1000),
    );

  const flags = s.flags?.flags ?? [];
  add(
    "flag_on",
    "gauge",
    "1 when the flag is on in the document.",
    flags.map((f) => ({ labels: { flag: f.key }, value: bit(f.on) })),
  );
  add(
    "flag_killed",
    "gauge",
    "1 when the flag's guard switched it off.",
    flags.map((f) => ({ labels: { flag: f.key }, value: bit(f.killed) })),
  );
  add(
    "flag_rollout_percent",
    "gauge",
    "The flag's rollout share of visitors, 0-100 (flags with a rollout).",
    flags.flatMap((f) => (f.percent === null ? [] : [{ labels: { flag: f.key }, value: f.percent }])),
  );

  const exps = s.experiments ?? [];
  const expLabels = (e: (typeof exps)[number]) => ({ subject: e.subject, experiment: e.key ?? "" });
  const sample = "in the experiment's current sample (a gauge: it restarts with an attempt or a plan step)";
  add(
    "experiment_active",
    "gauge",
    "1 while the experiment is counting.",
    exps.map((e) => ({ labels: expLabels(e), value: bit(e.active) })),
  );
  const perArm = (f: (arm: { visitors: number; conversions: number }) => number) =>
    exps.flatMap((e) =>
      e.result.goals.flatMap((g) =>
        (["control", "treatment"] as const).map((arm) => ({
          labels: { ...expLabels(e), goal: g.goal, arm, slot: arm === "control" ? e.arms.control : e.arms.treatment },
          value: f(g[arm]),
        })),
      ),
    );
  add(
    "experiment_visitors",
    "gauge",
    `Weighted visitors per arm ${sample}.`,
    perArm((a) => a.visitors),
  );
  add(
    "experiment_conversions",
    "gauge",
    `Visitors who reached the goal per arm ${sample}.`,
    perArm((a) => a.conversions),
  );
  const perGoal = (f: (g: (typeof exps)[number]["result"]["goals"][number]) => number | null) =>
    exps.flatMap((e) =>
      e.result.goals.flatMap((g) => {
        const v = f(g);
        return v === null ? [] : [{ labels: { ...expLabels(e), goal: g.goal }, value: v }];
      }),
    );
  add(
    "experiment_difference",
    "gauge",
    "Treatment's conversion rate minus control's (0.02 = two points).",
    perGoal((g) => g.difference),
  );
  add(
    "experiment_interval_low",
    "gauge",
    "Low bound of the always-valid interval of the difference (absent while collecting).",
    perGoal((g) => g.interval?.low ?? null),
  );
  add(
    "experiment_interval_high",
    "gauge",
    "High bound of the always-valid interval of the difference (absent while collecting).",
    perGoal((g) => g.interval?.high ?? null),
  );

  const dests = s.notifications?.destinations ?? [];
  if (s.notifications)
    add(
      "notifications_config_valid",
      "gauge",
      "1 when the NOTIFICATIONS variable is valid; 0 when it is rejected and none of its destinations is used.",
      [{ labels: {}, value: bit(s.notifications.problem === null) }],
    );
  add(
    "notifications_destination_ready",
    "gauge",
    "1 when the destination can send (its secrets are set and well formed), 0 when each message to it fails at once.",
    dests.map((d) => ({ labels: { destination: d.name, type: d.type }, value: bit(d.problem === null) })),
  );
  const destLabels = (d: (typeof dests)[number]) => ({ destination: d.name, type: d.type });
  add(
    "notifications_sent_total",
    "counter",
    "Notification requests the destination accepted.",
    dests.map((d) => ({ labels: destLabels(d), value: d.sent })),
  );
  add(
    "notifications_failed_total",
    "counter",
    "Notification requests given up (after the retries, or at once for a 4xx or a missing secret).",
    dests.map((d) => ({ labels: destLabels(d), value: d.failed })),
  );
  add(
    "notifications_waiting",
    "gauge",
    "Notification requests queued for the destination, the one being retried included.",
    dests.map((d) => ({ labels: destLabels(d), value: d.waiting })),
  );

  return families.map(formatFamily).join("\n") + "\n";
}

/** Cumulative `_bucket{le}` in seconds from per-bucket counts over LATENCY_BOUNDS_MS (the last: over 60 s), then `_count`. */
function histogram(labels: Labels, counts: readonly number[]): Sample[] {
  const out: Sample[] = [];
  let seen = 0;
  LATENCY_BOUNDS_MS.forEach((ms, i) => {
    seen += counts[i] ?? 0;
    out.push({ suffix: "_bucket", labels: { ...labels, le: String(ms / 1000) }, value: seen });
  });
  for (let i = LATENCY_BOUNDS_MS.length; i < counts.length; i++) seen += counts[i];
  out.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: seen });
  out.push({ suffix: "_count", labels, value: seen });
  return out;
}
