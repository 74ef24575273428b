// What a command is, and the option groups commands share (admin API, KV access, output).
import os from "node:os";
import { AdminApi, DEFAULT_URL } from "./api";
import {
  check,
  usageError,
  urlArg,
  type CommandGroupHelp,
  type CommandHelp,
  type OptionSpecs,
  type Parsed,
} from "./args";
import type { KvTarget } from "./kv";
import type { Style } from "./render";

export interface Io {
  out(s: string): void;
  err(s: string): void;
  env: NodeJS.ProcessEnv;
  style: Style;
  /** A caller running the CLI in-process (the demo) stops the wrangler commands it runs with this. */
  signal?: AbortSignal;
}

export interface Command extends CommandHelp {
  run(args: Parsed, io: Io): Promise<number>;
}

/**
 * A command made of subcommands (`flags list`, `flags off <key>`). Each subcommand is a Command
 * named with the group's name in front ("flags off"), so its --help, its errors and its parse
 * errors name it the way it is typed.
 */
export interface CommandGroup extends CommandGroupHelp {
  subcommands: Command[];
}

export const API_OPTIONS: OptionSpecs = {
  url: { type: "string", value: "<url>", help: `the Worker's base URL (env EDGESHIFT_URL; default ${DEFAULT_URL})` },
  token: {
    type: "string",
    value: "<token>",
    help: "admin bearer token, the Worker's ADMIN_TOKEN (env EDGESHIFT_TOKEN)",
  },
};

/** Where wrangler's KV commands read and write (cli/kv.ts). */
export const KV_TARGET_OPTIONS: OptionSpecs = {
  local: { type: "boolean", help: "use wrangler dev's local KV instead of the remote namespace" },
  "persist-to": {
    type: "string",
    value: "<dir>",
    help: "local state directory, as passed to `wrangler dev --persist-to` (with --local)",
  },
  config: { type: "string", value: "<file>", help: "wrangler config file (default: this project's wrangler.toml)" },
  env: { type: "string", value: "<name>", help: "wrangler environment ([env.<name>] in wrangler.toml)" },
};

export const KV_OPTIONS: OptionSpecs = {
  ...KV_TARGET_OPTIONS,
  "dry-run": { type: "boolean", help: "print the document that would be written, write nothing" },
};

export const JSON_OPTION: OptionSpecs = {
  json: { type: "boolean", help: "machine-readable JSON on stdout (stable shape, see docs/cli.md)" },
};

export function apiFrom(v: Parsed["values"], io: Io): AdminApi {
  const url = check(
    urlArg,
    (v.url as string | undefined) ?? io.env.EDGESHIFT_URL ?? DEFAULT_URL,
    v.url ? "--url" : io.env.EDGESHIFT_URL ? "EDGESHIFT_URL" : "--url",
  );
  const token = (v.token as string | undefined) ?? io.env.EDGESHIFT_TOKEN;
  return new AdminApi({ url, token: token || undefined });
}

/**
 * The note kept with an event: --note, else the login name. Who acts is the admin token's name,
 * decided by the Worker (src/admin/auth.ts); this is only who is at the keyboard.
 */
export function noteFrom(v: Parsed["values"], io: Io): string {
  const given = (v.note as string | undefined) ?? io.env.USER;
  if (given) return given;
  try {
    return os.userInfo().username;
  } catch {
    return "cli";
  }
}

export function kvFrom(v: Parsed["values"], io: Pick<Io, "signal">): KvTarget {
  if (v["persist-to"] && !v.local)
    throw usageError("--persist-to: only applies to local KV; add --local (e.g. --local --persist-to .wrangler/state)");
  return {
    local: Boolean(v.local),
    persistTo: v["persist-to"] as string | undefined,
    config: v.config as string | undefined,
    env: v.env as string | undefined,
    signal: io.signal,
  };
}

export function noPositionals(a: Parsed, cmd: string): void {
  if (a.positionals.length)
    throw usageError(`unexpected argument "${a.positionals[0]}"; run \`edgeshift ${cmd} --help\``);
}
