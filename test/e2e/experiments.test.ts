// Experiments end to end (issue 12): `wrangler dev`, two real origins, the `rollout` and `flags`
// documents written with the real `wrangler kv key put --local`. New visitors view a page, then reach
// a sign-up the origin signals in x-edgeshift-goal (never shown to them) at the rate each origin is
// told. The controller's status, as `edgeshift status --json` reads it, counts each of them once in
// its arm, to the visitor and the conversion, and says green converts better.
import { afterAll, beforeAll, expect, it } from "vitest";
import { AdminApi } from "../../cli/api";
import { goalResult } from "../../src/experiments/result";
import type { Slot } from "../../src/model/rollout";
import type { ExperimentStatus, StatusSnapshot } from "../../src/model/status";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { addressOf } from "../../scripts/lib/traffic";
import { requestOnce } from "./http-once";

const RELEASE = "e2e-experiment";
const RATES: Record<Slot, number> = { blue: 0.1, green: 0.25 };
const SIGNUP = `/__convert/signup?blue=${RATES.blue}&green=${RATES.green}`;
// 600 visitors put about 300 in each arm (at least 255 at 3.5 σ), where the always-valid interval
// (src/experiments/result.ts, τ 0.03) of a 15-point difference is about ±11 points (±13 at 255):
// green is shown better whatever the split. The origin converts every 1/rate-th answer, not at
// random, so the rates themselves do not vary.
const VISITORS = 600;
const AT_ONCE = 10;
/**
 * A visitor of the test's own, routed by a rule (so left out of the experiment, as not drawn at
 * random): it shows when the documents are in force and makes the isolate report, without being
 * counted.
 */
const PROBE = { header: "x-e2e-probe", ip: "192.0.2.7" };
/** A flag only to see the flags document at the origin: its goals are in force from that request on. */
const MARKER = "e2e-marker";

let stack: DevStack;
let api: AdminApi;
beforeAll(async () => {
  stack = await startDevStack();
  api = new AdminApi({ url: stack.url, token: stack.adminToken });
});
afterAll(async () => {
  await stack?.stop();
});

let probeCookie = "";
/** One request of the probe visitor; what the origin received. */
async function probe(): Promise<{ release?: string; flags?: string }> {
  const headers: Record<string, string> = { [PROBE.header]: "1", "cf-connecting-ip": PROBE.ip };
  if (probeCookie) headers.cookie = `edgeshift_vid=${probeCookie}`;
  const r = await requestOnce(`${stack.url}/probe`, { headers });
  probeCookie ||= /edgeshift_vid=([^;]+)/.exec((r.headers["set-cookie"] ?? []).join("\n"))?.[1] ?? "";
  const seen = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
  return { release: seen["x-edgeshift-release"], flags: seen["x-edgeshift-flags"] };
}

/** The rollout's experiment in the status, after a probe request (so that the isolate reports). */
async function experiment(): Promise<{ status: StatusSnapshot; e: ExperimentStatus | undefined }> {
  await probe();
  const status = await api.status();
  return { status, e: status.experiments?.find((x) => x.subject === "rollout" && x.key === RELEASE) };
}

/** What one answer says of how it was routed (x-edgeshift-explain). */
interface Routed {
  slot: Slot;
  /** Sent to stable for want of a fresh verdict: counted in neither arm (src/worker/handler.ts). */
  diverted: boolean;
  failover: boolean;
}

function routedOf(explain: string | string[] | undefined): Routed {
  const e = String(explain);
  const slot = /(?:^|; )slot=(blue|green)(?:;|$)/.exec(e)?.[1] as Slot | undefined;
  if (!slot) throw new Error(`no slot in x-edgeshift-explain: ${e}`);
  return { slot, diverted: e.includes("diverted="), failover: e.includes("failover=") };
}

interface Visitor {
  answers: Routed[];
  /** The sign-up answer said "converted": the origin signalled the goal. */
  converted: boolean;
  /** The sign-up answer showed x-edgeshift-goal, which edgeshift must remove. */
  sawGoalHeader: boolean;
}

/** Visitor `i`: a page view, then the sign-up, with its cookie, from its own network. */
async function visit(i: number): Promise<Visitor> {
  const headers: Record<string, string> = {
    "cf-connecting-ip": addressOf(i),
    "x-edgeshift-explain": stack.adminToken,
  };
  const page = await requestOnce(`${stack.url}/welcome`, { headers });
  const cookie = /edgeshift_vid=([^;]+)/.exec((page.headers["set-cookie"] ?? []).join("\n"))?.[1];
  if (!cookie) throw new Error(`visitor ${i} got no visitor cookie (status ${page.status})`);
  const signup = await requestOnce(`${stack.url}${SIGNUP}`, {
    headers: { ...headers, cookie: `edgeshift_vid=${cookie}` },
  });
  return {
    answers: [routedOf(page.headers["x-edgeshift-explain"]), routedOf(signup.headers["x-edgeshift-explain"])],
    converted: signup.body.endsWith("converted\n"),
    sawGoalHeader: signup.headers["x-edgeshift-goal"] !== undefined,
  };
}

it("counts each visitor once in its arm, each conversion once, and shows green better with the interval narrowing", async () => {
  await stack.putFlags({
    flags: { [MARKER]: {} },
    goals: { signup: { signal: "signup" }, checkout: { method: "POST", path: "/checkout", status: "2xx" } },
  });
  await stack.putRollout({
    percent: 50,
    release: RELEASE,
    rules: [{ name: "e2e-probe", slot: "stable", header: { name: PROBE.header, values: ["1"] } }],
  });
  await waitFor("both documents at the origin", async () => {
    const seen = await probe();
    return seen.release === RELEASE && seen.flags?.includes(MARKER);
  });
  // The sample starts with the release; the probe is in it, left out (excluded), and nobody else.
  const start = await waitFor(
    "the controller's sample of the release, with the probe left out",
    async () => {
      const { e } = await experiment();
      return e?.result.excluded === 1 ? e : null;
    },
    20_000,
    500,
  );
  expect(start.result.rawVisitors).toEqual({ control: 0, treatment: 0 });

  const visitors: Visitor[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: AT_ONCE }, async () => {
      while (next < VISITORS) visitors.push(await visit(next++));
    }),
  );

  // What the controller must say, from what each visitor was answered: a visitor counts in the arm
  // that answered it, except for answers the gate diverted (in neither arm's counts).
  const arms = { blue: { n: 0, x: 0 }, green: { n: 0, x: 0 } };
  for (const v of visitors) {
    const counted = v.answers.filter((a) => !a.diverted);
    if (counted.length === 0) continue;
    const arm = arms[counted[0].slot];
    arm.n++;
    if (v.converted && !v.answers[1].diverted) arm.x++;
  }
  expect(visitors.filter((v) => v.sawGoalHeader)).toEqual([]);
  // Healthy origins: nothing failed over, and nobody changed arm between their two requests.
  expect(visitors.filter((v) => v.answers.some((a) => a.failover))).toEqual([]);
  expect(visitors.filter((v) => new Set(v.answers.filter((a) => !a.diverted).map((a) => a.slot)).size > 1)).toEqual([]);
  expect(arms.blue.n + arms.green.n).toBeGreaterThan(VISITORS * 0.95);

  // A visitor's sign-up may come in a later report than its page view: wait for both.
  const want = JSON.stringify(arms);
  const counted = await waitFor(
    `every visitor and conversion counted (${want})`,
    async () => {
      const { e } = await experiment();
      const signup = e?.result.goals.find((g) => g.goal === "signup");
      const got = JSON.stringify({
        blue: { n: e?.result.rawVisitors.control, x: signup?.control.conversions },
        green: { n: e?.result.rawVisitors.treatment, x: signup?.treatment.conversions },
      });
      if (got !== want) throw new Error(`counted ${got}`);
      return e;
    },
    30_000,
    500,
  );
  expect(counted).toMatchObject({
    arms: { control: "blue", treatment: "green" },
    percent: 50,
    active: true,
    previous: null,
  });
  const r = counted.result;
  // Each visitor on a network of its own weighs one; the probe is the one left out.
  expect(r.visitors).toEqual({ control: arms.blue.n, treatment: arms.green.n });
  expect({ crossed: r.crossed, excluded: r.excluded, crowded: r.crowded, sampled: r.sampled }).toEqual({
    crossed: 0,
    excluded: 1,
    crowded: 0,
    sampled: 1,
  });
  expect(r.sampleRatio).toMatchObject({ judged: true, mismatch: false });

  const signup = r.goals.find((g) => g.goal === "signup")!;
  expect(signup.control.conversions).toBe(arms.blue.x);
  expect(signup.treatment.conversions).toBe(arms.green.x);
  const expected = goalResult("signup", arms.blue, arms.green);
  expect(signup.difference).toBeCloseTo(expected.difference, 9);
  expect(signup.interval!.low).toBeCloseTo(expected.interval!.low, 9);
  expect(signup.interval!.high).toBeCloseTo(expected.interval!.high, 9);
  expect(signup.state).toBe("better");
  expect(signup.interval!.low).toBeGreaterThan(0);
  const truth = RATES.green - RATES.blue;
  expect(signup.interval!.low).toBeLessThan(truth);
  expect(signup.interval!.high).toBeGreaterThan(truth);
  // A goal declared and never reached is listed at zero, with no interval: nothing to compare yet.
  expect(r.goals.find((g) => g.goal === "checkout")).toMatchObject({
    control: { conversions: 0 },
    treatment: { conversions: 0 },
    state: "collecting",
    interval: null,
    waitingFor: "0.0 of 10 conversions expected in the smaller arm",
  });

  // The history keeps a point every 10 s at most (src/experiments/experiment.ts): wait for one taken
  // after the last visitor was counted, to see the interval from none to the one above.
  const { e: last } = await waitFor(
    "a history point with the final counts",
    async () => {
      const x = await experiment();
      const p = x.e?.history.at(-1)?.goals.signup;
      return p && p.low !== null && Math.abs(p.low - signup.interval!.low) < 1e-9 ? x : null;
    },
    20_000,
    1000,
  );
  const points = last!.history.map((p) => p.goals.signup);
  expect(points.length).toBeGreaterThanOrEqual(2);
  // The first point came with the probe's first report: nobody counted, no interval.
  expect(points[0]).toEqual({ difference: 0, low: null, high: null });
  const times = last!.history.map((p) => Date.parse(p.t));
  expect(times).toEqual([...times].sort((a, b) => a - b));
  expect(times[0]).toBeGreaterThanOrEqual(Date.parse(last!.since));
  expect(points.at(-1)!.high).toBeCloseTo(signup.interval!.high, 9);
});
