// set, start: read-modify-write of the `rollout` KV document through wrangler. The new document
// is validated with the Worker's own parser before anything is written; invalid → nothing written.
import { formatConfiguredPercent } from "../../src/lib/percent";
import { parseRollout, type ConfigProblem } from "../../src/model/parse";
import type { Slot } from "../../src/model/rollout";
import { CliError, EXIT, check, percentArg, secondsArg, stepsArg, usageError } from "../args";
import { KV_OPTIONS, kvFrom, type Command, type Io } from "../command";
import { applySet, applyStart, docText, rawFromText, type Edit, type RawDoc } from "../doc-edit";
import { describeKv, readDocText, writeDocText, type KvTarget } from "../kv";
import { splitSummary } from "../render";

export interface WriteResult {
  before: RawDoc;
  after: RawDoc;
  text: string;
  notes: string[];
  written: boolean;
}

const problemsText = (ps: ConfigProblem[]) => ps.map((p) => `  ${p.path || "(document)"}: ${p.message}`).join("\n");

/** The one code path for document changes (CLI and demo): read, edit, validate, write. */
export async function changeDocument(
  kv: KvTarget,
  edit: (current: RawDoc) => Edit,
  opts: { dryRun?: boolean } = {},
): Promise<WriteResult> {
  const current = rawFromText(await readDocText(kv));
  if (!current.ok) {
    throw new CliError(
      `the current rollout document in ${describeKv(kv)} is invalid, so it cannot be edited safely:\n${problemsText(current.problems)}\n` +
        "fix it with `wrangler kv key put --binding ROLLOUT_CONFIG rollout '<json>'` (check it first with `edgeshift validate <file>`)",
      EXIT.FAILED,
    );
  }
  const { doc, notes } = edit(current.doc);
  const text = docText(doc);
  const parsed = parseRollout(text);
  if (!parsed.ok)
    throw new CliError(
      `nothing written; the new document would be invalid:\n${problemsText(parsed.problems)}`,
      EXIT.USAGE,
    );
  if (!opts.dryRun) await writeDocText(kv, text);
  return { before: current.doc, after: doc, text, notes, written: !opts.dryRun };
}

function report(r: WriteResult, kv: KvTarget, io: Io, headline: string): void {
  const canary = (r.after.canary as Slot | undefined) ?? "green";
  if (!r.written) {
    io.out(`dry run, nothing written. The document would be:\n${r.text}`);
  } else {
    io.out(`${headline}: ${splitSummary(canary, r.after.percent as number)} — written to ${describeKv(kv)}`);
  }
  for (const n of r.notes) io.out(`note: ${n}`);
  if (r.written) {
    io.out(
      kv.local
        ? "wrangler dev picks it up within CONFIG_TTL_SECONDS (3 s by default). Watch it: edgeshift watch"
        : "isolates pick it up within CONFIG_TTL_SECONDS once KV has propagated (up to ~60 s worldwide). Watch it: edgeshift watch",
    );
  }
}

const RELEASE_OPTION = {
  release: {
    type: "string" as const,
    value: "<label>",
    help: "also set the release label (e.g. v2.4.0; a new label is a new attempt and a new bucketing salt)",
  },
};

export const set: Command = {
  name: "set",
  usage: "set <percent> [options]",
  summary: "Set the canary's share of traffic (0–100, 0.01 resolution) in the rollout document.",
  details: [
    "Reads the document with `wrangler kv key get`, changes `percent`, validates it like the Worker does, and writes it",
    "with `wrangler kv key put` (remote unless --local). A manual split ends a running plan (removes `steps`).",
    "After a rollback, this is your new attempt: `rolledBack` is removed and `attempt` bumped.",
    "",
    "Examples:",
    "  edgeshift set 5 --release v2.4.0",
    "  edgeshift set 25 --local",
    "  edgeshift set 0            # everyone back on stable",
  ].join("\n"),
  options: { ...RELEASE_OPTION, ...KV_OPTIONS },
  async run(a, io) {
    if (a.positionals.length !== 1) throw usageError("set needs exactly one <percent>, e.g. `edgeshift set 25`");
    const percent = check(percentArg, a.positionals[0], "<percent>");
    const kv = kvFrom(a.values);
    const release = a.values.release as string | undefined;
    const r = await changeDocument(kv, (cur) => applySet(cur, percent, { release }), {
      dryRun: Boolean(a.values["dry-run"]),
    });
    const before = typeof r.before.percent === "number" ? r.before.percent : 0;
    report(r, kv, io, `split ${formatConfiguredPercent(before)} → ${formatConfiguredPercent(percent)}`);
    return EXIT.OK;
  },
};

export const start: Command = {
  name: "start",
  usage: "start --steps <p1,p2,…> [--step-seconds <s>] [options]",
  summary:
    "Start a staged plan: the controller holds each step while the canary is healthy, then advances (and promotes after the last, unless autoPromote is false).",
  details: [
    "Writes `steps`, `stepSeconds` and `percent` = the first step. A step advances when it has been held",
    "`stepSeconds` AND the canary was judged on at least rollback.minRequests requests in it.",
    "",
    "Examples:",
    "  edgeshift start --steps 1,5,25,50,100 --step-seconds 300 --release v2.4.0",
    "  edgeshift start --steps 10,50,100 --step-seconds 30 --local",
  ].join("\n"),
  options: {
    steps: { type: "string", value: "<list>", help: "ascending percents, comma-separated, e.g. 1,5,25,50,100" },
    "step-seconds": {
      type: "string",
      value: "<s>",
      help: "how long each step is held while healthy (document default 300)",
    },
    ...RELEASE_OPTION,
    ...KV_OPTIONS,
  },
  async run(a, io) {
    if (a.positionals.length)
      throw usageError(
        `start takes no positional argument (got "${a.positionals[0]}"); use --steps, e.g. --steps 1,5,25,50,100`,
      );
    const steps = check(stepsArg, a.values.steps, "--steps");
    const stepSeconds =
      a.values["step-seconds"] === undefined
        ? undefined
        : check(secondsArg, a.values["step-seconds"], "--step-seconds");
    const kv = kvFrom(a.values);
    const release = a.values.release as string | undefined;
    const r = await changeDocument(kv, (cur) => applyStart(cur, steps, stepSeconds, { release }), {
      dryRun: Boolean(a.values["dry-run"]),
    });
    report(r, kv, io, `plan ${steps.join(" → ")} % (each held ${r.after.stepSeconds ?? 300}s while healthy) started`);
    return EXIT.OK;
  },
};
