// The demo's second scene (scripts/demo.ts): a guarded feature flag ramped to more visitors, its
// code path broken at the origin, and the controller switching it off on its own. The first write is
// the one `edgeshift flags` tells an operator to make for a new flag (a validated `wrangler kv key
// put`, there being no create command); the ramp is `edgeshift flags set` itself (cli/edgeshift.ts).
import { main as edgeshift } from "../../cli/edgeshift";
import { figuresSummary } from "../../cli/render";
import { shellWord } from "../../cli/shell-word";
import { formatConfiguredPercent, formatPercent } from "../../src/lib/percent";
import { FLAGS_KEY } from "../../src/model/names";
import type { FlagStatus, StatusSnapshot } from "../../src/model/status";
import { kvArgv, kvOptions, writeFlags, type Stage } from "./demo-stage";

/** The flag the scene ramps and breaks; the demo's traffic follows it from the start. */
export const FLAG = "new-layout";
const FIRST_PERCENT = 10;
const RAMP_PERCENT = 50;
// The canary's rollback wait: a kill slower than this is a failure to report, not to wait out.
const KILL_WAIT_S = 60;
// After KV shows the kill, how long a request may still carry the flag before the demo says so.
const QUIET_WAIT_S = 10;

const flagOf = (s: StatusSnapshot | null): FlagStatus | undefined => s?.flags?.flags.find((f) => f.key === FLAG);
const rate = (a: { requests: number; errorRate: number }) => (a.requests ? formatPercent(a.errorRate) : "–");

function flagLine(st: Stage, percent: number, s: StatusSnapshot | null): string {
  const sec = st.traffic.lastSecond();
  const f = flagOf(s);
  const shown = f && !f.on ? "OFF" : formatConfiguredPercent(f?.percent ?? percent);
  let line = `  ${st.stamp()}  flag ${shown.padStart(5)} │ requests with it ${String(sec.flagOn).padStart(3)}/s, without ${String(sec.flagOff).padStart(3)}/s │ visitors who got it ${String(st.traffic.flagVisitors().given).padStart(3)} │ 5xx to users ${sec.errors5xx}`;
  if (f?.guard) {
    const { treatment: t, control: c } = f.guard;
    const verdict = f.killed ? "killed" : f.guard.healthy ? "healthy" : "failing";
    line += ` │ controller: with it ${rate(t)} errors (${t.requests} req, ${t.visitors} visitors), without ${rate(c)} (${c.requests}, ${c.visitors}) · ${verdict}`;
  }
  return line;
}

/** `edgeshift flags set <FLAG> --percent <n>` on the demo's KV, run by the CLI's own entry point. */
async function setFlagPercent(st: Stage, percent: number): Promise<void> {
  const out: string[] = [];
  const err: string[] = [];
  const argv = ["flags", "set", FLAG, "--percent", String(percent), ...kvArgv(st.kv)];
  const command = argv.map(shellWord).join(" ");
  const code = await edgeshift(argv, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: process.env,
    style: { color: false, width: 100 },
    signal: st.kv.signal,
  });
  if (code !== 0) throw new Error(`edgeshift ${command} exited ${code}: ${err.join(" ")}`);
  // The first line says what was written; the pickup note and the last-writer-wins warning are for operators.
  st.say(`  $ npm run edgeshift -- ${command}   → ${out[0]}`);
}

/** The scene; true once KV shows the flag switched off by the controller. Acts `first`… `first + 3`. */
export async function flagScene(st: Stage, first: number): Promise<boolean> {
  const { traffic } = st;
  st.act(
    first,
    "A guarded feature flag",
    `"${FLAG}" on for ${FIRST_PERCENT} % of visitors (by a hash of their visitor cookie and the flag's key); the origin gets it in x-edgeshift-flags. ` +
      "Guarded: the controller compares the requests of visitors who have it with those who do not, by the canary's rules.",
  );
  await writeFlags(st, { flags: { [FLAG]: { rollout: { percent: FIRST_PERCENT }, guard: true } } });
  await st.hold(st.holdS, (s) => flagLine(st, FIRST_PERCENT, s));

  st.act(
    first + 1,
    "Ramp it",
    `${RAMP_PERCENT} %, with the CLI. As with the split, raising the percent only adds visitors; a new comparison starts.`,
  );
  await setFlagPercent(st, RAMP_PERCENT);
  await st.hold(st.holdS, (s) => flagLine(st, RAMP_PERCENT, s));
  const v = traffic.flagVisitors();
  st.say(
    `  sticky: of the ${v.given} visitors who got it, ${v.cameBack} came back and ${v.lost} of them lost it (raising the percent only adds visitors)`,
  );

  st.act(
    first + 2,
    "The new layout breaks",
    `Every request now goes to /__flagfail/${FLAG}/500/…, which the origin fails with a 500 when x-edgeshift-flags says ${FLAG} is true: ` +
      "the visitors who have the flag get errors whichever origin answers, so failover cannot hide it. The controller judges them against the others.",
  );
  traffic.setPathPrefix(`/__flagfail/${FLAG}/500`);
  const failingSince = Date.now();
  const errorsBefore = traffic.totals.errors5xx;
  let snap: StatusSnapshot | null = null;
  // The KV document is what an operator reads with `wrangler kv key get`: the scene ends when it says
  // off (read every other second, or as soon as the controller says killed: each read is a wrangler process).
  let flag: { on?: boolean } | undefined;
  for (let i = 0; i < KILL_WAIT_S && !st.stopping(); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    snap = await st.status();
    st.live(flagLine(st, RAMP_PERCENT, snap));
    if (i % 2 === 1 || flagOf(snap)?.killed) {
      flag = (await st.stack.getFlags().catch(() => null))?.flags?.[FLAG];
      if (flag?.on === false) break;
    }
  }
  if (flag?.on !== false) {
    st.say(
      `\n✘ ${FLAG} not switched off in KV ${Math.round((Date.now() - failingSince) / 1000)} s after its code path started failing (KV: ${JSON.stringify(flag ?? null)})`,
    );
    const f = flagOf(snap);
    if (f?.guard)
      st.say(`  controller: ${FLAG} ${f.guard.healthy ? "healthy" : "failing"}, ${JSON.stringify(f.guard.verdicts)}`);
    else st.say(`  the controller's status shows no guard for ${FLAG}`);
    return false;
  }
  // Isolates heard of the kill from the controller before KV said it; a request already under way may
  // still carry the flag, so wait for a whole second without one.
  for (let i = 0; i < QUIET_WAIT_S && traffic.lastSecond().flagOn > 0 && !st.stopping(); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    st.live(flagLine(st, RAMP_PERCENT, await st.status()));
  }
  const after = traffic.lastSecond();
  const event = (await st.status())?.events.find((e) => e.kind === "flag-killed" && e.data?.flag === FLAG);

  const seconds = ((Date.parse(event?.at ?? "") || Date.now()) - failingSince) / 1000;
  st.act(
    first + 3,
    "Switched off",
    `The controller switched ${FLAG} off ${seconds.toFixed(1)} s after its code path started failing: in every isolate at once, then in KV. Nobody had to act.`,
  );
  if (event) {
    st.say(`  event:   ${event.kind}: ${event.reason}`);
    const figures = event.data?.figures as Record<string, unknown> | undefined;
    if (figures) st.say(`  figures: ${figuresSummary(figures, { canary: "with it", stable: "without" })}`);
  } else st.say("  event:   (the controller's status did not list the flag-killed event)");
  st.say(
    `  KV now:  "${FLAG}": ${JSON.stringify(flag)} (what \`npx wrangler kv key get --binding ROLLOUT_CONFIG ${FLAGS_KEY} ${kvOptions(st.kv)}\` shows)`,
  );
  st.say(
    `  traffic: last second requests with it ${after.flagOn}/s, without ${after.flagOff}/s, 5xx to users ${after.errors5xx} · ${traffic.flagVisitors().given} of ${st.visitors} visitors got the flag in all`,
  );
  st.say(`  users saw ${traffic.totals.errors5xx - errorsBefore} × 5xx from the moment the code path broke until now`);
  return true;
}
