// Terminal rendering of the controller's experiments for `edgeshift experiment` (docs/cli.md). Pure,
// like ./render.ts: every figure is one the controller computed (src/experiments/result.ts), read
// the way that module's header says to read it; this module only picks the words and the columns.
//
// The arms are always called control and treatment, the words the states use ("treatment better");
// the title says which slot or which visitors each is.
import { MIN_VISITORS } from "../src/experiments/result";
import {
  formatConfiguredPercent,
  formatPercent,
  formatPoints,
  formatSignedPercent,
  signedPercent,
} from "../src/lib/percent";
import type { ArmRate, ExperimentResult, ExperimentStatus, GoalResult, GuardrailVerdict } from "../src/model/status";
import { painter, stamp, table, type Paint, type Style } from "./render";

/** What a person types to pick an experiment: "rollout", or the flag's key. */
export const subjectName = (e: ExperimentStatus): string =>
  e.subject === "flag" && e.key !== null ? e.key : "rollout";

/**
 * Network weighting (src/experiments/tally.ts) makes counts fractional: "1500", "1180.5". One
 * decimal is enough to see that a count was weighted; the rates are computed from the exact ones.
 */
const count = (x: number) => String(Number(x.toFixed(1)));

const rateCell = (a: ArmRate) => `${formatPercent(a.rate)} (${count(a.conversions)}/${count(a.visitors)})`;

const bounds = (i: { low: number; high: number }) => `[${signedPercent(i.low)}, ${signedPercent(i.high)}]`;

function differenceCell(g: GoalResult): string {
  return `${formatPoints(g.difference)}${g.interval ? ` ${bounds(g.interval)}` : ""}`;
}

// "≈": the lift's interval takes control's observed rate as known (src/experiments/result.ts).
function liftCell(g: GoalResult): string {
  if (g.lift === null) return "–";
  return `≈ ${formatSignedPercent(g.lift)}${g.liftInterval ? ` ${bounds(g.liftInterval)}` : ""}`;
}

/** A goal's state in words a reader can act on. */
function stateText(g: GoalResult): string {
  switch (g.state) {
    case "collecting": {
      const least = Math.floor(Math.min(g.control.visitors, g.treatment.visitors));
      return `collecting: ${g.waitingFor ?? `${least} of ${MIN_VISITORS} visitors an arm`}`;
    }
    case "inconclusive":
      return "no difference shown yet";
    case "better":
      return "treatment better";
    case "worse":
      return "treatment worse";
  }
}

function paintState(g: GoalResult, cell: string, p: Paint): string {
  if (g.state === "better") return p(cell, "green", "bold");
  if (g.state === "worse") return p(cell, "red", "bold");
  return g.state === "collecting" ? p(cell, "dim") : cell;
}

function title(e: ExperimentStatus, p: Paint): string {
  if (e.subject === "flag")
    return `${p(`flag ${e.key}`, "bold")} · treatment: its rollout's variation, control: its default`;
  const release = e.key === null ? "" : ` · release ${p(e.key, "bold")}`;
  return `${p("rollout", "bold")}${release} · treatment ${e.arms.treatment} (canary), control ${e.arms.control} (stable)`;
}

/** Active, or why it stopped counting: its figures are then as they were at that moment. */
function runningText(e: ExperimentStatus, p: Paint): string {
  if (e.active) return p("counting", "cyan");
  const why = e.subject === "flag" ? "flag killed by its guard" : "rolled back";
  return p(`stopped: ${why} (figures as they were then)`, "yellow");
}

function visitorsText(r: ExperimentResult): string {
  const raw = `control ${r.rawVisitors.control} · treatment ${r.rawVisitors.treatment}`;
  const same = r.rawVisitors.control === r.visitors.control && r.rawVisitors.treatment === r.visitors.treatment;
  if (same) return raw;
  // Many visitors from one network (a NAT, or a client minting cookies) weigh at most NETWORK_WEIGHT.
  return `${raw} (weighted by network: control ${count(r.visitors.control)} · treatment ${count(r.visitors.treatment)})`;
}

/** The visitors the tally left out, and why; empty when none were. */
function leftOutText(r: ExperimentResult): string {
  return [
    r.crossed ? `${r.crossed} seen in both arms` : "",
    r.excluded ? `${r.excluded} whose arm a rule, tester token or location pin chose` : "",
    r.crowded ? `${r.crowded} from crowded networks (not tracked)` : "",
  ]
    .filter(Boolean)
    .join(" · ");
}

const pad = (label: string) => `  ${label.padEnd(10)}`;

/** The lines about one sample's figures: visitors, goals, sample ratio, who was left out. */
function resultLines(r: ExperimentResult, p: Paint): string[] {
  const out = [`${pad("visitors")}${visitorsText(r)}`];
  if (r.goals.length) {
    const cells = r.goals.map((g) => [
      g.goal,
      rateCell(g.control),
      rateCell(g.treatment),
      differenceCell(g),
      liftCell(g),
      stateText(g),
    ]);
    const head = ["goal", "control", "treatment", "difference", "lift", "state"];
    out.push(...table(head, cells, p, (row, i, cell) => (i === 5 ? paintState(r.goals[row], cell, p) : cell)));
  } else out.push(p(`${pad("goals")}none declared now`, "dim"));
  if (r.sampleRatio?.mismatch) out.push(p(`  ✘ sample ratio: ${r.sampleRatio.detail}`, "red"));
  const left = leftOutText(r);
  if (left) out.push(`${pad("left out")}${left}`);
  if (r.sampled < 1)
    out.push(
      `${pad("sampled")}${formatPercent(r.sampled)} of visitors (more were seen than the experiment tracks): rates stay unbiased, intervals are wider`,
    );
  return out;
}

/** The sample before the last change, in one line: how each goal ended. */
function previousLine(prev: NonNullable<ExperimentStatus["previous"]>): string {
  const at = prev.percent === null ? "" : `at ${formatConfiguredPercent(prev.percent)} `;
  const goals = prev.result.goals.map((g) => `${g.goal} (${stateText(g)})`).join(" · ");
  return `${pad("before")}${at}from ${stamp(prev.since)} to ${stamp(prev.until)}: ${goals || "no goals"}`;
}

/** One experiment in full. */
function renderExperiment(e: ExperimentStatus, style: Style): string {
  const p = painter(style.color);
  const share = e.percent === null ? "" : ` · treatment at ${formatConfiguredPercent(e.percent)}`;
  return [
    title(e, p),
    `${pad("since")}${stamp(e.since)}${share} · ${runningText(e, p)}`,
    ...resultLines(e.result, p),
    ...(e.guardrails ?? []).map((g) => guardrailLine(g, p)),
    ...(e.previous ? [previousLine(e.previous)] : []),
  ].join("\n");
}

/** A guardrail of the rollout (src/experiments/guardrails.ts): its state and why. */
function guardrailLine(g: GuardrailVerdict, p: Paint): string {
  const mark = g.state === "held" ? p("✔", "green") : g.state === "regressed" ? p("✘", "red") : p("…", "yellow");
  return `${pad("guardrail")}${mark} ${g.state}: ${g.detail}`;
}

/** How to read the table, once under it. */
function legend(alpha: number): string {
  return (
    `difference: treatment − control; [low, high]: its ${formatConfiguredPercent((1 - alpha) * 100)} interval, valid however often you look. ` +
    `lift: the difference relative to control's rate (≈: its interval takes that rate as known)`
  );
}

/** `edgeshift experiment`: each experiment, a blank line apart, and how to read them. */
export function renderExperiments(list: readonly ExperimentStatus[], style: Style): string {
  if (list.length === 0) return `no experiments: ${NO_GOALS}`;
  const p = painter(style.color);
  return [...list.map((e) => renderExperiment(e, style)), p(legend(list[0].result.alpha), "dim")].join("\n\n");
}

/** Why the controller has no experiment to show, and what to do about it. */
export const NO_GOALS = [
  "no goals are declared (or the controller has not read the flags document yet).",
  'Goals live in the `flags` KV document as "goals", beside "flags" (docs/storage-schema.md, "Goals"), e.g.',
  '  "goals": { "checkout": { "method": "POST", "path": "/checkout", "status": "2xx" }, "signup": { "signal": "signup" } }',
  "Write the document with `wrangler kv key put --binding ROLLOUT_CONFIG flags '<json>' --remote` (--local",
  "against wrangler dev; check it first with `edgeshift flags validate <file>`); from then on the controller",
  "counts each goal per visitor, for the rollout's split and for every guarded flag.",
].join("\n");
