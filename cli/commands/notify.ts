// notify test: a test message to each notification destination through the admin API, to check a
// new destination or secret before a rollback depends on it (docs/notifications.md).
import { EXIT } from "../args";
import { API_OPTIONS, JSON_OPTION, apiFrom, type Command, type CommandGroup } from "../command";
import { painter } from "../render";

const test: Command = {
  name: "notify test",
  usage: "notify test [<destination>] [options]",
  summary:
    "Send a test message to every notification destination (or the one named) now, one try each, and say how each went.",
  details: [
    "Nothing is queued or retried and no event is recorded; PagerDuty gets a change event, never an incident.",
    "Exit 1 when any destination did not accept it (its answer, or the secret that is not set, is printed).",
    "Example: edgeshift notify test releases",
  ].join("\n"),
  options: { ...API_OPTIONS, ...JSON_OPTION },
  async run(a, io) {
    const [destination, ...extra] = a.positionals;
    if (extra.length) {
      io.err(`notify test takes at most one destination, got ${a.positionals.length}: ${a.positionals.join(" ")}`);
      return EXIT.USAGE;
    }
    const results = await apiFrom(a.values, io).notifyTest(destination);
    if (a.values.json) io.out(JSON.stringify({ results }, null, 2));
    else if (results.length === 0)
      io.out(
        "no notification destination is configured: set NOTIFICATIONS on the control Worker (docs/notifications.md)",
      );
    else {
      const p = painter(io.style.color);
      for (const r of results) io.out(`${r.ok ? p("✔", "green") : p("✘", "red")} ${r.name} (${r.type}): ${r.detail}`);
    }
    return results.every((r) => r.ok) ? EXIT.OK : EXIT.FAILED;
  },
};

export const notify: CommandGroup = {
  name: "notify",
  summary: "Notifications: `notify test` checks that each destination receives edgeshift's messages.",
  details:
    "Destinations are the control Worker's NOTIFICATIONS variable; `edgeshift status` shows each one's deliveries.",
  subcommands: [test],
};
