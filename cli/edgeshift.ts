// `edgeshift`: drive and watch a rollout from a terminal. Controller actions and views, and document
// changes, go through the admin API with the bearer token (a document change carries the version it
// read); without a Worker URL and token, document changes fall back to `wrangler kv key put`.
// Reference: docs/cli.md.
import { CliError, EXIT, helpText, parseCommandArgs } from "./args";
import type { Command, Io } from "./command";
import { abort, pause, promote, resume } from "./commands/actions";
import { set, start } from "./commands/document";
import { history, status, watch } from "./commands/observe";
import { token } from "./commands/token";
import { validate } from "./commands/validate";

export const COMMANDS: Command[] = [status, watch, history, set, start, pause, resume, promote, abort, validate, token];

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "edgeshift — progressive delivery at the edge: sticky blue/green canary splits, automatic rollback, staged plans",
    "",
    "Usage: edgeshift <command> [options]      (edgeshift <command> --help for its flags)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary.split(/(?<=\.)\s/)[0]}`),
    "",
    "Admin API commands (status, watch, history, pause, resume, promote, abort) use --url / EDGESHIFT_URL",
    "(default http://127.0.0.1:8787) and --token / EDGESHIFT_TOKEN. Document commands (set, start) write",
    "through the controller when both are set (refused, exit 1, if the document changed since it was read);",
    "otherwise wrangler's KV commands, with a warning: remote by default, --local [--persist-to DIR] for wrangler dev.",
    "",
    "Exit codes: 0 ok · 1 failed (refused, invalid, unhealthy) · 2 bad usage/input · 3 Worker or KV unreachable",
  ].join("\n");
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.out(topHelp());
    return name ? EXIT.OK : EXIT.USAGE;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.err(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(", ")} (edgeshift --help)`);
    return EXIT.USAGE;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(helpText(cmd));
    return EXIT.OK;
  }
  try {
    return await cmd.run(parseCommandArgs(rest, cmd.options, cmd.name), io);
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
