// The Prometheus exposition (src/admin/metrics.ts): names, types, escaping, the histogram's
// cumulative buckets, and Debian's `promtool check metrics` on the real output where it is installed.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { escapeLabelValue, formatMetrics } from "../../src/admin/metrics";
import { LATENCY_BUCKETS } from "../../src/model/protocol";
import type { SlotStats, StatusSnapshot } from "../../src/model/status";
import { snapshot, stats } from "./status-fixture";

/** The fixture's slot with errors by kind and per-bucket latency counts (index → count). */
function slot(requests: number, buckets: Record<number, number>): SlotStats {
  const latencyBuckets = new Array<number>(LATENCY_BUCKETS).fill(0);
  for (const [i, n] of Object.entries(buckets)) latencyBuckets[Number(i)] = n;
  return {
    ...stats(requests, 3),
    errorsByKind: { status5xx: 1, network: 2, timeout: 0 },
    failovers: 2,
    latencyBuckets,
  };
}

// Release v2 at step 2/3 (25 %) as the fixture has it, with what the exposition must escape, merge or sum.
const STATUS: StatusSnapshot = snapshot({
  release: 'v2 "quoted"\\path\nline',
  // Canary: 2 answers ≤ 5 ms, 1 ≤ 100 ms, 1 over 60 s (the open bucket).
  window: { seconds: 60, canary: slot(4, { 0: 2, 8: 1, 24: 1 }), stable: slot(10, { 3: 10 }), shadow: null },
  health: {
    healthy: false,
    verdicts: [
      { rule: "error-rate", ok: false, detail: "" },
      { rule: "latency", ok: true, detail: "" },
      { rule: "latency", ok: false, detail: "" },
    ],
  },
  reports: { received: 17, droppedByIsolates: 1, mirrorsSkipped: 0, diverted: 5, lastAt: "2026-12-01T10:00:00.000Z" },
  flags: {
    fingerprint: "f",
    error: null,
    flags: [
      {
        key: "new-checkout",
        on: true,
        type: "boolean",
        percent: 30,
        exposure: {},
        rules: 0,
        origin: true,
        browser: false,
        killed: true,
        guard: null,
      },
    ],
  },
  notifications: {
    problem: null,
    destinations: [
      {
        name: "releases",
        type: "slack",
        events: ["rollback"],
        problem: null,
        sent: 12,
        failed: 1,
        waiting: 2,
        lastSent: null,
        lastFailure: null,
        retrying: null,
      },
    ],
  },
  experiments: [
    {
      subject: "rollout",
      key: "v2",
      arms: { control: "blue", treatment: "green" },
      since: "2026-12-01T09:58:00.000Z",
      percent: 25,
      active: true,
      result: {
        control: "blue",
        treatment: "green",
        alpha: 0.05,
        visitors: { control: 400, treatment: 100 },
        rawVisitors: { control: 400, treatment: 100 },
        goals: [
          {
            goal: "purchase",
            control: { visitors: 400, conversions: 40, rate: 0.1 },
            treatment: { visitors: 100, conversions: 12, rate: 0.12 },
            difference: 0.02,
            interval: { low: -0.05, high: 0.09 },
            lift: 0.2,
            liftInterval: null,
            state: "inconclusive",
          },
        ],
        sampleRatio: null,
        crossed: 0,
        excluded: 0,
        crowded: 0,
        sampled: 0,
      },
      history: [],
      previous: null,
    },
  ],
});

const lines = (text: string) => text.split("\n");

describe("Prometheus exposition", () => {
  const text = formatMetrics(STATUS);

  it("gives every family a HELP and a TYPE line before its samples, and ends with a line feed", () => {
    expect(text.endsWith("\n")).toBe(true);
    const names = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(20);
    for (const n of names) {
      expect(n).toMatch(/^edgeshift_[a-z_]+$/);
      expect(text).toContain(`# HELP ${n} `);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it("types cumulative figures as counters (_total) and window figures as gauges", () => {
    expect(text).toContain("# TYPE edgeshift_reports_received_total counter\nedgeshift_reports_received_total 17\n");
    expect(text).toContain("edgeshift_requests_diverted_total 5\n");
    expect(text).toContain("# TYPE edgeshift_window_requests gauge");
    expect(text).toMatch(/# HELP edgeshift_window_requests .*a gauge: it falls as requests leave the window/);
    expect(text).toContain('edgeshift_window_requests{slot="green",role="canary"} 4\n');
    expect(text).toContain('edgeshift_window_errors{slot="blue",role="stable",kind="network"} 2\n');
    expect(text).toContain('edgeshift_window_failovers{slot="green",role="canary"} 2\n');
    for (const n of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) expect(n[1].endsWith("_total")).toBe(n[2] === "counter");
  });

  it("answers the latency as a histogram in seconds: cumulative buckets, +Inf and _count equal, no _sum", () => {
    const canary = lines(text).filter((l) =>
      l.startsWith('edgeshift_window_request_duration_seconds_bucket{slot="green",role="canary"'),
    );
    const at = (le: string) => canary.find((l) => l.includes(`,le="${le}"}`))?.split(" ")[1];
    expect(["0.005", "0.075", "0.1", "60", "+Inf"].map(at)).toEqual(["2", "2", "3", "3", "4"]);
    expect(canary.at(-1)).toContain('le="+Inf"');
    expect(canary).toHaveLength(LATENCY_BUCKETS);
    expect(text).toContain('edgeshift_window_request_duration_seconds_count{slot="green",role="canary"} 4\n');
    expect(text).toContain('edgeshift_window_request_duration_seconds_count{slot="blue",role="stable"} 10\n');
    expect(text).not.toMatch(/_sum[{ ]/);
  });

  it("has split, state, plan, verdicts (one series a rule), flags and experiments", () => {
    expect(text).toContain("edgeshift_split_percent 25\n");
    expect(text).toContain('edgeshift_state{state="running"} 1\n');
    expect(text).toContain('edgeshift_state{state="rolled-back"} 0\n');
    expect(text).toContain("edgeshift_plan_step 1\n");
    expect(text).toContain("edgeshift_plan_steps 3\n");
    expect(text).toContain("edgeshift_plan_step_percent 25\n");
    expect(text).toContain("edgeshift_rolled_back 0\n");
    expect(text).toContain('edgeshift_rule_ok{rule="error-rate"} 0\n');
    expect(lines(text).filter((l) => l.startsWith('edgeshift_rule_ok{rule="latency"}'))).toEqual([
      'edgeshift_rule_ok{rule="latency"} 0',
    ]);
    expect(text).toContain('edgeshift_flag_on{flag="new-checkout"} 1\n');
    expect(text).toContain('edgeshift_flag_killed{flag="new-checkout"} 1\n');
    expect(text).toContain(
      'edgeshift_experiment_conversions{subject="rollout",experiment="v2",goal="purchase",arm="treatment",slot="green"} 12\n',
    );
    expect(text).toContain(
      'edgeshift_experiment_interval_low{subject="rollout",experiment="v2",goal="purchase"} -0.05\n',
    );
    expect(text).toContain("edgeshift_last_report_timestamp_seconds 1796119200\n");
  });

  it("counts each destination's notifications sent and failed, and what waits", () => {
    const text = formatMetrics(STATUS);
    expect(text).toContain("# TYPE edgeshift_notifications_sent_total counter\n");
    expect(text).toContain('edgeshift_notifications_sent_total{destination="releases",type="slack"} 12\n');
    expect(text).toContain('edgeshift_notifications_failed_total{destination="releases",type="slack"} 1\n');
    expect(text).toContain('edgeshift_notifications_waiting{destination="releases",type="slack"} 2\n');
    // A setup that cannot send is seen before an event is lost to it.
    expect(text).toContain("edgeshift_notifications_config_valid 1\n");
    expect(text).toContain('edgeshift_notifications_destination_ready{destination="releases",type="slack"} 1\n');
  });

  it("leaves out what the snapshot does not have (no plan, no experiments, no interval)", () => {
    const bare = formatMetrics({ ...STATUS, plan: null, experiments: undefined, flags: undefined });
    expect(bare).not.toContain("edgeshift_plan_");
    expect(bare).not.toContain("edgeshift_experiment_");
    expect(bare).not.toContain("edgeshift_flag_");
    expect(bare).toContain("edgeshift_split_percent 25\n");
  });

  it("escapes backslash, double quote and line feed in label values", () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(text).toContain('release="v2 \\"quoted\\"\\\\path\\nline"');
  });
});

const promtool = spawnSync("promtool", ["--version"], { stdio: "ignore" }).status === 0;
if (!promtool)
  console.warn(
    "metrics test: promtool not on PATH (Debian: apt-get install prometheus); `promtool check metrics` skipped",
  );

describe.skipIf(!promtool)("promtool check metrics", () => {
  it("finds no problem in the exposition (lint included)", () => {
    for (const s of [STATUS, { ...STATUS, plan: null, experiments: undefined, flags: undefined }]) {
      const r = spawnSync("promtool", ["check", "metrics"], { input: formatMetrics(s), encoding: "utf8" });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe("");
      expect(r.status).toBe(0);
    }
  });
});
