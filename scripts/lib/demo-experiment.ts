// The demo's third scene (scripts/demo.ts): an experiment. A goal is declared beside the flags, the
// fixed release goes out at 50 %, and new visitors arrive, each once, at a page that signs up 10 %
// of blue's visitors and 16 % of green's (the origin's /__convert/ route, ./origin-server.ts:
// deterministic, so every run converges alike). The controller counts each visitor once in its
// arm; the scene prints the always-valid interval of green − blue as it narrows
// (src/experiments/result.ts) and ends when the whole interval lies above 0.
import { MIN_VISITORS } from "../../src/experiments/result";
import { formatPercent } from "../../src/lib/percent";
import type { Slot } from "../../src/model/rollout";
import type { ExperimentStatus, GoalResult, StatusSnapshot } from "../../src/model/status";
import { writeFlags, type Stage } from "./demo-stage";
import { addressOf } from "./traffic";

/** The release the scene ships: v2.0.0's fix. */
export const RELEASE = "v2.0.1";
const PERCENT = 50;
export const GOAL = "signup";
const RATES: Record<Slot, number> = { blue: 0.1, green: 0.16 };
const PAGE = `/__convert/${GOAL}?blue=${RATES.blue}&green=${RATES.green}`;
// About 1,300 visitors make the interval at τ 0.03 (src/experiments/result.ts) exclude a 6-point
// difference at these rates (a simulation of the split and the origin's carry: 1,250–1,350), so the
// result comes some 15 s after the release; past RESULT_WAIT_S something is wrong.
const ARRIVALS_PER_S = 100;
const MAX_IN_FLIGHT = 16;
const RESULT_WAIT_S = 90;
const LINE_EVERY_S = 2;
// The dev stack re-reads the flags every 2 s (FLAGS_TTL_SECONDS, ./dev-stack.ts); a second more for
// the read itself.
const GOALS_PICKUP_S = 3;
/** The looping visitors have addressOf(0 … visitors − 1); the new ones come after them, each its own. */
let nextAddress = 1000;

export interface Arrivals {
  sent: number;
  /** Answers by the origin that gave them, and how many of those signalled the goal ("converted"). */
  answered: Record<Slot, number>;
  converted: Record<Slot, number>;
  /** Answers that showed the visitor x-edgeshift-goal, which the Worker removes: stays 0. */
  leaked: number;
  failed: number;
  stop(): Promise<void>;
}

/**
 * New visitors at the sign-up page of the stack at `base`, each from its own network, each once,
 * `perSecond` of them a second.
 */
export function startArrivals(base: string, perSecond = ARRIVALS_PER_S): Arrivals {
  const url = base + PAGE;
  const a: Arrivals = {
    sent: 0,
    answered: { blue: 0, green: 0 },
    converted: { blue: 0, green: 0 },
    leaked: 0,
    failed: 0,
    stop: async () => {
      clearInterval(tick);
      await Promise.allSettled([...pending]);
    },
  };
  const pending = new Set<Promise<void>>();
  const one = async (address: string) => {
    try {
      const r = await fetch(url, { headers: { "cf-connecting-ip": address }, signal: AbortSignal.timeout(15_000) });
      const body = await r.text();
      const from = r.headers.get("x-origin");
      if (r.headers.has("x-edgeshift-goal")) a.leaked++;
      if (from !== "blue" && from !== "green") return void a.failed++;
      a.answered[from]++;
      if (body.endsWith("converted\n")) a.converted[from]++;
    } catch {
      a.failed++;
    }
  };
  const tick = setInterval(() => {
    // When the Worker is slower than the arrivals, ticks are skipped rather than piled up.
    if (pending.size >= MAX_IN_FLIGHT) return;
    a.sent++;
    const p = one(addressOf(nextAddress++)).finally(() => pending.delete(p));
    pending.add(p);
  }, 1000 / perSecond);
  return a;
}

const experimentOf = (s: StatusSnapshot | null): ExperimentStatus | undefined =>
  s?.experiments?.find((e) => e.subject === "rollout" && e.key === RELEASE);
const goalOf = (s: StatusSnapshot | null): GoalResult | undefined =>
  experimentOf(s)?.result.goals.find((g) => g.goal === GOAL);

/** The goal's result for the release as the controller has it now, in one line. */
export function resultLine(s: StatusSnapshot | null): string {
  const g = goalOf(s);
  return g ? goalLine(g) : `the controller has counted no visitor of ${RELEASE} yet`;
}

const sign = (x: number) => (x < 0 ? "−" : "+");
/** Points of a share difference, signed: +5.8, −1.2. */
const points = (d: number) => `${sign(d)}${Math.abs(d * 100).toFixed(1)}`;
/** A relative lift, signed, whole percent: +61 %. */
const relative = (l: number) => `${sign(l)}${Math.round(Math.abs(l * 100))} %`;
const STATE: Record<GoalResult["state"], string> = {
  collecting: "collecting",
  inconclusive: "inconclusive",
  better: "green better",
  worse: "green worse",
};

/** "signup: blue 10.1 % of 312 · green 15.9 % of 298 · +5.8 points [−4.1, +15.7] · inconclusive" */
function goalLine(g: GoalResult): string {
  const arm = (name: string, a: GoalResult["control"]) => `${name} ${formatPercent(a.rate)} of ${a.visitors}`;
  const interval = g.interval
    ? `[${points(g.interval.low)}, ${points(g.interval.high)}]`
    : `(an interval from ${MIN_VISITORS} visitors an arm)`;
  return `${g.goal}: ${arm("blue", g.control)} · ${arm("green", g.treatment)} · ${points(g.difference)} points ${interval} · ${STATE[g.state]}`;
}

/** The scene; true once the controller says green converts better. Acts `first` and `first + 1`. */
export async function experimentScene(st: Stage, first: number): Promise<boolean> {
  st.act(
    first,
    "An experiment",
    `The fix, ${RELEASE}, goes out at ${PERCENT} %: does green also sign up more visitors? A goal beside the flags, "${GOAL}", is reached ` +
      `when the origin lists it in x-edgeshift-goal (removed before the visitor sees it). The controller counts each visitor once, in its arm.`,
  );
  const flags = (await st.stack.getFlags()) ?? { flags: {} };
  const goals = { [GOAL]: { signal: GOAL } };
  await writeFlags(st, { ...flags, goals });
  // The goal goes in while the looping visitors still come: an isolate refreshes its cached flags
  // when requests arrive, so it reads the goal now and counts the very first sign-ups below.
  await new Promise((r) => setTimeout(r, GOALS_PICKUP_S * 1000));
  await st.traffic.stop();
  st.stack.green.setMode({ errorRate: 0 });
  st.say(
    `  The ${st.visitors} looping visitors leave; green answers without errors again. New visitors arrive, ~${ARRIVALS_PER_S} a second, ` +
      `each once: blue's page signs up ${formatPercent(RATES.blue, 0)} of them, green's ${formatPercent(RATES.green, 0)}.`,
  );
  await st.setPercent(PERCENT, RELEASE);
  const released = Date.now();
  const arrivals = startArrivals(st.stack.url);
  let snap: StatusSnapshot | null = null;
  try {
    for (let i = 1; i <= RESULT_WAIT_S && !st.stopping(); i++) {
      await new Promise((r) => setTimeout(r, 1000));
      snap = await st.status();
      if (goalOf(snap)?.state === "better") break;
      if (i % LINE_EVERY_S === 0)
        st.live(`  ${st.stamp()}  sent ${String(arrivals.sent).padStart(4)} │ ${resultLine(snap)}`);
    }
  } finally {
    await arrivals.stop();
  }
  const g = goalOf(snap);
  const e = experimentOf(snap);
  if (g?.state !== "better" || !e) {
    st.say(
      `\n✘ green not shown better ${Math.round((Date.now() - released) / 1000)} s after the release (${arrivals.sent} visitors sent, ${arrivals.failed} without an answer)`,
    );
    st.say(`  controller: ${resultLine(snap)}`);
    return false;
  }

  const seconds = (Date.now() - released) / 1000;
  st.act(
    first + 1,
    "Green converts better",
    `${seconds.toFixed(0)} s after the release the interval of green − blue lies above 0. It is always valid: ` +
      "it may be watched as it narrows and read the moment it leaves 0 behind, with its 95 % guarantee intact.",
  );
  st.say(`  result:  ${goalLine(g)}`);
  if (g.lift !== null)
    st.say(
      `  lift:    ${relative(g.lift)} over blue's rate${g.liftInterval ? ` (≈ [${relative(g.liftInterval.low)}, ${relative(g.liftInterval.high)}])` : ""}`,
    );
  const r = e.result;
  st.say(
    `  counted: ${(r.visitors.control + r.visitors.treatment).toLocaleString("en-US")} visitors, each once in its arm (${r.crossed} seen in both, ${r.excluded} not drawn at random, left out)` +
      (r.sampleRatio ? ` · ${r.sampleRatio.detail}` : ""),
  );
  // The origins' own count runs a little ahead of the controller's: the last second's answers were
  // not reported yet when the result came.
  const share = (s: Slot) => formatPercent(arrivals.converted[s] / Math.max(1, arrivals.answered[s]));
  st.say(
    `  origins: blue signalled ${GOAL} on ${share("blue")} of its ${arrivals.answered.blue} answers, green on ${share("green")} of ${arrivals.answered.green} · ` +
      `visitors who saw x-edgeshift-goal: ${arrivals.leaked}`,
  );
  if (arrivals.leaked > 0) {
    st.say(`\n✘ ${arrivals.leaked} answers showed the visitor x-edgeshift-goal, which edgeshift must remove`);
    return false;
  }
  return true;
}
