// `edgeshift`: drive and watch a rollout from a terminal. Controller actions and views, and document
// changes, go through the admin API with the bearer token (a document change carries the version it
// read); without a Worker URL and token, document changes fall back to `wrangler kv key put`.
// Reference: docs/cli.md.
import { CliError, EXIT, EXIT_CODES_LINE, firstSentence, groupHelpText, helpText, parseCommandArgs } from "./args";
import type { Command, CommandGroup, Io } from "./command";
import { abort, approve, pause, promote, resume } from "./commands/actions";
import { set, start } from "./commands/document";
import { experiment } from "./commands/experiment";
import { flags } from "./commands/flags";
import { history, status, watch } from "./commands/observe";
import { token } from "./commands/token";
import { validate } from "./commands/validate";
import { wait } from "./commands/wait";
import { closest } from "../src/lib/closest";
import { notify } from "./commands/notify";

export const COMMANDS: (Command | CommandGroup)[] = [
  status,
  watch,
  wait,
  history,
  experiment,
  set,
  start,
  pause,
  resume,
  approve,
  promote,
  abort,
  validate,
  token,
  flags,
  notify,
];

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "edgeshift — progressive delivery at the edge: sticky blue/green canary splits, automatic rollback, staged plans",
    "",
    "Usage: edgeshift <command> [options]      (edgeshift <command> --help for its flags)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${firstSentence(c.summary)}`),
    "",
    "Admin API commands (status, watch, wait, history, experiment, pause, resume, approve, promote, abort, notify) use --url / EDGESHIFT_URL",
    "(default http://127.0.0.1:8787) and --token / EDGESHIFT_TOKEN. Document commands (set, start) write",
    "through the controller when both are set (refused, exit 1, if the document changed since it was read);",
    "otherwise wrangler's KV commands, with a warning: remote by default, --local [--persist-to DIR] for wrangler dev.",
    "flags always uses wrangler's KV commands (no admin API for flags yet; the last writer wins).",
    "",
    EXIT_CODES_LINE,
  ].join("\n");
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.out(topHelp());
    return name ? EXIT.OK : EXIT.USAGE;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    const near = closest(
      name,
      COMMANDS.map((c) => c.name),
    );
    io.err(
      `unknown command "${name}"${near ? `: did you mean "${near}"?` : ""}; commands: ${COMMANDS.map((c) => c.name).join(", ")} (edgeshift --help)`,
    );
    return EXIT.USAGE;
  }
  return "subcommands" in entry ? runGroup(entry, rest, io) : runCommand(entry, rest, io);
}

async function runGroup(group: CommandGroup, argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
    io.out(groupHelpText(group));
    return sub ? EXIT.OK : EXIT.USAGE;
  }
  const cmd = group.subcommands.find((c) => c.name === `${group.name} ${sub}`);
  if (!cmd) {
    const names = group.subcommands.map((c) => c.name.slice(group.name.length + 1));
    const near = closest(sub, names);
    io.err(
      `edgeshift ${group.name}: unknown subcommand "${sub}"${near ? `: did you mean "${near}"?` : ""}; subcommands: ${names.join(", ")} (edgeshift ${group.name} --help)`,
    );
    return EXIT.USAGE;
  }
  return runCommand(cmd, rest, io);
}

async function runCommand(cmd: Command, argv: string[], io: Io): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.out(helpText(cmd));
    return EXIT.OK;
  }
  try {
    return await cmd.run(parseCommandArgs(argv, cmd.options, cmd.name), io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`edgeshift ${cmd.name}: ${e.message}`);
      return e.exitCode;
    }
    io.err(`edgeshift ${cmd.name}: unexpected error: ${(e as Error).stack ?? e}`);
    return EXIT.FAILED;
  }
}

function processIo(): Io {
  const tty = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  return {
    out: (s) => process.stdout.write(s + "\n"),
    err: (s) => process.stderr.write(s + "\n"),
    env: process.env,
    style: { color: tty, width: process.stdout.columns ?? 100 },
  };
}

// Run only as the entry point (bin/edgeshift.mjs or `tsx cli/edgeshift.ts`), not when imported by tests.
const entry = process.argv[1] ?? "";
if (/edgeshift(\.ts|\.mjs)?$/.test(entry)) {
  main(process.argv.slice(2), processIo()).then((code) => {
    process.exitCode = code;
  });
}
