// experiment: the experiments over the goals (issue 12), read from the controller's status through
// the admin API like `status`; the rendering is ../experiment-render.ts.
import { closest } from "../../src/lib/closest";
import type { ExperimentStatus } from "../../src/model/status";
import { EXIT, usageError } from "../args";
import { API_OPTIONS, JSON_OPTION, apiFrom, type Command } from "../command";
import { NO_GOALS, renderExperiments, subjectName } from "../experiment-render";

/** The experiment `subject` names ("rollout" or a flag's key); an unknown one is exit 2 naming the known. */
export function pickExperiment(list: readonly ExperimentStatus[], subject: string): ExperimentStatus {
  const found = list.find((e) => subjectName(e) === subject);
  if (found) return found;
  if (list.length === 0) throw usageError(`no experiment "${subject}": ${NO_GOALS}`);
  const names = list.map(subjectName);
  const near = closest(subject, names);
  throw usageError(
    `no experiment "${subject}"${near ? ` (did you mean "${near}"?)` : ""}; experiments: ${names.join(", ")} (\`rollout\` for the split, a flag's key for its guard's)`,
  );
}

export const experiment: Command = {
  name: "experiment",
  usage: "experiment [<subject>] [options]",
  summary:
    "The experiments over the goals: per goal, each arm's conversion rate, the difference with its always-valid interval, the lift, and whether the treatment is shown better or worse.",
  details: [
    "<subject>: `rollout` (the canary against stable) or a guarded flag's key (its treatment against its",
    "control); without one, every experiment. A goal's state: collecting (fewer than 100 visitors in an",
    "arm), no difference shown yet (the interval holds 0), treatment better or treatment worse (the whole",
    "interval above or below 0). The interval stays valid however often you look: stop when it excludes 0.",
    'Goals are declared in the `flags` KV document (docs/storage-schema.md, "Goals").',
    "",
    "Examples:",
    "  edgeshift experiment",
    "  edgeshift experiment new-checkout",
    "  edgeshift experiment rollout --json | jq '.result.goals[] | select(.state != \"collecting\")'",
  ].join("\n"),
  options: { ...API_OPTIONS, ...JSON_OPTION },
  async run(a, io) {
    if (a.positionals.length > 1)
      throw usageError(
        `experiment takes at most one subject (got ${a.positionals.length}: ${a.positionals.join(" ")}); run \`edgeshift experiment\` for all`,
      );
    const subject = a.positionals[0];
    const list = (await apiFrom(a.values, io).status()).experiments ?? [];
    const picked = subject === undefined ? null : pickExperiment(list, subject);
    if (a.values.json) io.out(JSON.stringify(picked ?? list, null, 2));
    else io.out(renderExperiments(picked ? [picked] : list, io.style));
    return EXIT.OK;
  },
};
