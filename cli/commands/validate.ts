// validate: the Worker's own parser on a local file. Touches nothing (no KV, no network).
// `flags validate` (./flags.ts) is the same check for the `flags` document.
import { readFileSync } from "node:fs";
import { parseRollout, type DocumentResult } from "../../src/model/parse";
import { formatConfiguredPercent } from "../../src/lib/percent";
import type { Rollout } from "../../src/model/rollout";
import { EXIT, usageError, type Parsed } from "../args";
import { JSON_OPTION, type Command, type Io } from "../command";
import { planSummary, splitSummary, type Style } from "../render";

export interface FileCheck<T> {
  /** The command as typed: "validate", "flags validate". */
  command: string;
  /** The document's KV key: "rollout", "flags". */
  key: string;
  /** A file name for the examples. */
  example: string;
  parse(text: string): DocumentResult<T>;
  /** What the Worker keeps while the document is invalid: "config", "flags". */
  keeps: string;
  /** Lines after "✔ <file> is valid". */
  summary(doc: T, style: Style): string[];
}

/** A `validate` command for one kind of document. */
export function validateCommand<T>(check: FileCheck<T>): Command {
  return {
    name: check.command,
    usage: `${check.command} <file|->`,
    summary: `Check a ${check.key} document against the schema with the same parser and messages as the Worker. Reads the file, touches nothing.`,
    details:
      "Exit 0 when valid, 1 when invalid (each problem as `path: message`, naming the field and the fix), 2 when the file cannot be read.\n\n" +
      `Example: edgeshift ${check.command} ${check.example} && wrangler kv key put --binding ROLLOUT_CONFIG ${check.key} "$(cat ${check.example})" --remote\n` +
      "(--remote: wrangler's `kv key` commands write local storage without it; --local for wrangler dev)",
    options: { ...JSON_OPTION },
    run: async (a, io) => validateFile(a, io, check),
  };
}

/** Exit 0 valid, 1 invalid (each problem on stderr as `path: message`), 2 unreadable. */
function validateFile<T>(a: Parsed, io: Io, check: FileCheck<T>): number {
  if (a.positionals.length !== 1)
    throw usageError(
      `${check.command} needs one file (or - for stdin), e.g. \`edgeshift ${check.command} ${check.example}\``,
    );
  const file = a.positionals[0];
  const label = file === "-" ? "stdin" : file;
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw usageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const r = check.parse(text);
  if (a.values.json) {
    io.out(
      JSON.stringify(
        r.ok
          ? { ok: true, fingerprint: r.fingerprint, doc: r.doc }
          : { ok: false, fingerprint: r.fingerprint, problems: r.problems },
        null,
        2,
      ),
    );
    return r.ok ? EXIT.OK : EXIT.FAILED;
  }
  if (!r.ok) {
    io.err(
      `✘ ${label}: ${r.problems.length} problem${r.problems.length > 1 ? "s" : ""} (the Worker would keep its last good ${check.keeps})`,
    );
    for (const p of r.problems) io.err(`  ${p.path || "(document)"}: ${p.message}`);
    return EXIT.FAILED;
  }
  io.out([`✔ ${label} is valid`, ...check.summary(r.doc, io.style)].join("\n"));
  return EXIT.OK;
}

function rolloutSummary(d: Rollout): string[] {
  const lines = [
    `  split: ${splitSummary(d.canary, d.percent)}, sticky by ${d.stickyBy}${d.release ? `, release ${d.release}` : ""}`,
    d.steps ? `  plan: ${planSummary(d)}${d.autoPromote ? ", then promote" : ""}` : "  plan: none",
    d.rollback === false
      ? "  automatic rollback: OFF"
      : `  automatic rollback: canary error rate > ${formatConfiguredPercent(d.rollback.maxErrorRate * 100)}${d.rollback.relative ? ` (and ≥ ${d.rollback.relative.maxRatio}× stable's)` : ""} over ${d.rollback.windowSeconds}s, judged after ${d.rollback.minRequests} requests`,
  ];
  if (d.rolledBack)
    lines.push(
      `  rolledBack: ${d.rolledBack.reason} (remove it and bump "attempt" to retry; \`edgeshift set\` does both)`,
    );
  return lines;
}

export const validate = validateCommand({
  command: "validate",
  key: "rollout",
  example: "rollout.json",
  parse: parseRollout,
  keeps: "config",
  summary: rolloutSummary,
});
