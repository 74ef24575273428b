// flags: the feature flags in the `flags` KV document (src/model/flags.ts, beside `rollout` under the
// ROLLOUT_CONFIG binding). There is no admin API for flags yet, so every subcommand reads and writes
// with wrangler's KV commands (../kv.ts), the way `set` falls back to without a URL and token.
// Writes are read-modify-write of the JSON (../flags-edit.ts), validated whole before writing.
import { parseFlags } from "../../src/model/parse";
import { FLAGS_KEY } from "../../src/model/names";
import { NO_DOCUMENT } from "../../src/model/fingerprint";
import type { Flag, FlagsDocument } from "../../src/model/flags";
import { CliError, EXIT, check, percentArg, usageError, type Parsed } from "../args";
import {
  JSON_OPTION,
  KV_OPTIONS,
  KV_TARGET_OPTIONS,
  kvFrom,
  type Command,
  type CommandGroup,
  type Io,
} from "../command";
import { problemsText } from "../doc-edit";
import { changeFlag, fixByHand, setRolloutPercent, switchFlag, unknownFlag, type FlagEdit } from "../flags-edit";
import { changeLines, detail, renderFlag, renderFlagList, summarize } from "../flags-render";
import { describeKv, pickupNote, readDocText, writeDocText, type KvTarget } from "../kv";
import { validateCommand } from "./validate";

export const FLAGS_KV_WARNING =
  "warning: flags have no admin API yet: writing KV directly with wrangler. KV has no compare-and-swap, so the " +
  "last writer wins: a change someone else writes to the flags document between this command's read and its " +
  "write is lost (and theirs can overwrite this one). Keep one person or pipeline writing flags at a time.";

const LAST_WRITER_WINS =
  "KV has no compare-and-swap: the last writer wins. A change someone else writes to the flags document between\n" +
  "this command's read and its write is lost, so keep one person or pipeline writing flags at a time.";

/** The one <key> a subcommand takes. */
function keyOf(a: Parsed, sub: string): string {
  if (a.positionals.length !== 1)
    throw usageError(
      a.positionals.length === 0
        ? `flags ${sub} needs a flag's key, e.g. \`edgeshift flags ${sub} new-checkout\` (edgeshift flags list shows them)`
        : `flags ${sub} takes one key (got ${a.positionals.length}: ${a.positionals.join(" ")})`,
    );
  return a.positionals[0];
}

/** The document as the Worker reads it; an invalid one is exit 1 with its problems. */
async function readFlags(
  a: Parsed,
  io: Io,
): Promise<{ doc: FlagsDocument; fingerprint: string; where: string; kv: KvTarget }> {
  const kv = kvFrom(a.values, io);
  const where = describeKv(kv);
  const r = parseFlags(await readDocText(kv, FLAGS_KEY));
  if (!r.ok)
    throw new CliError(
      `the flags document in ${where} is invalid (the Worker keeps serving its last good flags):\n${problemsText(r.problems)}\n${fixByHand(kv)}`,
      EXIT.FAILED,
    );
  return { doc: r.doc, fingerprint: r.fingerprint, where, kv };
}

function flagOf(doc: FlagsDocument, fingerprint: string, key: string, kv: KvTarget): Flag {
  if (!Object.hasOwn(doc.flags, key)) throw unknownFlag(key, Object.keys(doc.flags), kv, fingerprint === NO_DOCUMENT);
  return doc.flags[key];
}

async function writeFlag(a: Parsed, io: Io, key: string, edit: FlagEdit): Promise<number> {
  const kv = kvFrom(a.values, io);
  const where = describeKv(kv);
  const dryRun = Boolean(a.values["dry-run"]);
  const change = changeFlag(await readDocText(kv, FLAGS_KEY), kv, key, edit);
  const writes = change.changed && !dryRun;
  if (writes) {
    io.err(FLAGS_KV_WARNING);
    await writeDocText(kv, FLAGS_KEY, change.text);
  }
  for (const line of changeLines(change, where, dryRun)) io.out(line);
  if (writes) io.out(`${pickupNote(kv, "flags")}.`);
  return EXIT.OK;
}

const READ_OPTIONS = { ...JSON_OPTION, ...KV_TARGET_OPTIONS };

const list: Command = {
  name: "flags list",
  usage: "flags list [options]",
  summary: "Every flag in the KV document: on/off, type, rollout percent and split, rules, where it is sent.",
  details: [
    "Reads the `flags` key with `wrangler kv key get` (remote unless --local). An invalid document is exit 1",
    "with its problems: the Worker keeps serving its last good flags meanwhile.",
    "",
    "Examples:",
    "  edgeshift flags list --local",
    "  edgeshift flags list --json | jq '.flags[] | select(.on == false) | .key'",
  ].join("\n"),
  options: READ_OPTIONS,
  async run(a, io) {
    if (a.positionals.length) throw usageError(`flags list takes no argument (got "${a.positionals[0]}")`);
    const { doc, fingerprint, where } = await readFlags(a, io);
    const n = Object.keys(doc.flags).length;
    if (a.values.json) {
      const flags = Object.entries(doc.flags).map(([k, f]) => summarize(k, f));
      io.out(JSON.stringify({ fingerprint, flags }, null, 2));
      return EXIT.OK;
    }
    if (fingerprint === NO_DOCUMENT) {
      io.out(`no flags document in ${where} (KV key "${FLAGS_KEY}"): no flags are evaluated`);
      return EXIT.OK;
    }
    io.out(`${n} flag${n === 1 ? "" : "s"} in ${where}`);
    io.out(renderFlagList(doc, io.style));
    return EXIT.OK;
  },
};

const show: Command = {
  name: "flags show",
  usage: "flags show <key> [options]",
  summary: "One flag in full: its variations, what it serves when off and by default, its rules and rollout.",
  details: "Example: edgeshift flags show new-checkout --local",
  options: READ_OPTIONS,
  async run(a, io) {
    const key = keyOf(a, "show");
    const { doc, fingerprint, kv } = await readFlags(a, io);
    const flag = flagOf(doc, fingerprint, key, kv);
    io.out(a.values.json ? JSON.stringify(detail(key, flag), null, 2) : renderFlag(key, flag, io.style));
    return EXIT.OK;
  },
};

const WRITE_DETAILS = [
  "Reads the `flags` document with `wrangler kv key get` (remote unless --local), changes this one field,",
  "validates the whole document with the Worker's parser and writes it back with `wrangler kv key put`",
  "(2-space JSON; every other flag and field kept as written). An invalid result is never written. The",
  "current document need not be valid, as long as the result is.",
  LAST_WRITER_WINS,
].join("\n");

function switchCommand(on: boolean): Command {
  const sub = on ? "on" : "off";
  return {
    name: `flags ${sub}`,
    usage: `flags ${sub} <key> [options]`,
    summary: on
      ? "Switch a flag back on: it is served by its rules, rollout and default again."
      : "The kill switch: everyone gets the flag's off variation, whatever its rules and rollout say.",
    details: [
      WRITE_DETAILS,
      "",
      "Examples:",
      `  edgeshift flags ${sub} new-checkout --local`,
      `  edgeshift flags ${sub} new-checkout            # remote KV (wrangler login)`,
    ].join("\n"),
    options: KV_OPTIONS,
    run: (a, io) => writeFlag(a, io, keyOf(a, sub), switchFlag(on)),
  };
}

const set: Command = {
  name: "flags set",
  usage: "flags set <key> --percent <n> [options]",
  summary:
    "Set a flag's rollout percent (0–100, 0.01 resolution); its split is kept, and raising the percent only adds visitors.",
  details: [
    WRITE_DETAILS,
    "`rollout` is created when the flag has none; a flag with several variations besides its default needs",
    "a `rollout.split` in the document first (the error says so).",
    "",
    "Examples:",
    "  edgeshift flags set new-checkout --percent 10 --local",
    "  edgeshift flags set new-checkout --percent 100 --dry-run",
  ].join("\n"),
  options: {
    percent: { type: "string", value: "<n>", help: "share of visitors in the rollout, 0–100 (e.g. 10 or 0.5)" },
    ...KV_OPTIONS,
  },
  async run(a, io) {
    const key = keyOf(a, "set");
    if (a.values.percent === undefined)
      throw usageError(`--percent is required, e.g. \`edgeshift flags set ${key} --percent 10\``);
    const percent = check(percentArg, a.values.percent, "--percent");
    return writeFlag(a, io, key, setRolloutPercent(percent));
  },
};

const validate = validateCommand({
  command: "flags validate",
  key: "flags",
  example: "flags.json",
  parse: parseFlags,
  keeps: "flags",
  summary: (doc, style) => {
    const n = Object.keys(doc.flags).length;
    return [`  ${n} flag${n === 1 ? "" : "s"}`, renderFlagList(doc, style)];
  },
});

export const flags: CommandGroup = {
  name: "flags",
  summary:
    "Feature flags in the `flags` KV document: list them, show one, switch one off or on, set its rollout percent, validate a file.",
  details: [
    "The flags live in the KV key `flags` beside `rollout` (binding ROLLOUT_CONFIG); the Worker re-reads it",
    "every FLAGS_TTL_SECONDS (15 s by default; FLAGS_MISSING_TTL_SECONDS, 60 s, while there is no `flags` key),",
    "once KV has the change. There is no admin API for flags yet: every subcommand uses wrangler's KV",
    "commands, remote by default, --local [--persist-to DIR] for wrangler dev. Writes (on, off, set) validate",
    "the whole new document with the Worker's parser first: an invalid document is never written.",
    LAST_WRITER_WINS,
  ].join("\n"),
  subcommands: [list, show, switchCommand(true), switchCommand(false), set, validate],
};
