// validate: the Worker's own parser on a local file. Touches nothing (no KV, no network).
import { readFileSync } from "node:fs";
import { parseRollout } from "../../src/model/parse";
import { formatConfiguredPercent } from "../../src/lib/percent";
import { stepAt } from "../../src/model/rollout";
import { EXIT, usageError } from "../args";
import { JSON_OPTION, type Command } from "../command";
import { splitSummary } from "../render";

export const validate: Command = {
  name: "validate",
  usage: "validate <file|->",
  summary:
    "Check a rollout document against the schema with the same parser and messages as the Worker. Reads the file, touches nothing.",
  details:
    'Exit 0 when valid, 1 when invalid (each problem names the field and the fix), 2 when the file cannot be read.\n\nExample: edgeshift validate rollout.json && wrangler kv key put --binding ROLLOUT_CONFIG rollout "$(cat rollout.json)"',
  options: { ...JSON_OPTION },
  async run(a, io) {
    if (a.positionals.length !== 1)
      throw usageError("validate needs one file (or - for stdin), e.g. `edgeshift validate rollout.json`");
    const file = a.positionals[0];
    const label = file === "-" ? "stdin" : file;
    let text: string;
    try {
      text = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (e) {
      throw usageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const r = parseRollout(text);
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
        `✘ ${label}: ${r.problems.length} problem${r.problems.length > 1 ? "s" : ""} (the Worker would keep its last good config)`,
      );
      for (const p of r.problems) io.err(`  ${p.path || "(document)"}: ${p.message}`);
      return EXIT.FAILED;
    }
    const d = r.doc;
    const lines = [
      `✔ ${label} is valid`,
      `  split: ${splitSummary(d.canary, d.percent)}, sticky by ${d.stickyBy}${d.release ? `, release ${d.release}` : ""}`,
      d.steps
        ? `  plan: ${d.steps.map((_, i) => `${formatConfiguredPercent(stepAt(d, i).percent)} for ${stepAt(d, i).seconds}s`).join(" → ")}${d.autoPromote ? ", then promote" : ""}`
        : "  plan: none",
      d.rollback === false
        ? "  automatic rollback: OFF"
        : `  automatic rollback: canary error rate > ${formatConfiguredPercent(d.rollback.maxErrorRate * 100)}${d.rollback.relative ? ` (and ≥ ${d.rollback.relative.maxRatio}× stable's)` : ""} over ${d.rollback.windowSeconds}s, judged after ${d.rollback.minRequests} requests`,
    ];
    if (d.rolledBack)
      lines.push(
        `  rolledBack: ${d.rolledBack.reason} (remove it and bump "attempt" to retry; \`edgeshift set\` does both)`,
      );
    io.out(lines.join("\n"));
    return EXIT.OK;
  },
};
