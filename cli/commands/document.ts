// set, start: read-modify-write of the `rollout` document, through the controller when the Worker's
// URL and token are configured (the write carries the version it read; 409 if that changed), else
// through wrangler's KV commands with a warning (../doc-store.ts). The new document is validated
// with the Worker's own parser before anything is written; invalid → nothing written.
import { formatConfiguredPercent } from "../../src/lib/percent";
import { parseRollout } from "../../src/model/parse";
import type { Slot } from "../../src/model/rollout";
import { CliError, EXIT, check, percentArg, secondsArg, stepPercent, stepsArg, usageError } from "../args";
import { API_OPTIONS, KV_OPTIONS, noteFrom, type Command, type Io } from "../command";
import { applySet, applyStart, docText, problemsText, rawFromText, type Edit, type RawDoc } from "../doc-edit";
import { storeFrom, type DocumentStore } from "../doc-store";
import { kvFlagsFor, pickupNote } from "../kv";
import type { Parsed } from "../args";
import { planSummary, splitSummary } from "../render";

export interface WriteResult {
  before: RawDoc;
  after: RawDoc;
  text: string;
  notes: string[];
  written: boolean;
  /** The controller's attempt after the write (null: dry run, or written to KV directly). */
  attempt: number | null;
}

/** The one code path for document changes (CLI and demo): read, edit, validate, write. */
export async function changeDocument(
  store: DocumentStore,
  edit: (current: RawDoc) => Edit,
  opts: { dryRun?: boolean } = {},
): Promise<WriteResult> {
  const read = await store.read();
  const current = rawFromText(read.text);
  if (!current.ok) {
    throw new CliError(
      `the current rollout document in ${store.describe} is invalid, so it cannot be edited safely:\n${problemsText(current.problems)}\n` +
        `fix it with \`wrangler kv key put --binding ROLLOUT_CONFIG rollout '<json>' ${kvFlagsFor(store.kv)}\` (check it first with \`edgeshift validate <file>\`)`,
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
  const attempt = opts.dryRun ? null : await store.write(doc, text, read.version);
  return { before: current.doc, after: doc, text, notes, written: !opts.dryRun, attempt };
}

/** Where the command writes (and the raw-KV warning, on stderr, when it is KV). */
function storeOf(a: Parsed, io: Io): DocumentStore {
  const { store, warning } = storeFrom(a.values, io, {
    note: noteFrom(a.values, io),
    reason: a.values.reason as string | undefined,
  });
  if (warning && !a.values["dry-run"]) io.err(warning);
  return store;
}

function report(r: WriteResult, store: DocumentStore, io: Io, headline: string): void {
  const canary = (r.after.canary as Slot | undefined) ?? "green";
  if (!r.written) {
    io.out(`dry run, nothing written. The document would be:\n${r.text}`);
  } else {
    io.out(`${headline}: ${splitSummary(canary, r.after.percent as number)} — written to ${store.describe}`);
    if (r.attempt !== null)
      io.out(`attempt ${r.attempt} (a CI gate waits on it: edgeshift wait --attempt ${r.attempt})`);
  }
  for (const n of r.notes) io.out(`note: ${n}`);
  if (r.written) {
    io.out(
      store.kv === null
        ? "isolates route by it on their next report to the controller (about 2 s), before KV has propagated. Watch it: edgeshift watch"
        : `${pickupNote(store.kv, "rollout")}. Watch it: edgeshift watch`,
    );
  }
}

/** Options of the commands that write the document: the controller's (preferred), then raw KV's. */
const WRITE_OPTIONS = {
  url: {
    ...API_OPTIONS.url,
    help: "the Worker's base URL (env EDGESHIFT_URL): with a token, write through the controller; no default here",
  },
  token: API_OPTIONS.token,
  note: {
    type: "string" as const,
    value: "<text>",
    help: "free text kept with the event, e.g. who is at the keyboard (default: $USER); the actor is your token's name",
  },
  reason: { type: "string" as const, value: "<text>", help: "why (recorded with the event, and in its notifications)" },
  ...KV_OPTIONS,
};

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
    "Reads the document, changes `percent`, validates it like the Worker does, and writes it: through the controller",
    "(admin API, with the version it read: refused if the document changed meanwhile) when --url/EDGESHIFT_URL and",
    "--token/EDGESHIFT_TOKEN are set, else with `wrangler kv key get/put` (remote unless --local), with a warning.",
    "A manual split ends a running plan (removes `steps`).",
    "After a rollback, this is your new attempt: `rolledBack` is removed and `attempt` bumped.",
    "",
    "Examples:",
    "  edgeshift set 5 --release v2.4.0",
    "  edgeshift set 25 --local",
    "  edgeshift set 0            # everyone back on stable",
  ].join("\n"),
  options: { ...RELEASE_OPTION, ...WRITE_OPTIONS },
  async run(a, io) {
    if (a.positionals.length !== 1) throw usageError("set needs exactly one <percent>, e.g. `edgeshift set 25`");
    const percent = check(percentArg, a.positionals[0], "<percent>");
    if (percent !== Number(a.positionals[0]))
      io.err(`note: ${a.positionals[0]} % is set as ${percent} %: the split's resolution is 0.01 % (10,000 buckets)`);
    const store = storeOf(a, io);
    const release = a.values.release as string | undefined;
    const r = await changeDocument(store, (cur) => applySet(cur, percent, { release }), {
      dryRun: Boolean(a.values["dry-run"]),
    });
    const before = typeof r.before.percent === "number" ? r.before.percent : 0;
    report(r, store, io, `split ${formatConfiguredPercent(before)} → ${formatConfiguredPercent(percent)}`);
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
    "A step is a percent, optionally followed by options, each after a colon:",
    "  25:10m              held 10 minutes (its own hold time; --step-seconds for the rest)",
    "  50:approve          after the hold, wait for `edgeshift approve` (however long it takes)",
    "  50:approve=2h       wait for approval at most 2 hours, then keep waiting (recorded: event, notification)",
    "  50:approve=2h:rollback   …then roll back (or :promote, taking the step as approved)",
    "",
    "Examples:",
    "  edgeshift start --steps 1,5,25,50,100 --step-seconds 300 --release v2.4.0",
    "  edgeshift start --steps 1,5:10m,25,50:approve=8h:rollback,100 --release v2.4.0",
    "  edgeshift start --steps 10,50,100 --step-seconds 30 --local",
  ].join("\n"),
  options: {
    steps: {
      type: "string",
      value: "<list>",
      help: "ascending percents, comma-separated, each with optional :<hold> and :approve, e.g. 1,5,25:10m,50:approve,100",
    },
    "step-seconds": {
      type: "string",
      value: "<s>",
      help: "how long each step is held while healthy (document default 300)",
    },
    ...RELEASE_OPTION,
    ...WRITE_OPTIONS,
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
    const store = storeOf(a, io);
    const release = a.values.release as string | undefined;
    const r = await changeDocument(store, (cur) => applyStart(cur, steps, stepSeconds, { release }), {
      dryRun: Boolean(a.values["dry-run"]),
    });
    // The plan as the document now reads, defaults filled in: what the controller will run.
    const written = parseRollout(r.text);
    report(r, store, io, `plan ${written.ok ? planSummary(written.doc) : steps.map(stepPercent).join(" → ")} started`);
    return EXIT.OK;
  },
};
