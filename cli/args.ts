// Argument handling shared by every command: node:util parseArgs for the syntax, zod for the
// values, and one error type that carries the exit code a script can rely on.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";
import { MAX_LIFETIME_SECONDS, parseTtl } from "../src/routing/override";
import { ON_TIMEOUT, type OnTimeout } from "../src/model/rollout";
import { closest } from "../src/lib/closest";

/**
 * Exit codes (docs/cli.md). Scripts branch on these, so they never change meaning:
 * | code | meaning |
 * |---|---|
 * | 0 | done |
 * | 1 | the command ran and failed: API refused (401/409/503…), document invalid, `--check` unhealthy |
 * | 2 | invalid input or usage: unknown flag, bad value; nothing was changed |
 * | 3 | cannot reach the Worker (admin API) or KV (wrangler) |
 * `wait` adds one code per outcome (10–14): WAIT_EXIT in ./wait-gate.ts.
 */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, UNREACHABLE: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}
export const usageError = (msg: string) => new CliError(msg, EXIT.USAGE);

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Shown in --help, e.g. "<url>". */
  value?: string;
  help: string;
  /** May be given more than once: its value is then a list. */
  multiple?: boolean;
}
export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Strict parse: an unknown flag or a missing value is a usage error naming the flag. */
export function parseCommandArgs(argv: string[], options: OptionSpecs, command: string): Parsed {
  const config: ParseArgsConfig = {
    args: argv,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(
      Object.entries(options).map(([k, o]) => [
        k,
        { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
      ]),
    ),
  };
  try {
    const { values, positionals } = parseArgs(config);
    return { values: values as Parsed["values"], positionals };
  } catch (e) {
    // node's messages are good ("Unknown option '--precent'"); add the likely one and where to look.
    const message = (e as Error).message.replace(/\. To specify a positional.*$/s, "");
    const unknown = /^Unknown option '--([^']+)'/.exec(message)?.[1];
    const near = unknown === undefined ? undefined : closest(unknown, Object.keys(options));
    throw usageError(
      `${message}${near ? `: did you mean --${near}?` : ""}\nrun \`edgeshift ${command} --help\` for the flags it takes`,
    );
  }
}

/** Validates one value with zod; the error names the flag, the value and a fix. */
export function check<T>(schema: z.ZodType<T>, value: unknown, flag: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const got = value === undefined ? "nothing" : JSON.stringify(value);
  throw usageError(`${flag}: ${r.error.issues[0]?.message ?? "invalid"} (got ${got})`);
}

/** A percent as typed on the command line, "25" or "0.5"; same range and resolution as the document. */
export const percentArg = z
  .string({ error: "needs a percent from 0 to 100, e.g. `edgeshift set 25`" })
  .regex(/^\d+(\.\d+)?$/, "must be a number from 0 to 100, e.g. 25 or 0.5")
  .transform(Number)
  .pipe(z.number().min(0, "must be at least 0").max(100, "must be at most 100, e.g. 100 for everyone"))
  .transform((n) => Math.round(n * 100) / 100);

/**
 * One plan step as the document writes it: a bare percent, or an object when the step has its own hold
 * time or waits for a person's approval (src/model/rollout.ts, `stepSchema`).
 */
export type StepArg =
  number | { percent: number; seconds?: number; approve?: true; approveTimeoutSeconds?: number; onTimeout?: OnTimeout };

const ON_TIMEOUT_WORDS: readonly string[] = ON_TIMEOUT;
const STEP_EXAMPLE = "e.g. --steps 1,5:10m,25,50:approve,100 or 50:approve=2h:rollback";

/**
 * One step as typed: `<percent>[:<option>…]`, options
 * - a duration (`10m`, `90s`, `1h`, bare seconds): this step's hold time, in place of --step-seconds;
 * - `approve`: after the hold, wait for `edgeshift approve`;
 * - `approve=<duration>`: …for at most that long, then do what the next option says (default: keep waiting);
 * - `wait`, `rollback` or `promote`: what happens when nobody approves in time (the document's onTimeout).
 * The document's own rules (ascending, ranges) are checked again when it is written.
 */
function stepOf(text: string, ctx: z.RefinementCtx): StepArg {
  const [head, ...opts] = text.split(":").map((t) => t.trim());
  const pct = percentArg.safeParse(head);
  if (!pct.success) {
    ctx.addIssue({ code: "custom", message: `step "${text}": the percent ${pct.error.issues[0]?.message}` });
    return NaN;
  }
  if (opts.length === 0) return pct.data;
  const step: Exclude<StepArg, number> = { percent: pct.data };
  const bad = (message: string) => ctx.addIssue({ code: "custom", message: `step "${text}": ${message}` });
  // Each option once: "rollback:promote" or two hold times would leave one of them silently ignored.
  const once = (what: string, given: unknown) => {
    if (given === undefined) return true;
    bad(`${what} is given twice: keep one`);
    return false;
  };
  for (const opt of opts) {
    const [word, value] = opt.split("=", 2).map((t) => t.trim()) as [string, string | undefined];
    if (word === "approve") {
      if (!once("approve", step.approve)) continue;
      step.approve = true;
      if (value === undefined) continue;
      const t = stepSeconds(value);
      if (typeof t === "string") bad(`approve=${value}: how long to wait for approval ${t}, such as 2h`);
      else step.approveTimeoutSeconds = t;
    } else if (ON_TIMEOUT_WORDS.includes(word) && value === undefined) {
      if (once("what an approval timeout does", step.onTimeout)) step.onTimeout = word as OnTimeout;
    } else {
      const t = value === undefined ? stepSeconds(word) : null;
      if (t === null || (typeof t === "string" && parseTtl(word) === null))
        bad(
          `"${opt}" is not a step option: a hold time (10m, 90s), approve, approve=<duration>, or what an approval timeout does (wait, rollback, promote)`,
        );
      else if (typeof t === "string") bad(`the hold time ${word} ${t}`);
      else if (once("a hold time", step.seconds)) step.seconds = t;
    }
  }
  if (step.onTimeout !== undefined && step.approveTimeoutSeconds === undefined)
    bad(
      `"${step.onTimeout}" happens when an approval times out: give the wait, e.g. ${step.percent}:approve=2h:${step.onTimeout}`,
    );
  return step;
}

/** A step's duration in seconds, or what is wrong with it (the document's range: 1 s to 30 days). */
function stepSeconds(text: string): number | string {
  const t = parseTtl(text);
  if (t === null) return "must be a duration from 1s to 30d";
  if (t < 1 || t > 30 * 86400) return "must be from 1s to 30d";
  return t;
}

/** Seconds as a person typed them: 600 → "10m", 28800 → "8h", 90 → "90s". */
export function durationText(seconds: number): string {
  for (const [unit, n] of [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
  ] as const)
    if (seconds % n === 0) return `${seconds / n}${unit}`;
  return `${seconds}s`;
}

/** The percent a step moves to. */
export const stepPercent = (s: StepArg): number => (typeof s === "number" ? s : s.percent);

/** "1,5:10m,25,50:approve,100" → steps, strictly ascending. */
export const stepsArg = z
  .string({ error: `is required, ${STEP_EXAMPLE}` })
  .transform((s, ctx) => s.split(",").map((p) => stepOf(p.trim(), ctx)))
  .pipe(
    z
      .array(z.custom<StepArg>())
      .min(1)
      .max(50, "may hold at most 50 steps: a plan of a few steps such as 1,5,25,50,100"),
  )
  .refine(
    (ss) => ss.every((p, i) => i === 0 || stepPercent(p) > stepPercent(ss[i - 1])),
    "must be strictly ascending percents, e.g. --steps 1,5,25,50,100",
  )
  .refine((ss) => stepPercent(ss[0]) > 0, "the first step must be above 0, e.g. --steps 1,5,25");

export const secondsArg = z
  .string()
  .regex(/^\d+$/, "must be a whole number of seconds, e.g. 300")
  .transform(Number)
  .pipe(
    z
      .number()
      .int()
      .min(1, "must be at least 1")
      .max(30 * 86400, "must be at most 2592000 (30 days)"),
  );

/**
 * "90s", "30m", "8h", "7d" (or bare seconds) → seconds, read the way the override module reads it,
 * between `min` and `max` seconds; `tooLong` may say why the limit is there.
 */
export const durationBetween = (min: number, max: number, tooShort: string, tooLong: string) =>
  z
    .string()
    .transform((s, ctx) => {
      const n = parseTtl(s);
      if (n === null)
        ctx.addIssue({ code: "custom", message: "must be a duration such as 30m, 8h or 7d (or 90s, or bare seconds)" });
      return n ?? 0;
    })
    .pipe(z.number().min(min, tooShort).max(max, tooLong));

/** A token's lifetime. */
export const durationArg = durationBetween(
  60,
  MAX_LIFETIME_SECONDS,
  "must be at least 1m",
  "must be at most 30d: tokens are short-lived by design (mint a new one rather than hold a forever-token)",
);

export const limitArg = z
  .string()
  .regex(/^\d+$/, "must be a whole number, e.g. --limit 20")
  .transform(Number)
  .pipe(z.number().int().min(1, "must be at least 1, e.g. --limit 20").max(1000, "must be at most 1000"));

export const urlArg = z.url({
  protocol: /^https?$/,
  error: "must be an http(s) URL such as https://app.example.com or http://127.0.0.1:8787",
});

/** What `--help` shows of a command (a Command without its `run`). */
export interface CommandHelp {
  name: string;
  /** First help line, e.g. "set <percent> [options]". */
  usage: string;
  summary: string;
  details?: string;
  options: OptionSpecs;
}

/** What `--help` shows of a group of subcommands (a CommandGroup without their `run`). */
export interface CommandGroupHelp {
  name: string;
  summary: string;
  details?: string;
  subcommands: CommandHelp[];
}

export const EXIT_CODES_LINE =
  "Exit codes: 0 ok · 1 failed (refused, invalid, unhealthy) · 2 bad usage/input · 3 Worker or KV unreachable";

/** The first sentence of a summary: one line per command in a listing. */
export const firstSentence = (summary: string) => summary.split(/(?<=\.)\s/)[0];

/** Usage text of a group: its subcommands as typed (without the group's name), one line each. */
export function groupHelpText(group: CommandGroupHelp): string {
  const usages = group.subcommands.map((c) => c.usage.slice(group.name.length + 1).replace(/ \[options\]$/, ""));
  const w = Math.max(...usages.map((u) => u.length)) + 2;
  return [
    `edgeshift ${group.name} <subcommand> [options]      (edgeshift ${group.name} <subcommand> --help for its options)`,
    "",
    group.summary,
    "",
    "Subcommands:",
    ...group.subcommands.map((c, i) => `  ${usages[i].padEnd(w)}${firstSentence(c.summary)}`),
    ...(group.details ? ["", group.details] : []),
    "",
    EXIT_CODES_LINE,
  ].join("\n");
}

/** Usage text of a command, from the same specs the parser uses. */
export function helpText(cmd: CommandHelp): string {
  const rows = Object.entries(cmd.options).map(([k, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${k}${o.value ? ` ${o.value}` : ""}`;
    return `  ${flag.padEnd(30)} ${o.help}`;
  });
  return [
    `edgeshift ${cmd.usage}`,
    "",
    cmd.summary,
    ...(cmd.details ? ["", cmd.details] : []),
    "",
    "Options:",
    ...rows,
    `      ${"--help".padEnd(26)} show this help`,
    "",
    EXIT_CODES_LINE,
  ].join("\n");
}
