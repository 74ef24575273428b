// status, watch, history: read-only views through the admin API.
import { CliError, EXIT, check, limitArg, secondsArg } from "../args";
import { API_OPTIONS, JSON_OPTION, apiFrom, noPositionals, type Command } from "../command";
import { renderHistory, renderStatus } from "../render";

export const status: Command = {
  name: "status",
  usage: "status [options]",
  summary:
    "Show the split, roles, release, plan step, state, health verdicts, per-slot rates and latency over the window, the feature flags (a guarded flag's verdict and figures), and the last events.",
  details: "With --check, exits 1 when the canary is unhealthy or rolled back (for scripts and CI gates).",
  options: {
    ...API_OPTIONS,
    ...JSON_OPTION,
    check: { type: "boolean", help: "exit 1 if the canary is unhealthy or rolled back" },
    events: { type: "string", value: "<n>", help: "how many recent events to show (default 5)" },
  },
  async run(a, io) {
    noPositionals(a, "status");
    const events = a.values.events === undefined ? 5 : check(limitArg, a.values.events, "--events");
    const api = apiFrom(a.values, io);
    const s = await api.status();
    if (a.values.json) io.out(JSON.stringify(s, null, 2));
    else io.out(renderStatus(s, io.style, { url: api.target.url, events }));
    if (a.values.check && (s.state === "rolled-back" || !s.health.healthy)) {
      if (!a.values.json)
        io.err(
          `check failed: ${s.state === "rolled-back" ? `rolled back (${s.rolledBack?.reason ?? "no reason"})` : "canary unhealthy"}`,
        );
      return EXIT.FAILED;
    }
    return EXIT.OK;
  },
};

export const watch: Command = {
  name: "watch",
  usage: "watch [options]",
  summary: "The status view redrawn live, with the plan's progress bar and an error-rate chart per slot. Ctrl-C exits.",
  details:
    "Errors while watching (the Worker restarting, a network blip) are shown and retried; a missing token exits at once.",
  options: {
    ...API_OPTIONS,
    interval: { type: "string", value: "<seconds>", help: "seconds between refreshes (default 2)" },
  },
  async run(a, io) {
    noPositionals(a, "watch");
    const every = a.values.interval === undefined ? 2 : check(secondsArg, a.values.interval, "--interval");
    const api = apiFrom(a.values, io);
    let stop = false;
    let wake: () => void = () => {};
    const onInt = () => {
      stop = true;
      wake();
    };
    process.once("SIGINT", onInt);
    process.once("SIGTERM", onInt);
    const tty = io.style.color;
    if (tty) io.out("\x1b[?25l");
    try {
      let first = true;
      while (!stop) {
        let frame: string;
        try {
          const s = await api.status();
          frame = renderStatus(
            s,
            { ...io.style, width: process.stdout.columns ?? io.style.width },
            { url: api.target.url, events: 8 },
          );
        } catch (e) {
          if (e instanceof CliError && (first || e.exitCode === EXIT.USAGE)) throw e;
          frame = `edgeshift · ${api.target.url}\n\n${(e as Error).message}\n(retrying every ${every}s)`;
        }
        first = false;
        const stamp = `\n\n${new Date().toISOString().slice(11, 19)} · every ${every}s · Ctrl-C to exit`;
        io.out(tty ? `\x1b[H\x1b[2J${frame}${stamp}` : `${frame}${stamp}\n`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, every * 1000);
        });
      }
    } finally {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onInt);
      if (tty) io.out("\x1b[?25h");
    }
    return EXIT.OK;
  },
};

export const history: Command = {
  name: "history",
  usage: "history [options]",
  summary:
    "The controller's event log, newest first: attempts, steps, rollbacks with reasons and figures, operator actions.",
  options: {
    ...API_OPTIONS,
    ...JSON_OPTION,
    limit: { type: "string", value: "<n>", help: "how many events (default 20, at most 1000)" },
    data: { type: "boolean", help: "also print each event's data (figures, quorum, steps…) as JSON after its line" },
  },
  async run(a, io) {
    noPositionals(a, "history");
    const limit = a.values.limit === undefined ? 20 : check(limitArg, a.values.limit, "--limit");
    const events = await apiFrom(a.values, io).history(limit);
    io.out(
      a.values.json ? JSON.stringify({ events }, null, 2) : renderHistory(events, io.style, Boolean(a.values.data)),
    );
    return EXIT.OK;
  },
};
