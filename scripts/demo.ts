// `npm start`: the whole story on a laptop, no Cloudflare account. Two demo origins (blue :8101,
// green :8102), the Worker under `wrangler dev` (:8787), simulated visitors, then a rollout: a few
// percent, more, green starts failing, and the controller rolls it back on its own. Then a guarded
// feature flag (./lib/demo-flag.ts): ramped, its code path broken, switched off by the controller.
// Then an experiment (./lib/demo-experiment.ts): the fixed release at 50 %, a goal, new visitors,
// and the interval of green's advantage narrowing until it says green converts better.
//
//   npm start                 the story, then stop
//   npm start -- --keep       the story, then keep everything running to play with (Ctrl-C stops)
//   npm start -- --once       unattended (CI): exit 0 once the rollback and the flag's kill are confirmed in KV
//                             and the controller says green converts better, else 1
//   npm start -- --quiet      no per-second lines: the scenes, their headlines and summaries
//
// Document changes use the CLI's own code path (`edgeshift set`, `edgeshift flags set` → real
// `wrangler kv key put --local --persist-to <the demo's temp dir>`), printed as commands that reach it.
import net from "node:net";
import { parseArgs } from "node:util";
import { AdminApi } from "../cli/api";
import { changeDocument } from "../cli/commands/document";
import { kvStore } from "../cli/doc-store";
import { applySet } from "../cli/doc-edit";
import type { KvTarget } from "../cli/kv";
import { figuresSummary } from "../cli/render";
import { formatConfiguredPercent, formatPercent } from "../src/lib/percent";
import type { StatusSnapshot } from "../src/model/status";
import { FLAG, flagScene } from "./lib/demo-flag";
import {
  experimentScene,
  resultLine,
  startArrivals,
  GOAL,
  RELEASE as EXPERIMENT_RELEASE,
  type Arrivals,
} from "./lib/demo-experiment";
import { kvOptions, type Stage } from "./lib/demo-stage";
import { startDevStack, type DevStack } from "./lib/dev-stack";
import { startHookReceiver, type HookReceiver } from "./lib/hook-receiver";
import { onStopSignals } from "./lib/stop-signals";
import { startTraffic, type Traffic } from "./lib/traffic";

/** Once Ctrl-C (SIGTERM, SIGHUP) arrives the story says nothing more: what it was doing fails as the stack stops under it. */
let interrupted = false;
const say = (s = "") => {
  if (!interrupted) console.log(s);
};

const PORTS = { blue: 8101, green: 8102, worker: 8787 };
// A public demo value, but as long as a real one must be (32+ characters, src/worker/credentials.ts).
const TOKEN = "edgeshift-demo-token-not-a-secret";
// The same for tester override tokens (≥ 16 characters): so `edgeshift token` can be tried on a kept stack.
const OVERRIDE_SECRET = "edgeshift-demo-override-not-a-secret";
const RELEASE = "v2.0.0";
const VISITORS = 300;

const OPTIONS = {
  once: { type: "boolean" },
  quiet: { type: "boolean" },
  keep: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;
const USAGE =
  "npm start [-- --once] [-- --quiet] [-- --keep]\n  --once   unattended: exit 0 once the rollback and the flag's kill are confirmed in KV and green is shown to convert better, 1 otherwise\n  --quiet  no per-second lines: the scenes' headlines and summaries only\n  --keep   keep running after the story (Ctrl-C stops)";
let flags: { once?: boolean; quiet?: boolean; keep?: boolean; help?: boolean };
try {
  flags = parseArgs({ options: OPTIONS }).values;
} catch (e) {
  // parseArgs says e.g. "Unknown option '--kep'. To specify a positional argument starting with a '-', …".
  const valid = Object.keys(OPTIONS).map((o) => `--${o}`);
  say(
    `npm start: ${(e as Error).message.split(". ")[0]}; the options are ${valid.join(", ")} (after \`--\`: npm start -- --keep)`,
  );
  process.exit(2);
}
if (flags.help) {
  say(USAGE);
  process.exit(0);
}
// `npm start --keep` (no `--`) gives --keep to npm, which warns 'Unknown cli config' and hands it on
// only as npm_config_keep in the environment: honour what the person asked for.
for (const name of ["keep", "once"] as const)
  if (!flags[name] && process.env[`npm_config_${name}`] === "true") {
    flags[name] = true;
    say(`(--${name} reached npm, not the demo; taken as \`npm start -- --${name}\`)`);
  }
// Unattended runs keep the holds short; a person watching gets time to read. The flag's steps are
// shorter still: by then the split's steps have shown what a ramp looks like.
const HOLD_S = flags.once ? 5 : 10;
const FLAG_HOLD_S = flags.once ? 3 : 6;
const ROLLBACK_WAIT_S = 60;
const KEEP_ARRIVALS_PER_S = 20;

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const act = (n: number, title: string, text: string) => say(`\n${bold(`▶ ${n}. ${title}`)}\n  ${text}`);
const live = (line: string) => {
  if (!flags.quiet) say(line);
};

let starting: Promise<DevStack> | undefined;
let stack: DevStack | undefined;
/** Stands in for a Slack channel and PagerDuty: what the controller's notifications would say there. */
let hooks: HookReceiver | undefined;
let traffic: Traffic | undefined;
let arrivals: Arrivals | undefined;
/**
 * Aborted by Ctrl-C, SIGTERM or SIGHUP: the story's waits end (hold() throws), a `wrangler dev` still
 * starting is stopped, and its `wrangler kv` commands (the KV target's and the stack's) are ended or
 * refused: one started while the stack stops would re-create the removed temp dir with a Miniflare
 * of its own, in no process group anyone stops.
 */
const abort = new AbortController();
const stopping = () => abort.signal.aborted;
const t0 = Date.now();

// One shutdown, whoever asks first. A Ctrl-C also reaches the story's own wrangler processes (same
// process group), so main() fails under it and asks again: that second call waits for the same
// cleanup and keeps the first call's exit code (130, not 1).
let cleanup: { code: number; done: Promise<void> } | undefined;
/** main() running; the shutdown a signal starts lets it end first (up to STORY_SETTLE_MS). */
let story: Promise<number> | undefined;
// main() ends within about a second of the abort (a hold's second, a wrangler kv's SIGTERM); longer
// only if something hangs, and then the stack stops under it: its kv commands are refused by then.
const STORY_SETTLE_MS = 3000;
async function shutdown(code: number): Promise<never> {
  cleanup ??= {
    code,
    done: (async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([story?.catch(() => {}), new Promise((r) => (timer = setTimeout(r, STORY_SETTLE_MS)))]);
      clearTimeout(timer);
      await traffic?.stop();
      await arrivals?.stop();
      await starting?.then(
        (s) => s.stop(),
        () => {}, // it stopped its stack itself
      );
      await hooks?.close();
    })(),
  };
  await cleanup.done;
  process.exit(cleanup.code);
}
// No watchdog process to stop wrangler dev should this one be SIGKILLed. What did that in normal use
// was tsx's CLI, whose signal relay SIGKILLs a child that does not acknowledge a signal within 30 ms;
// `npm start` runs node itself (`node --import tsx`), so only a kill -9 or the OOM killer is left,
// dev-stack's exit hook covers every exit node sees, and a watchdog would be one more process to leave.
onStopSignals(
  (code) => {
    say("\nstopping: traffic, wrangler dev (and its workerd), origins… (Ctrl-C again to leave at once)");
    interrupted = true;
    abort.abort();
    void shutdown(code);
  },
  // A second Ctrl-C leaves at once; dev-stack's exit hook still kills wrangler's process group.
  (code) => process.exit(code),
);

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer().once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function fetchStatus(api: AdminApi): Promise<StatusSnapshot | null> {
  try {
    return await api.status();
  } catch {
    return null;
  }
}

/** Time since the demo started, padded for the per-second lines. */
const stamp = () => `+${Math.round((Date.now() - t0) / 1000)}s`.padStart(5);

function liveLine(percent: number, s: StatusSnapshot | null): string {
  const sec = traffic!.lastSecond();
  const total = sec.blue + sec.green;
  const greenShare = total ? sec.green / total : 0;
  let line = `  ${stamp()}  split ${formatConfiguredPercent(s?.percent ?? percent).padStart(5)} │ answered by blue ${String(sec.blue).padStart(3)}/s, green ${String(sec.green).padStart(3)}/s (${formatPercent(greenShare, 0).padStart(5)}) │ 5xx to users ${sec.errors5xx}`;
  if (s) {
    const c = s.window.canary;
    const st = s.window.stable;
    line += ` │ controller: ${s.roles.canary} ${c.requests ? formatPercent(c.errorRate) : "–"} errors (${c.requests} req), ${s.roles.stable} ${st.requests ? formatPercent(st.errorRate) : "–"} (${st.requests}) · ${s.state}`;
  }
  return line;
}

/** Waits `seconds`, printing `line` every `every` seconds (unless --quiet). */
async function hold(
  seconds: number,
  api: AdminApi,
  line: (s: StatusSnapshot | null) => string,
  every = 1,
): Promise<void> {
  for (let i = 1; i <= seconds && !stopping(); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    if (!flags.quiet && i % every === 0) say(line(await fetchStatus(api)));
  }
  // The story must not go on to its next step (a shutdown waits for main() to end).
  if (stopping()) throw new Error("stopped");
}
const split = (percent: number) => (s: StatusSnapshot | null) => liveLine(percent, s);

async function setPercent(kv: KvTarget, percent: number, release = RELEASE): Promise<void> {
  const r = await changeDocument(kvStore(kv), (cur) => applySet(cur, percent, { release }));
  say(
    `  $ npm run edgeshift -- set ${percent} --release ${release} ${kvOptions(kv)}   → wrote ${JSON.stringify({ percent: r.after.percent, release: r.after.release, attempt: r.after.attempt })}`,
  );
  for (const n of r.notes) say(`    note: ${n}`);
}

/**
 * What the local stand-ins for a Slack channel and PagerDuty received, waiting up to 5 s for a Slack
 * message containing one of `expect`: the controller sends in the background, just after deciding.
 */
async function notified(expect: string[]): Promise<string> {
  const slackText = () =>
    hooks!.received.filter((r) => r.path === "/slack").map((r) => (JSON.parse(r.body) as { text: string }).text);
  for (let i = 0; i < 50 && !stopping() && !slackText().some((t) => expect.some((e) => t.includes(e))); i++)
    await new Promise((r) => setTimeout(r, 100));
  const slack = slackText().filter((t) => expect.some((e) => t.includes(e)));
  const pages = hooks!.received
    .filter((r) => r.path === "/pagerduty/v2/enqueue")
    .map((r) => JSON.parse(r.body) as { event_action: string; dedup_key: string });
  const lines = [
    `  notified: Slack #releases ← ${slack.length ? `"${slack.at(-1)!.slice(0, 90)}…"` : "nothing yet"}`,
    ...pages.map((p) => `            PagerDuty ← ${p.event_action} ${p.dedup_key}`),
  ];
  return lines.join("\n");
}

async function main(): Promise<number> {
  for (const [name, port] of Object.entries(PORTS)) {
    if (!(await portFree(port))) {
      say(`port ${port} (${name}) is in use: another \`npm start\` or \`wrangler dev\`? Stop it and run again.`);
      return 1;
    }
  }
  say(
    bold("edgeshift demo") +
      ` — blue (stable) on :${PORTS.blue}, green (canary) on :${PORTS.green}, the Worker on :${PORTS.worker}`,
  );
  say("  starting the origins and `wrangler dev` (about 10–20 s)…");
  hooks = await startHookReceiver();
  if (stopping()) return 130;
  starting = startDevStack({
    bluePort: PORTS.blue,
    greenPort: PORTS.green,
    port: PORTS.worker,
    adminToken: TOKEN,
    overrideSecret: OVERRIDE_SECRET,
    notifications: {
      config: {
        statusUrl: `http://127.0.0.1:${PORTS.worker}/__edgeshift/`,
        destinations: [
          { type: "slack", name: "releases", urlSecret: "SLACK_WEBHOOK_URL" },
          {
            type: "pagerduty",
            name: "oncall",
            routingKeySecret: "PAGERDUTY_ROUTING_KEY",
            source: "demo",
            url: `${hooks.url}/pagerduty`,
          },
        ],
      },
      secrets: { SLACK_WEBHOOK_URL: `${hooks.url}/slack`, PAGERDUTY_ROUTING_KEY: "demo-routing-key-not-a-secret" },
    },
    signal: abort.signal,
  });
  stack = await starting;
  const api = new AdminApi({ url: stack.url, token: TOKEN });
  const kv: KvTarget = { local: true, persistTo: stack.persistDir, signal: abort.signal };
  const pageUrl = `${stack.url}/__edgeshift/#token=${TOKEN}`;

  traffic = startTraffic({ url: stack.url, visitors: VISITORS, rate: 40, flag: FLAG });
  say(
    `  up. ${VISITORS} simulated visitors send ~40 requests/s (90 % GET, 10 % POST /checkout), each keeping its cookies.`,
  );
  say(`  status page: ${pageUrl}`);

  act(1, "Everyone on stable", "No rollout document yet: every visitor is answered by blue.");
  await hold(Math.min(3, HOLD_S), api, split(0));

  act(
    2,
    "A few percent on the canary",
    `5 % of visitors (by a hash of their visitor cookie) go to green, release ${RELEASE}. The same visitors stay there: the split is sticky.`,
  );
  await setPercent(kv, 5);
  await hold(HOLD_S, api, split(5));
  const greenAt5 = traffic.visitorIdsOn("green");

  act(3, "More", "25 %. Raising the percent only adds visitors to green; nobody already on green moves back.");
  await setPercent(kv, 25);
  await hold(HOLD_S, api, split(25));
  const greenAt25 = traffic.visitorIdsOn("green");
  const stayed = [...greenAt5].filter((i) => greenAt25.has(i)).length;
  say(
    `  sticky: ${stayed} of the ${greenAt5.size} visitors answered by green at 5 % are still answered by green at 25 % (${greenAt25.size} visitors on green now)`,
  );
  const onGreen = traffic.visitorsOn().green;

  act(
    4,
    "Green starts failing",
    "Half of green's answers are now 500s. Isolates report outcomes to the controller (a Durable Object) every ~2 s; " +
      "it compares green's error rate with blue's over the window and rolls back on its own. Failed GETs are retried on blue, so users get blue's answer.",
  );
  stack.green.setMode({ errorRate: 0.5 });
  const failingSince = Date.now();
  const errorsBefore = traffic.totals.errors5xx;
  const getErrorsBefore = traffic.totals.get5xx;
  let snap: StatusSnapshot | null = null;
  // The KV document is the record an operator reads with `wrangler kv key get`: the story ends when
  // it shows the rollback (checked every other second: each read is a wrangler process).
  let doc: any = null;
  for (let i = 0; i < ROLLBACK_WAIT_S && !stopping(); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    snap = await fetchStatus(api);
    live(liveLine(snap?.percent ?? 25, snap));
    if (i % 2 === 1 || snap?.rolledBack) {
      doc = await stack.getRollout().catch(() => null);
      if (doc?.rolledBack) break;
    }
  }
  if (!doc?.rolledBack) {
    say(
      `\n✘ no rollback recorded in KV ${Math.round((Date.now() - failingSince) / 1000)} s after green started failing (KV document: ${JSON.stringify(doc)})`,
    );
    if (snap) say(`  controller: state ${snap.state}, health ${JSON.stringify(snap.health.verdicts)}`);
    else say("  the admin API did not answer /__edgeshift/api/status");
    return 1;
  }
  const seconds = ((Date.parse(doc.rolledBack.at) || Date.now()) - failingSince) / 1000;
  // A moment for isolates to adopt it, then show that green gets nothing.
  await hold(2, api, split(0));
  const after = traffic.lastSecond();

  act(
    5,
    "Rolled back",
    `edgeshift pulled green ${seconds.toFixed(1)} s after it started failing. Nobody had to act; the release channel and on-call were told.`,
  );
  say(`  reason:  ${doc.rolledBack.reason}`);
  if (doc.rolledBack.figures) say(`  figures: ${figuresSummary(doc.rolledBack.figures)}`);
  say(
    `  KV now:  percent ${doc.percent}, rolledBack.at ${doc.rolledBack.at} (what \`npx wrangler kv key get --binding ROLLOUT_CONFIG rollout ${kvOptions(kv)}\` shows)`,
  );
  say(
    `  traffic: last second blue ${after.blue}/s, green ${after.green}/s · ${onGreen} of ${VISITORS} visitors had been on green`,
  );
  const all5xx = traffic.totals.errors5xx - errorsBefore;
  const get5xx = traffic.totals.get5xx - getErrorsBefore;
  say(
    `  users saw ${all5xx} × 5xx while green failed: ${all5xx - get5xx} on POST /checkout (never replayed), ${get5xx} on GETs (failed GETs are retried on blue)`,
  );
  say(await notified(["rolled back"]));

  const stage: Stage = {
    stack,
    kv,
    traffic,
    visitors: VISITORS,
    holdS: FLAG_HOLD_S,
    say,
    act,
    stamp,
    status: () => fetchStatus(api),
    live,
    hold: (seconds, line) => hold(seconds, api, line),
    setPercent: (percent, release) => setPercent(kv, percent, release),
    stopping,
  };
  if (!(await flagScene(stage, 6))) return 1;
  if (!(await experimentScene(stage, 10))) return 1;

  // Without --keep the stack and its temp directory go away below: commands for them would not work.
  if (!(flags.keep && !flags.once)) {
    say(
      `\nThe stack stops now. \`npm start -- --keep\` keeps it running after the story, with the status page and the CLI's commands (status, history, watch, notify test, experiment, promote, flags) to try on it.`,
    );
  } else {
    say(`\n${bold("See it")}`);
    say(`  status page:  ${pageUrl}`);
    say(`  CLI:          export EDGESHIFT_URL=${stack.url} EDGESHIFT_TOKEN=${TOKEN}`);
    say(`                npm run edgeshift -- status        # split, health, window, events`);
    say(`                npm run edgeshift -- history       # the rollback, the flag's kill and why`);
    say(`                npm run edgeshift -- watch         # live, Ctrl-C to leave`);
    say(
      `                npm run edgeshift -- notify test   # a test message to Slack and PagerDuty (local stand-ins here)`,
    );
    say(`                npm run edgeshift -- experiment    # ${GOAL} per arm, the difference and its interval`);
    say(
      `                npm run edgeshift -- promote       # ${EXPERIMENT_RELEASE} won: green becomes stable for everyone (and the rollback's PagerDuty incident is resolved)`,
    );
    say(
      `  the flag:     npm run edgeshift -- flags show ${FLAG} ${kvOptions(kv)}   # off; \`flags on ${FLAG}\` with the same options switches it on again`,
    );
    say(
      `  a tester:     export OVERRIDE_SECRET=${OVERRIDE_SECRET}; curl -s -H "x-edgeshift-override: $(npm run -s edgeshift -- token --target canary --sub you)" ${stack.url}/   # the canary, whatever the split`,
    );
    // New visitors keep coming to the sign-up page, so the experiment goes on counting at the rates
    // it showed (the looping visitors, who never sign up, would change what it measures).
    arrivals = startArrivals(stack.url, KEEP_ARRIVALS_PER_S);
    say(
      `\n${bold("Still running")} (--keep): ${EXPERIMENT_RELEASE} at 50 %, ~${KEEP_ARRIVALS_PER_S} new visitors a second at the sign-up page, each once; ` +
        "the interval goes on narrowing. Try the commands above. Ctrl-C stops everything.",
    );
    while (!stopping()) await hold(60, api, (s) => `  ${stamp()}  ${resultLine(s)}`, 5);
  }
  say(
    `\n✔ demo done in ${Math.round((Date.now() - t0) / 1000)} s: rollback and flag kill confirmed in KV, green shown to convert better.`,
  );
  return 0;
}

story = main();
story
  .then((code) => shutdown(code))
  .catch(async (e) => {
    say(`\n✘ demo failed: ${(e as Error).message}`);
    await shutdown(1);
  });
