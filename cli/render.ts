// Terminal rendering of the controller's StatusSnapshot and events. Pure (string in, string out)
// so it is unit-tested without a terminal; colour is plain ANSI and off when not a TTY/NO_COLOR.
import { formatConfiguredPercent, formatPercent } from "../src/lib/percent";
import { otherSlot, stepAt, type Rollout, type Slot } from "../src/model/rollout";
import { durationText } from "./args";
import type {
  FlagArmStats,
  FlagStatus,
  PlanStatus,
  RolloutEvent,
  SlotStats,
  StatusSnapshot,
} from "../src/model/status";

export interface Style {
  color: boolean;
  /** Terminal columns available (bars and charts scale to it). */
  width: number;
}

const codes = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, cyan: 36 } as const;
export type Paint = (s: string, ...c: (keyof typeof codes)[]) => string;
export const painter =
  (on: boolean): Paint =>
  (s, ...c) =>
    on && c.length ? `\x1b[${c.map((k) => codes[k]).join(";")}m${s}\x1b[0m` : s;

export const ms = (v: number | null) => (v === null ? "–" : v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${v}ms`);

/** `▕████░░░░▏` of `width` cells for a 0–1 share. */
export function bar(share: number, width: number): string {
  const n = Math.max(0, Math.min(width, Math.round(share * width)));
  return `▕${"█".repeat(n)}${"░".repeat(width - n)}▏`;
}

const SPARK = "▁▂▃▄▅▆▇█";
/**
 * One cell per value. Scaled to `max` (at least 5 % so a calm 0.2 % does not look like a fire);
 * `null` (no requests in that bin) is a space, so "no data" never reads as "no errors".
 */
export function sparkline(values: (number | null)[], max?: number): string {
  const top = Math.max(max ?? 0, 0.05, ...values.filter((v): v is number => v !== null));
  return values
    .map((v) =>
      v === null ? " " : SPARK[Math.min(SPARK.length - 1, Math.floor((v / top) * (SPARK.length - 1) + 0.5))],
    )
    .join("");
}

/**
 * Rows of cells in columns padded to the widest, two spaces apart after `indent`, under a dimmed
 * head. `paint` colours a cell after padding, so escape codes never count toward a width; the
 * last column is not padded, so no line ends in spaces.
 */
export function table(
  head: string[],
  rows: string[][],
  p: Paint,
  paint: (row: number, column: number, cell: string) => string = (_r, _c, cell) => cell,
  indent = "  ",
): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[], paintCell: (i: number, cell: string) => string) =>
    `${indent}${cells.map((x, i) => paintCell(i, i === cells.length - 1 ? x : x.padEnd(w[i]))).join("  ")}`.trimEnd();
  return [
    p(
      line(head, (_, h) => h),
      "dim",
    ),
    ...rows.map((r, at) => line(r, (i, cell) => paint(at, i, cell))),
  ];
}

/** "green (canary) 5 % · blue (stable) 95 %": the split as the document sets it. */
export function splitSummary(canary: Slot, percent: number): string {
  return `${canary} (canary) ${formatConfiguredPercent(percent)} · ${otherSlot(canary)} (stable) ${formatConfiguredPercent(100 - percent)}`;
}

/** "2026-11-25 08:00:00": an ISO time as the status and history print it (UTC, no fractions). */
export const stamp = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");

const duration = (sec: number) => (sec >= 120 ? `${Math.round(sec / 60)} min` : `${sec}s`);

/**
 * The figures a rollback recorded, as one line: "canary 6/85 errors (7.06 %) · stable 0/265 … · tripped: error-rate".
 * A flag's guard records the same shape, its treatment as the canary: `names` says so.
 */
export function figuresSummary(
  f: Record<string, unknown>,
  names: { canary: string; stable: string } = { canary: "canary", stable: "stable" },
): string {
  const side = (k: "canary" | "stable") => {
    const x = f[k] as { requests?: number; errors?: number; errorRate?: number } | undefined;
    return x && typeof x.requests === "number"
      ? `${names[k]} ${x.errors}/${x.requests} errors (${formatPercent(x.errorRate ?? 0, 2)})`
      : null;
  };
  const parts = [side("canary"), side("stable")].filter((x): x is string => x !== null);
  if (typeof f.windowSeconds === "number") parts.push(`over ${f.windowSeconds}s`);
  if (Array.isArray(f.tripped)) parts.push(`tripped: ${f.tripped.join(", ")}`);
  return parts.length ? parts.join(" · ") : JSON.stringify(f);
}

function stateLabel(s: StatusSnapshot, p: Paint): string {
  const colour = { idle: "dim", running: "cyan", paused: "yellow", "rolled-back": "red", promoted: "green" } as const;
  return p(s.state.toUpperCase(), "bold", colour[s.state]);
}

/** The error rate in a column of `width`, in red from 5 %: a canary's default limit, where eyes should go. */
function errorCell(st: SlotStats, width: number, p: Paint): string {
  const err = (st.requests ? formatPercent(st.errorRate, 2) : "–").padStart(width);
  return st.errorRate >= 0.05 ? p(err, "red", "bold") : err;
}

function slotRow(label: string, st: SlotStats, seconds: number, p: Paint): string {
  const rps = seconds > 0 ? (st.requests / seconds).toFixed(1) : "–";
  const errC = errorCell(st, 7, p);
  const kinds = st.errors
    ? ` (5xx ${st.errorsByKind.status5xx}, net ${st.errorsByKind.network}, timeout ${st.errorsByKind.timeout})`
    : "";
  return `  ${label.padEnd(14)}${String(st.requests).padStart(8)}${rps.padStart(8)}${String(st.errors).padStart(8)}${errC}${ms(st.p50).padStart(8)}${ms(st.p95).padStart(8)}${ms(st.p99).padStart(8)}${String(st.failovers).padStart(10)}${kinds}`;
}

/** Where a flag's value is sent: "origin, browser", or "–" for neither (then only to authenticated OFREP callers). */
export const sentTo = (f: { origin: boolean; browser: boolean }) =>
  [f.origin ? "origin" : "", f.browser ? "browser" : ""].filter(Boolean).join(", ") || "–";

/** "off 90 % · on 10 %": each variation's share of visitors by the flag's rollout. */
const exposureText = (e: FlagStatus["exposure"]) =>
  Object.entries(e)
    .map(([v, share]) => `${v} ${formatConfiguredPercent(share)}`)
    .join(" · ");

function armLine(label: string, a: FlagArmStats, p: Paint): string {
  return `    ${label.padEnd(10)}${String(a.requests).padStart(8)} requests${String(a.errors).padStart(6)} errors${errorCell(a, 9, p)}  p95 ${ms(a.p95).padStart(6)}${String(a.visitors).padStart(7)} visitors`;
}

/** A guarded flag's verdict in words: a kill (or, observing, the kill it would make) with its reason. */
function guardVerdict(f: FlagStatus, g: NonNullable<FlagStatus["guard"]>, p: Paint): string {
  const why = g.reason ?? "its treatment failed the comparison";
  if (f.killed)
    return p(
      f.kill ? `✘ killed by its guard at ${f.kill.at}: ${f.kill.reason}` : `✘ killed by its guard: ${why}`,
      "red",
      "bold",
    );
  if (g.tripped && g.mode === "observe") return p(`✘ would be switched off (guard observing): ${why}`, "yellow");
  if (!g.healthy) return p(`✘ failing: ${why}`, "red");
  return p(`✔ guard healthy${g.mode === "observe" ? " (observing)" : ""}`, "green");
}

/**
 * Where events go, one line per destination; a failure, a retry or a missing secret in colour, so
 * a notification that did not reach the channel is seen where the rollout is.
 */
function notificationLines(n: NonNullable<StatusSnapshot["notifications"]>, p: Paint): string[] {
  const out: string[] = [];
  if (n.problem) out.push(p(`NOTIFICATIONS INVALID: ${n.problem}`, "red", "bold"));
  for (const d of n.destinations) {
    const counts = `${d.sent} sent${d.failed ? `, ${p(`${d.failed} failed`, "red")}` : ""}${d.waiting ? `, ${d.waiting} waiting` : ""}`;
    out.push(`notify    ${d.name} (${d.type}): ${counts}`);
    if (d.problem) out.push(p(`          cannot send: ${d.problem}`, "red"));
    // A PagerDuty page's wait first, then its change events' (two queues, docs/notifications.md).
    for (const r of [d.retrying, d.retryingChange])
      if (r)
        out.push(
          p(
            `          retrying ${r.lane === "change" ? "change event for " : ""}event ${r.eventId} (${r.kind}), try ${r.tries + 1} at ${r.nextAt}: ${r.error}`,
            "yellow",
          ),
        );
    if (d.lastFailure && !d.problem)
      out.push(
        p(
          `          last failure ${d.lastFailure.at}: event ${d.lastFailure.eventId} (${d.lastFailure.kind}) ${d.lastFailure.error}`,
          "dim",
        ),
      );
    if (d.openIncidents?.length) out.push(`          open incidents: ${d.openIncidents.join(", ")}`);
  }
  return out;
}

/** One line on the experiments: which goal states each has, and where the figures are. */
function experimentsLine(list: NonNullable<StatusSnapshot["experiments"]>, p: Paint): string {
  const name = (e: (typeof list)[number]) => (e.subject === "rollout" ? "rollout" : `flag ${e.key}`);
  const states = (e: (typeof list)[number]) => {
    const shown = e.result.goals.filter((g) => g.state === "better" || g.state === "worse");
    const rails = (e.guardrails ?? []).filter((g) => g.state !== "held").map((g) => `guardrail ${g.goal} ${g.state}`);
    return [...shown.map((g) => `${g.goal} ${g.state}`), ...rails].join(", ") || "nothing shown yet";
  };
  return `experiments ${list.map((e) => `${name(e)}: ${states(e)}`).join(" · ")} ${p("(`edgeshift experiment`)", "dim")}`;
}

/** A row per flag; under a guarded one, its verdict and the two arms it compares over its window. */
function flagLines(flags: NonNullable<StatusSnapshot["flags"]>, p: Paint): string[] {
  const out: string[] = [];
  if (flags.error) out.push(p(`flags document in KV is invalid, the last good one is shown: ${flags.error}`, "yellow"));
  if (!flags.flags.length) return out;
  const state = (f: FlagStatus) => (f.killed ? "KILLED by its guard" : f.on ? "on" : "off");
  const cells = flags.flags.map((f) => [f.key, state(f), f.type, exposureText(f.exposure), String(f.rules), sentTo(f)]);
  const head = ["flags", "state", "type", "exposure", "rules", "sent to"];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  w[0] += 2;
  out.push(
    p(
      head
        .map((h, i) => h.padEnd(w[i]))
        .join("  ")
        .trimEnd(),
      "dim",
    ),
  );
  flags.flags.forEach((f, r) => {
    const paint = (i: number, cell: string) =>
      i !== 1 ? cell : f.killed ? p(cell, "red", "bold") : f.on ? p(cell, "green") : p(cell, "dim");
    out.push(
      cells[r]
        .map((c, i) => paint(i, (i === 0 ? `  ${c}` : c).padEnd(w[i])))
        .join("  ")
        .trimEnd(),
    );
    const g = f.guard;
    if (!g) return;
    out.push(
      `    ${guardVerdict(f, g, p)}${p(` · over ${g.windowSeconds}s, compared since ${stamp(g.since)}`, "dim")}`,
    );
    out.push(armLine("control", g.control, p));
    out.push(armLine("treatment", g.treatment, p));
  });
  return out;
}

function eventLine(e: RolloutEvent, p: Paint): string {
  const colour =
    e.kind === "rollback" ||
    e.kind === "abort" ||
    e.kind === "config-error" ||
    e.kind === "operator-write-unseen" ||
    e.kind === "flag-killed"
      ? "red"
      : e.kind === "promote" || e.kind === "plan-complete" || e.kind === "approve"
        ? "green"
        : e.kind === "pause" ||
            e.kind === "approval-wait" ||
            e.kind === "approval-timeout" ||
            e.kind === "sample-ratio" ||
            e.kind === "operator-write-won" ||
            e.kind === "would-roll-back" ||
            e.kind === "would-kill-flag"
          ? "yellow"
          : "cyan";
  return `  ${p(stamp(e.at), "dim")}  ${p(e.kind.padEnd(13), colour)} ${e.actor.padEnd(12)} ${e.reason}`;
}

export function renderStatus(s: StatusSnapshot, style: Style, opts: { url?: string; events?: number } = {}): string {
  const p = painter(style.color);
  const { canary, stable } = s.roles;
  const out: string[] = [];
  const barW = Math.max(10, Math.min(40, style.width - 50));
  out.push(
    `${p("edgeshift", "bold")}${opts.url ? p(` · ${opts.url}`, "dim") : ""} · ${stateLabel(s, p)}${s.release ? ` · release ${p(s.release, "bold")}` : ""}`,
  );
  out.push(
    `split     ${p(`${canary} (canary) ${formatConfiguredPercent(s.percent)}`, "green")} ${bar(s.percent / 100, barW)} ${p(`${stable} (stable) ${formatConfiguredPercent(100 - s.percent)}`, "blue")}`,
  );
  const seen = s.window.canary.requests + s.window.stable.requests;
  out.push(
    p(
      `          ${seen ? `observed over ${s.window.seconds}s: ${formatPercent(s.window.canary.requests / seen)} of ${seen} requests on the canary` : `no requests in the last ${s.window.seconds}s`} · sticky by ${s.config.doc.stickyBy}`,
      "dim",
    ),
  );
  if (s.reports.lastAt) {
    const quiet = Math.round((Date.parse(s.now) - Date.parse(s.reports.lastAt)) / 1000);
    if (quiet > 30) out.push(p(`          no reports from isolates for ${quiet}s: figures are not current`, "yellow"));
  }
  if (s.plan) {
    const pl = s.plan;
    const step = pl.steps[pl.index];
    const done =
      (pl.index + Math.min(1, pl.requiredSeconds ? pl.heldSeconds / pl.requiredSeconds : 0)) / pl.steps.length;
    out.push(
      `plan      step ${pl.index + 1}/${pl.steps.length} (${step ? formatConfiguredPercent(step.percent) : "?"}) ${bar(done, barW)} ${pl.steps.map((x, i) => (i === pl.index ? p(`[${stepText(x)}]`, "bold") : stepText(x))).join(" → ")}`,
    );
    out.push(
      `          held ${pl.heldSeconds}/${pl.requiredSeconds}s · ${pl.requestsInStep}/${pl.minRequests} requests in this step${pl.paused ? p(" · PAUSED", "yellow", "bold") : ""}${pl.waitingFor ? ` · ${pl.waitingFor}` : ""}`,
    );
    const sr = pl.sampleRatio;
    if (sr)
      out.push(
        `          ${sr.mismatch ? p(`✘ sample ratio: ${sr.detail}`, "red") : sr.judged ? `✔ sample ratio: ${sr.detail}` : p(`sample ratio: ${sr.detail}`, "dim")}`,
      );
  } else {
    out.push(
      `plan      ${p("none", "dim")} (set a split with \`edgeshift set\`, or run one with \`edgeshift start --steps 1,5,25,50,100\`)`,
    );
  }
  const h = s.health;
  const failing = h.verdicts.filter((v) => !v.ok);
  out.push(
    `health    ${h.healthy ? p("✔ healthy", "green") : p("✘ unhealthy", "red", "bold")}${failing.length ? ` — ${failing.map((v) => `${v.rule}: ${v.detail}`).join("; ")}` : ""}`,
  );
  for (const v of h.verdicts.filter((v) => v.ok)) out.push(p(`          ✔ ${v.rule}: ${v.detail}`, "dim"));
  if (s.experiments?.length) out.push(experimentsLine(s.experiments, p));
  if (s.rolledBack) {
    const what = s.rolledBack.by !== undefined ? `ABORTED by ${s.rolledBack.by}` : "ROLLED BACK";
    out.push(p(`${what} at ${s.rolledBack.at}: ${s.rolledBack.reason}`, "red", "bold"));
    if (s.rolledBack.figures) out.push(`          ${figuresSummary(s.rolledBack.figures)}`);
    out.push(`          retry with \`edgeshift set <percent>\` or \`edgeshift start …\` (a new attempt)`);
  }
  if (s.configError) {
    out.push(p(`CONFIG ERROR (last good config kept) at ${s.configError.at}:`, "red", "bold"));
    for (const pr of s.configError.problems) out.push(`          ${pr.path || "(document)"}: ${pr.message}`);
  }
  if (s.saveError) {
    out.push(p(`CONTROLLER CANNOT SAVE ITS STATE since ${s.saveError.at}: ${s.saveError.message}`, "red", "bold"));
    out.push(
      `          its decisions still reach KV, the event log and the notifications; a restart falls back on KV's copy`,
    );
  }
  if (s.notifications) out.push(...notificationLines(s.notifications, p));
  if (s.stateRepaired) {
    out.push(
      p(
        `STORED CONTROLLER STATE WAS PARTLY UNREADABLE at ${s.stateRepaired.at}: fell back for ${s.stateRepaired.fields.join(", ")}`,
        "yellow",
        "bold",
      ),
    );
    out.push(`          every other field was kept; the controller's log has the details`);
  }
  out.push("");
  out.push(
    p(`last ${s.window.seconds}s     requests   req/s  errors   err%     p50     p95     p99  failovers`, "dim"),
  );
  out.push(slotRow(`${canary} canary`, s.window.canary, s.window.seconds, p));
  out.push(slotRow(`${stable} stable`, s.window.stable, s.window.seconds, p));
  if (s.window.shadow) {
    const sh = s.window.shadow;
    out.push(
      `  shadow        ${String(sh.mirrored).padStart(8)} mirrored · ${formatPercent(sh.mismatchRate)} mismatched · ${formatPercent(sh.errorRate)} errors · p95 ${ms(sh.p95)} · ${sh.notCompared} not compared`,
    );
  }
  const first = s.series.findIndex((x) => x.blue.requests + x.green.requests > 0);
  if (first >= 0) {
    const w = Math.max(10, Math.min(60, style.width - 26));
    const pts = s.series.slice(Math.max(first, s.series.length - w));
    const bin = s.series.length > 1 ? s.series[1].t - s.series[0].t : 1;
    const rate = (slot: "blue" | "green") => pts.map((x) => (x[slot].requests ? x[slot].errorRate : null));
    const max = Math.max(
      0.05,
      ...pts.flatMap((x) => [x.blue.requests ? x.blue.errorRate : 0, x.green.requests ? x.green.errorRate : 0]),
    );
    out.push("");
    out.push(p(`error rate, last ${duration(pts.length * bin)} in ${bin}s bins (top ${formatPercent(max, 0)})`, "dim"));
    out.push(`  ${`${canary} canary`.padEnd(14)} ${p(sparkline(rate(canary), max), "green")}`);
    out.push(`  ${`${stable} stable`.padEnd(14)} ${p(sparkline(rate(stable), max), "blue")}`);
  }
  if (s.flags && (s.flags.flags.length || s.flags.error)) {
    out.push("");
    out.push(...flagLines(s.flags, p));
  }
  const n = opts.events ?? 5;
  if (n > 0) {
    out.push("");
    out.push(p("events", "dim"));
    if (!s.events.length) out.push(p("  (none yet)", "dim"));
    for (const e of s.events.slice(0, n)) out.push(eventLine(e, p));
  }
  out.push(
    p(
      `reports ${s.reports.received} received · ${s.reports.droppedByIsolates} dropped by isolates · last ${s.reports.lastAt ?? "never"}`,
      "dim",
    ),
  );
  if (s.reports.mirrorsSkipped)
    out.push(
      p(
        `          ${s.reports.mirrorsSkipped} shadow mirrors skipped (an isolate's in-flight limit was reached): the shadow sample is smaller than shadowPercent`,
        "yellow",
      ),
    );
  if (s.reports.diverted)
    out.push(
      p(
        `          ${s.reports.diverted} canary-bound requests diverted to stable (no fresh verdict from the controller in time): counted in neither slot; if it keeps growing, the controller is slow or unreachable`,
        "yellow",
      ),
    );
  return out.join("\n");
}

/** One line per event; its `data` (figures, quorum, the plan's steps…) only with `withData` (`history --data`). */
export function renderHistory(events: RolloutEvent[], style: Style, withData = false): string {
  const p = painter(style.color);
  if (!events.length) return p("no events yet", "dim");
  return events
    .map((e) => {
      const data = withData && e.data && Object.keys(e.data).length ? p(`  ${JSON.stringify(e.data)}`, "dim") : "";
      return eventLine(e, p) + data;
    })
    .join("\n");
}

/** A plan step as `edgeshift start --steps` takes it: "25", or "50:approve" for a step that waits for a person. */
function stepText(step: PlanStatus["steps"][number]): string {
  return step.approve ? `${step.percent}:approve` : String(step.percent);
}

/**
 * A document's plan in words, as `validate` and `start` say it: "5 % for 300s → 50 % for 300s, then
 * approval within 4h (then rollback) → 100 % for 300s".
 */
export function planSummary(d: Rollout): string {
  return (d.steps ?? []).map((_, i) => stepSummary(stepAt(d, i))).join(" → ");
}

function stepSummary(step: ReturnType<typeof stepAt>): string {
  const held = `${formatConfiguredPercent(step.percent)} for ${step.seconds}s`;
  const a = step.approve;
  if (!a) return held;
  if (a.timeoutSeconds === null) return `${held}, then approval`;
  return `${held}, then approval within ${durationText(a.timeoutSeconds)} (then ${a.onTimeout})`;
}
