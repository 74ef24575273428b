// Terminal rendering of the `flags` document for `edgeshift flags list|show|validate` and of what a
// flags write did, and the shapes their --json prints (docs/cli.md). Pure, like ./render.ts: the
// figures shown are the ones the Worker evaluates with (defaults filled in, the implied split).
import { splitOf } from "../src/flags/evaluate";
import { formatConfiguredPercent } from "../src/lib/percent";
import { defaultOf, offOf, typeOfValue, type Flag, type FlagValue, type FlagsDocument } from "../src/model/flags";
import type { FlagChange } from "./flags-edit";
import { painter, sentTo, table, type Paint, type Style } from "./render";

/** One flag in `flags list --json` (and a row of `flags list`). */
export interface FlagSummary {
  key: string;
  on: boolean;
  type: ReturnType<typeof typeOfValue>;
  variations: string[];
  /** The variation served while the flag is off. */
  off: string;
  /** The variation served while on when no rule or rollout decides. */
  default: string;
  /** `split`: the weights as written, or the one implied (all on the variation besides the default). */
  rollout: { percent: number; split: Record<string, number> } | null;
  rules: number;
  origin: boolean;
  browser: boolean;
}

/** One flag in full for `flags show --json`: the flag as the Worker reads it, with its resolved names. */
export type FlagDetail = Omit<FlagSummary, "variations" | "rules"> &
  Pick<Flag, "variations" | "rules" | "description"> & { salt: string };

function rolloutOf(f: Flag): FlagSummary["rollout"] {
  if (f.rollout === undefined) return null;
  return { percent: f.rollout.percent, split: Object.fromEntries(splitOf(f, defaultOf(f))) };
}

export function summarize(key: string, f: Flag): FlagSummary {
  return {
    key,
    on: f.on,
    type: typeOfValue(Object.values(f.variations)[0] as FlagValue),
    variations: Object.keys(f.variations),
    off: offOf(f),
    default: defaultOf(f),
    rollout: rolloutOf(f),
    rules: f.rules.length,
    origin: f.origin,
    browser: f.browser,
  };
}

export function detail(key: string, f: Flag): FlagDetail {
  const { variations: _, rules: __, ...s } = summarize(key, f);
  return {
    ...s,
    ...(f.description !== undefined ? { description: f.description } : {}),
    variations: f.variations,
    rules: f.rules,
    salt: f.salt ?? key,
  };
}

/** "10 % → on", "50 % → dark 25 %, light 25 %", "–" without a rollout. */
export function rolloutText(r: FlagSummary["rollout"]): string {
  if (r === null) return "–";
  const split = Object.entries(r.split);
  if (split.length === 1) return `${formatConfiguredPercent(r.percent)} → ${split[0][0]}`;
  const total = split.reduce((n, [, w]) => n + w, 0);
  return `${formatConfiguredPercent(r.percent)} → ${split.map(([v, w]) => `${v} ${formatConfiguredPercent((r.percent * w) / total)}`).join(", ")}`;
}

const onOff = (on: boolean) => (on ? "on" : "OFF");
/** `text` (the state, padded or not) in the state's colour. */
const paintState = (on: boolean, text: string, p: Paint) => (on ? p(text, "green") : p(text, "red", "bold"));

/** The table of `flags list` (and of a valid file in `flags validate`). */
export function renderFlagList(doc: FlagsDocument, style: Style): string {
  const p = painter(style.color);
  const rows = Object.entries(doc.flags).map(([key, f]) => summarize(key, f));
  if (rows.length === 0) return p("  no flags", "dim");
  const cells = rows.map((s) => [s.key, onOff(s.on), s.type, rolloutText(s.rollout), String(s.rules), sentTo(s)]);
  const head = ["KEY", "STATE", "TYPE", "ROLLOUT", "RULES", "SENT TO"];
  return table(head, cells, p, (r, i, cell) => (i === 1 ? paintState(rows[r].on, cell, p) : cell)).join("\n");
}

const MAX_LISTED = 10;
const listed = (xs: string[]) =>
  xs.slice(0, MAX_LISTED).join(", ") +
  (xs.length > MAX_LISTED ? ` (+${xs.length - MAX_LISTED} more; --json lists all)` : "");

function ruleText(r: Flag["rules"][number]): string {
  const when = [
    r.header ? `header ${r.header.name} is ${listed(r.header.values)}` : "",
    r.cidr ? `address in ${listed(r.cidr)}` : "",
    r.country ? `country ${listed(r.country)}` : "",
    r.colo ? `colo ${listed(r.colo)}` : "",
  ].filter(Boolean);
  return `${r.name ? `${r.name}: ` : ""}→ ${r.variation} when ${when.join(" and ")}`;
}

const named = (f: Flag, v: string) => `${v} = ${JSON.stringify(f.variations[v])}`;

/** `flags show`: one flag in full. */
export function renderFlag(key: string, f: Flag, style: Style): string {
  const p = painter(style.color);
  const s = summarize(key, f);
  const pad = (label: string) => `  ${label.padEnd(12)}`;
  const out = [`${p(key, "bold")} · ${paintState(f.on, onOff(f.on), p)} · ${s.type}`];
  if (f.description) out.push(`${pad("description")}${f.description}`);
  out.push(
    `${pad("variations")}${Object.keys(f.variations)
      .map((v) => named(f, v))
      .join(", ")}`,
  );
  out.push(`${pad("when off")}${named(f, s.off)}${f.on ? "" : p("  ← everyone gets this now", "red")}`);
  out.push(`${pad("default")}${named(f, s.default)} (while on, to visitors no rule or rollout picks)`);
  if (f.rules.length === 0) out.push(`${pad("rules")}${p("none", "dim")}`);
  f.rules.forEach((r, i) => out.push(`${pad(i === 0 ? "rules" : "")}${i + 1}. ${ruleText(r)}`));
  out.push(
    `${pad("rollout")}${s.rollout ? `${rolloutText(s.rollout)} of visitors (sticky by the split's key, salt "${f.salt ?? key}")` : p("none", "dim")}`,
  );
  out.push(
    `${pad("sent to")}${f.origin ? "the origin (x-edgeshift-flags)" : "not the origin"} · ${f.browser ? "browsers (OFREP, unauthenticated)" : "not browsers (OFREP needs FLAGS_TOKEN or an admin token)"}`,
  );
  return out.join("\n");
}

/** What a write did (or would do), a line per fact, for `flags on|off|set`. */
export function changeLines(c: FlagChange, where: string, dryRun: boolean): string[] {
  const a = c.after;
  const b = c.before;
  const now = `${onOff(a.on)}, rollout ${rolloutText(rolloutOf(a))}`;
  if (!c.changed) return [`nothing to write: ${where} already has ${c.key} ${now}`];
  const what: string[] = [];
  if (b === null || b.on !== a.on) what.push(b === null ? onOff(a.on) : `${onOff(b.on)} → ${onOff(a.on)}`);
  const rollout = rolloutText(rolloutOf(a));
  const was = b === null ? null : rolloutText(rolloutOf(b));
  if (was !== rollout) what.push(`rollout ${rollout}${was === null ? "" : ` (was ${was === "–" ? "none" : was})`}`);
  const lines = [
    dryRun
      ? `dry run, nothing written. The document would be:\n${c.text}`
      : `${c.key}: ${what.join(", ") || now} — written to ${where}`,
  ];
  if (b === null) lines.push(`note: the flags document in ${where} was invalid; this write makes it valid again`);
  if (!a.on) lines.push(`note: ${c.key} is off: everyone gets ${named(a, offOf(a))}`);
  else if (a.rules.length === 0 && (a.rollout === undefined || a.rollout.percent === 0))
    lines.push(
      `note: ${c.key} is on, but with no rules and no rollout everyone gets the default ${named(a, defaultOf(a))} (edgeshift flags set ${c.key} --percent <n>)`,
    );
  return lines;
}
