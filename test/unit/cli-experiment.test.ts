// `edgeshift experiment`: what a person reads off an experiment (cli/experiment-render.ts) and how
// the command picks one (cli/commands/experiment.ts). The experiments are the controller's own:
// visitors fed through the real tally (src/experiments/experiment.ts), so every figure shown is one
// the status would carry. A small HTTP server stands in for the admin API's /status.
import { checkGuardrails } from "../../src/experiments/guardrails";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT } from "../../cli/args";
import { pickExperiment } from "../../cli/commands/experiment";
import { main } from "../../cli/edgeshift";
import { renderExperiments } from "../../cli/experiment-render";
import { Experiment, type ExperimentLabels } from "../../src/experiments/experiment";
import { experimentResult } from "../../src/experiments/result";
import { ExperimentTally } from "../../src/experiments/tally";
import { NOT_RANDOM_BIT } from "../../src/model/protocol";
import type { Slot } from "../../src/model/rollout";
import type { ExperimentStatus } from "../../src/model/status";
import { captureIo, usageMessage } from "./cli-io";
import { goalBatch } from "./goal-batch";

const PLAIN = { color: false, width: 100 };
const BOTH: Slot[] = ["blue", "green"];
const sec = (iso: string) => Date.parse(iso) / 1000;

const ROLLOUT: ExperimentLabels = {
  subject: "rollout",
  key: "v2.4.0",
  control: "blue",
  treatment: "green",
  names: { control: "blue", treatment: "green" },
};
const flagLabels = (key: string): ExperimentLabels => ({
  subject: "flag",
  key,
  control: "blue",
  treatment: "green",
  names: { control: "control", treatment: "treatment" },
});

/**
 * `n` visitors of `slot` with ids from `from`: the first `reached[k]` of them reach goals[k]. Each
 * on its own network unless `network` is given; `bits` is ORed into every visitor's goal bits.
 */
function visit(
  e: Experiment,
  at: number,
  slot: Slot,
  from: number,
  n: number,
  goals: string[],
  reached: number[],
  more: { network?: number; bits?: number } = {},
): void {
  const v = Array.from({ length: n }, (_, i) => from + i);
  const g = v.map((_, i) => reached.reduce((m, r, k) => (i < r ? m | (1 << k) : m), more.bits ?? 0));
  const net = more.network === undefined ? undefined : v.map(() => more.network!);
  e.add(at, goalBatch(slot, { v, g, n: net }, goals), BOTH);
}

const GOALS = ["checkout", "signup"];

/** The canary's experiment: 10 % for ten minutes (60 visitors on green), then 50 %. */
function rolloutExperiment(active = true): ExperimentStatus {
  const t0 = sec("2026-11-25T07:40:00Z");
  let e = new Experiment(t0, 10);
  visit(e, t0 + 1, "green", 1, 60, GOALS, [8, 3]);
  visit(e, t0 + 1, "blue", 1000, 540, GOALS, [50, 20]);
  e = e.next(sec("2026-11-25T07:50:00Z"), 50);
  visit(e, t0 + 605, "blue", 10_000, 1200, GOALS, [120, 60]);
  visit(e, t0 + 605, "green", 20_000, 1180, GOALS, [190, 66]);
  return e.status(ROLLOUT, GOALS, active);
}

/** A flag whose treatment converts half as often; a goal nobody reached; one control barely reached. */
function themeExperiment(): ExperimentStatus {
  const goals = ["checkout", "signup", "newsletter"];
  const t0 = sec("2026-11-25T07:55:00Z");
  const e = new Experiment(t0, 50);
  visit(e, t0 + 1, "blue", 1, 1000, goals, [200, 5]);
  visit(e, t0 + 1, "green", 5000, 1000, goals, [100, 0]);
  return e.status(flagLabels("theme"), goals, true);
}

/** A flag killed early: 70 control visitors, 30 treatment visitors all behind one NAT (weight 20). */
function killedFlagExperiment(): ExperimentStatus {
  const t0 = sec("2026-11-25T07:55:00Z");
  const e = new Experiment(t0, 20);
  visit(e, t0 + 1, "blue", 50_000, 70, GOALS, [7, 2]);
  visit(e, t0 + 1, "green", 60_000, 30, GOALS, [2, 0], { network: 7 });
  return e.status(flagLabels("new-checkout"), GOALS, false);
}

const rowOf = (text: string, goal: string) => text.split("\n").find((l) => l.startsWith(`  ${goal}  `));

describe("an experiment as the CLI shows it", () => {
  const rollout = rolloutExperiment();
  const text = renderExperiments([rollout], PLAIN);
  const lines = text.split("\n");

  it("names the subject, the arms, since when, at what percent, and that it is counting", () => {
    expect(lines[0]).toBe("rollout · release v2.4.0 · treatment green (canary), control blue (stable)");
    expect(lines[1]).toBe("  since     2026-11-25 07:50:00 · treatment at 50 % · counting");
    expect(lines[2]).toBe("  visitors  control 1200 · treatment 1180");
  });

  it("per goal: both rates with their counts, the difference in points with its interval, the lift, the state in words", () => {
    const [checkout, signup] = rollout.result.goals;
    // What the rows must say, decided by src/experiments/result.ts: one goal shown, one not yet.
    expect([checkout.state, signup.state]).toEqual(["better", "inconclusive"]);
    expect(lines[3]).toMatch(/^ {2}goal\s+control\s+treatment\s+difference\s+lift\s+state$/);
    expect(rowOf(text, "checkout")).toBe(
      "  checkout  10.0 % (120/1200)  16.1 % (190/1180)  +6.1 points [+1.9, +10.3]  ≈ +61.0 % [+18.8, +103.2]  treatment better",
    );
    expect(rowOf(text, "signup")).toBe(
      "  signup    5.0 % (60/1200)    5.6 % (66/1180)    +0.6 points [-2.2, +3.4]   ≈ +11.9 % [-44.1, +67.9]   no difference shown yet",
    );
  });

  it("the sample before the last change of percent, in one line with how each goal ended", () => {
    expect(text).toContain(
      "  before    at 10 % from 2026-11-25 07:40:00 to 2026-11-25 07:50:00: checkout (collecting: 60 of 100 visitors an arm) · signup (collecting: 60 of 100 visitors an arm)",
    );
    const first = new Experiment(sec("2026-11-25T07:40:00Z"), 10).status(ROLLOUT, GOALS, true);
    expect(renderExperiments([first], PLAIN)).not.toContain("before");
  });

  it("the rollout's guardrails, each with its state and why", () => {
    const guarded = {
      ...rollout,
      guardrails: checkGuardrails({ checkout: { maxDrop: 0.01 }, signup: { maxDrop: 0.01 } }, rollout.result, GOALS),
    };
    const out = renderExperiments([guarded], PLAIN);
    expect(out).toContain('  guardrail ✔ held: guardrail "checkout" shown no worse than -1.0 points: canary 16.1 %');
    expect(out).toContain('  guardrail … pending: guardrail "signup" not yet shown no worse than -1.0 points');
  });

  it("says how to read the interval and the lift, once under all experiments", () => {
    const both = renderExperiments([rollout, themeExperiment()], PLAIN);
    expect(both.match(/valid however often you look/g)).toHaveLength(1);
    expect(both.split("\n").at(-1)).toBe(
      "difference: treatment − control; [low, high]: its 95 % interval, valid however often you look. lift: the difference relative to control's rate (≈: its interval takes that rate as known)",
    );
  });

  it("a worse treatment; no interval while the conversions are too few to trust one, no lift while control has none", () => {
    const theme = themeExperiment();
    expect(theme.result.goals.map((g) => g.state)).toEqual(["worse", "collecting", "collecting"]);
    const t = renderExperiments([theme], PLAIN);
    expect(t.split("\n")[0]).toBe("flag theme · treatment: its rollout's variation, control: its default");
    expect(rowOf(t, "checkout")).toMatch(
      /^ {2}checkout\s+20\.0 % \(200\/1000\)\s+10\.0 % \(100\/1000\)\s+-10\.0 points \[-14\.\d, -5\.\d\]\s+≈ -50\.0 % \[-7\d\.\d, -2\d\.\d\]\s+treatment worse$/,
    );
    // 5 conversions in all: the difference and lift are shown, no interval (an arm expecting 2.5
    // conversions has too small a variance to trust), and the state says what it waits for.
    expect(rowOf(t, "signup")).toMatch(
      /-0\.5 points\s+≈ -100\.0 %\s+collecting: 2\.5 of 10 conversions expected in the smaller arm$/,
    );
    expect(rowOf(t, "newsletter")).toMatch(/0\.0 % \(0\/1000\)\s+0\.0 points\s+–\s+collecting: 0\.0 of 10 conversions/);
  });

  it("a stopped experiment says why: a rolled-back canary, a killed flag", () => {
    expect(renderExperiments([rolloutExperiment(false)], PLAIN).split("\n")[1]).toBe(
      "  since     2026-11-25 07:50:00 · treatment at 50 % · stopped: rolled back (figures as they were then)",
    );
    expect(renderExperiments([killedFlagExperiment()], PLAIN).split("\n")[1]).toBe(
      "  since     2026-11-25 07:55:00 · treatment at 20 % · stopped: flag killed by its guard (figures as they were then)",
    );
  });

  it("weighted visitors beside the raw ones when a network was capped; collecting shows how far it is", () => {
    const t = renderExperiments([killedFlagExperiment()], PLAIN);
    expect(t).toContain("  visitors  control 70 · treatment 30 (weighted by network: control 70 · treatment 20)");
    // The rates are the weighted ones: 2 of 30 behind one NAT weigh 2 × 20/30.
    expect(rowOf(t, "checkout")).toBe(
      "  checkout  10.0 % (7/70)  6.7 % (1.3/20)  -3.3 points  ≈ -33.3 %   collecting: 20 of 100 visitors an arm",
    );
    expect(renderExperiments([rolloutExperiment()], PLAIN)).not.toContain("weighted");
  });

  it("colours the verdicts: better green, worse red, collecting dim", () => {
    const colour = { color: true, width: 100 };
    expect(renderExperiments([rolloutExperiment()], colour)).toContain("\x1b[32;1mtreatment better\x1b[0m");
    expect(renderExperiments([themeExperiment()], colour)).toContain("\x1b[31;1mtreatment worse\x1b[0m");
    expect(renderExperiments([killedFlagExperiment()], colour)).toContain(
      "\x1b[2mcollecting: 20 of 100 visitors an arm\x1b[0m",
    );
    expect(renderExperiments([rolloutExperiment()], PLAIN)).not.toContain("\x1b[");
  });
});

describe("what the tally left out, and a broken split", () => {
  /** At 10 %, far more visitors on the treatment; one seen in both arms, two chosen by a rule, a crowded network. */
  function troubled(): ExperimentStatus {
    const t0 = sec("2026-11-25T08:00:00Z");
    const e = new Experiment(t0, 10);
    visit(e, t0, "blue", 1, 150, GOALS, [15, 0]);
    visit(e, t0, "green", 1001, 150, GOALS, [15, 0]);
    visit(e, t0, "green", 1, 1, GOALS, []);
    visit(e, t0, "green", 2001, 2, GOALS, [], { bits: NOT_RANDOM_BIT });
    visit(e, t0, "green", 3001, 1005, GOALS, [], { network: 100_000 });
    return e.status(ROLLOUT, GOALS, true);
  }

  it("a sample-ratio mismatch is one line with its detail; left-out visitors are counted by reason", () => {
    const s = troubled();
    const t = renderExperiments([s], PLAIN);
    expect(s.result.sampleRatio?.mismatch).toBe(true);
    expect(t).toContain(`  ✘ sample ratio: ${s.result.sampleRatio!.detail}`);
    expect(s.result.sampleRatio!.detail).toMatch(/vs 10 % expected/);
    expect(t).toContain(
      "  left out  1 seen in both arms · 2 whose arm a rule, tester token or location pin chose · 5 from crowded networks (not tracked)",
    );
    expect(t).not.toContain("sampled");
  });

  it("nothing about left-out visitors or the sample ratio when all is well", () => {
    const t = renderExperiments([rolloutExperiment()], PLAIN);
    expect(t).not.toContain("left out");
    expect(t).not.toContain("sample ratio");
  });

  it("sampling below the whole id space is said, with what it costs", () => {
    const tally = new ExperimentTally(40);
    const v = Array.from({ length: 200 }, (_, i) => i + 1);
    tally.addBatch(goalBatch("blue", { v: v.filter((i) => i % 2), g: v.map(() => 0) }, GOALS), BOTH);
    tally.addBatch(goalBatch("green", { v: v.filter((i) => i % 2 === 0), g: v.map(() => 0) }, GOALS), BOTH);
    const fig = tally.figures();
    expect(fig.sampled).toBeLessThan(1);
    const s = { ...rolloutExperiment(), result: experimentResult(fig, "blue", "green", 50, GOALS), previous: null };
    expect(renderExperiments([s], PLAIN)).toContain(
      `  sampled   ${(fig.sampled * 100).toFixed(1)} % of visitors (more were seen than the experiment tracks): rates stay unbiased, intervals are wider`,
    );
  });
});

describe("picking an experiment", () => {
  const list = [rolloutExperiment(), themeExperiment(), killedFlagExperiment()];

  it("`rollout` is the split's, a flag's key its guard's", () => {
    expect(pickExperiment(list, "rollout")).toBe(list[0]);
    expect(pickExperiment(list, "new-checkout")).toBe(list[2]);
  });

  it("an unknown subject is exit 2 naming the known ones and the closest", () => {
    expect(usageMessage(() => pickExperiment(list, "new-chekout"))).toBe(
      'no experiment "new-chekout" (did you mean "new-checkout"?); experiments: rollout, theme, new-checkout (`rollout` for the split, a flag\'s key for its guard\'s)',
    );
    expect(usageMessage(() => pickExperiment(list, "zzzzzzzz"))).not.toContain("did you mean");
    expect(usageMessage(() => pickExperiment([], "rollout"))).toMatch(
      /^no experiment "rollout": no goals are declared/,
    );
  });
});

describe("edgeshift experiment against the admin API", () => {
  let url = "";
  let server: http.Server;
  let experiments: ExperimentStatus[] | undefined;
  const list = [rolloutExperiment(), killedFlagExperiment()];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.url !== "/__edgeshift/api/status") return res.writeHead(404).end("{}");
      res.end(JSON.stringify({ state: "running", window: {}, roles: {}, experiments }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function run(...argv: string[]) {
    const t = captureIo({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "tok" });
    const code = await main(["experiment", ...argv], t.x);
    return { code, out: t.out.join("\n"), err: t.err.join("\n") };
  }

  it("every experiment, or the one named", async () => {
    experiments = list;
    const all = await run();
    expect(all.code).toBe(EXIT.OK);
    expect(all.out).toBe(renderExperiments(list, PLAIN));
    const one = await run("new-checkout");
    expect(one.code).toBe(EXIT.OK);
    expect(one.out).toMatch(/^flag new-checkout /);
    expect(one.out).not.toContain("rollout ·");
  });

  it("--json: the experiments array as the status carries it, or the one named", async () => {
    experiments = list;
    expect(JSON.parse((await run("--json")).out)).toEqual(list);
    expect(JSON.parse((await run("rollout", "--json")).out)).toEqual(list[0]);
  });

  it("no experiments: how to declare goals, exit 0 (the contract has no code for nothing to show)", async () => {
    experiments = undefined;
    const none = await run();
    expect(none.code).toBe(EXIT.OK);
    expect(none.out).toMatch(/^no experiments: no goals are declared/);
    expect(none.out).toContain('Goals live in the `flags` KV document as "goals"');
    expect(none.out).toContain("docs/storage-schema.md");
    expect(JSON.parse((await run("--json")).out)).toEqual([]);
  });

  it("an unknown subject, or two, is exit 2 on stderr with nothing on stdout", async () => {
    experiments = list;
    const bad = await run("theme");
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.out).toBe("");
    expect(bad.err).toContain('edgeshift experiment: no experiment "theme"; experiments: rollout, new-checkout');
    const two = await run("rollout", "theme");
    expect(two.code).toBe(EXIT.USAGE);
    expect(two.err).toContain("experiment takes at most one subject (got 2: rollout theme)");
  });
});
