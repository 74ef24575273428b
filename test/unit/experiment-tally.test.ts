// Counting experiments (src/experiments/tally.ts), from the recorder's goal bits
// (src/telemetry/recorder.ts) through the aggregators' merge (src/telemetry/merge.ts): per visitor,
// once per goal, exact however the tuples were split between isolates and merged; robust to a
// client that mints cookies from one network; bounded in memory without bias.
import { describe, expect, it } from "vitest";
import { CHUNKS, ExperimentTally, NETWORK_WEIGHT } from "../../src/experiments/tally";
import { experimentResult } from "../../src/experiments/result";
import { NOT_RANDOM_BIT, type Report } from "../../src/model/protocol";
import { rolloutSchema, SLOTS, type Slot } from "../../src/model/rollout";
import { mergeAll } from "../../src/telemetry/merge";
import { Recorder, type Outcome, type Routed } from "../../src/telemetry/recorder";
import { prng } from "./stats";
import { goalBatch } from "./goal-batch";

const doc = rolloutSchema.parse({ percent: 50, release: "v2" });
const routed: Routed = { fingerprint: "fp", doc };
const answer = (slot: Slot, status = 200): Outcome => ({
  slot,
  role: slot === "green" ? "canary" : "stable",
  status,
  error: null,
  latencyMs: 10,
  failedOver: false,
});

/** An isolate: a real Recorder whose reports are captured instead of sent. */
function isolate() {
  const sent: Report[] = [];
  const rec = new Recorder({
    now: () => 1_000_000,
    send: async (_t, r) => (
      sent.push(structuredClone(r)),
      { revision: 0, doc: null, fingerprint: null, supersedes: [] }
    ),
    fetchView: async () => ({ revision: 0, doc: null, fingerprint: null, supersedes: [] }),
    random: () => 0,
  });
  return {
    rec,
    async report(): Promise<Report> {
      await rec.flush({});
      return sent[sent.length - 1];
    },
  };
}

function tallyOf(reports: readonly Report[]): ExperimentTally {
  const t = new ExperimentTally();
  for (const r of reports) for (const b of r.batches) t.addBatch(b, SLOTS);
  return t;
}

describe("the recorder's goal bits", () => {
  it("lists each goal once per batch, ORs a visitor's goals, and marks arms not drawn at random", async () => {
    const iso = isolate();
    iso.rec.record(routed, answer("green"), 1, 7, { goals: ["signup"], random: true });
    iso.rec.record(routed, answer("green"), 1, 7, { goals: ["checkout", "signup"], random: true });
    iso.rec.record(routed, answer("green"), 2, 7, { goals: [], random: true });
    iso.rec.record(routed, answer("blue"), 3, 8, { goals: ["checkout"], random: false });
    iso.rec.record(routed, answer("blue"), 4, 8);
    const b = (await iso.report()).batches[0];
    expect(b.goals).toEqual(["signup", "checkout"]);
    expect(b.contributors!.green!.v).toEqual([1, 2]);
    expect(b.contributors!.green!.g).toEqual([0b11, 0]);
    expect(b.contributors!.blue!.v).toEqual([3, 4]);
    expect(b.contributors!.blue!.g).toEqual([NOT_RANDOM_BIT | 0b10, 0]);
  });

  it("sends no goal bits at all when no request reached a goal (no goals declared: nothing extra on the wire)", async () => {
    const iso = isolate();
    iso.rec.record(routed, answer("green"), 1, 7);
    iso.rec.record(routed, answer("green"), 2, 7, { goals: [], random: true });
    const b = (await iso.report()).batches[0];
    expect(b.goals).toBeUndefined();
    expect(b.contributors!.green!.g).toBeUndefined();
  });
});

describe("the tally", () => {
  it("counts a visitor once per goal, however many times and in however many reports it converts", async () => {
    const iso = isolate();
    const reports: Report[] = [];
    for (let round = 0; round < 3; round++) {
      for (let v = 0; v < 10; v++) {
        const slot: Slot = v % 2 ? "green" : "blue";
        // Every visitor converts on "signup" each round; visitors 0–3 also check out, every time.
        iso.rec.record(routed, answer(slot), v, 100 + v, {
          goals: v < 4 ? ["signup", "checkout"] : ["signup"],
          random: true,
        });
      }
      reports.push(await iso.report());
    }
    const f = tallyOf(reports).figures();
    expect(f.arms.blue).toMatchObject({ visitors: 5, conversions: { signup: 5, checkout: 2 } });
    expect(f.arms.green).toMatchObject({ visitors: 5, conversions: { signup: 5, checkout: 2 } });
  });

  it("gives the same figures from isolates' reports merged by aggregators (goal lists in another order) as from the reports directly", async () => {
    const rand = prng(42);
    const goals = ["a", "b", "c", "d"];
    const reports: Report[] = [];
    for (let i = 0; i < 12; i++) {
      const iso = isolate();
      // Each isolate sees the goals in its own order, so the bits differ from report to report.
      const order = [...goals].sort(() => rand() - 0.5);
      for (let k = 0; k < 300; k++) {
        const v = Math.floor(rand() * 400);
        const slot: Slot = v % 3 === 0 ? "green" : "blue";
        const reached = order.filter(() => rand() < 0.05);
        iso.rec.record(routed, answer(slot), v, v % 50, { goals: reached, random: rand() > 0.02 });
      }
      reports.push(await iso.report());
    }
    const direct = tallyOf(reports).figures();
    const merged = tallyOf([...mergeAll(reports.slice(0, 5)), ...mergeAll(reports.slice(5))]).figures();
    const byGoal = (f: typeof direct) =>
      SLOTS.map((s) => [f.arms[s].visitors, ...goals.map((g) => f.arms[s].conversions[g] ?? 0)]);
    expect(byGoal(merged)).toEqual(byGoal(direct));
    expect(direct.arms.green.visitors).toBeGreaterThan(50);
    expect(Object.values(direct.arms.green.conversions).every((x) => x > 0)).toBe(true);
  });

  it("leaves out outcomes not drawn at random, and visitors seen in both arms", () => {
    const t = new ExperimentTally();
    t.addBatch(goalBatch("green", { v: [1, 2, 3], g: [1, 0, NOT_RANDOM_BIT | 1] }), SLOTS);
    t.addBatch(goalBatch("blue", { v: [4, 2], g: [0, 1] }), SLOTS);
    const f = t.figures();
    // 3 was a tester (not random); 2 moved to blue: each counts in neither arm.
    expect(f.arms.green).toMatchObject({ visitors: 1, conversions: { x: 1 } });
    expect(f.arms.blue).toMatchObject({ visitors: 1, conversions: { x: 0 } });
    expect(f.crossed).toBe(1);
    expect(f.excluded).toBe(1);
  });

  it("weighs one network at most NETWORK_WEIGHT visitors: a client minting cookies cannot carry an arm", () => {
    const t = new ExperimentTally();
    const honest = 400;
    const v: number[] = [];
    const n: number[] = [];
    const g: number[] = [];
    for (let i = 0; i < honest; i++) (v.push(i), n.push(1000 + i), g.push(i % 10 === 0 ? 1 : 0));
    // One address, 500 cookies, every one converting.
    for (let i = 0; i < 500; i++) (v.push(10_000 + i), n.push(7), g.push(1));
    t.addBatch(goalBatch("green", { v, n, g }, ["buy"]), SLOTS);
    const arm = t.figures().arms.green;
    expect(arm.rawVisitors).toBe(900);
    expect(arm.visitors).toBe(honest + NETWORK_WEIGHT);
    expect(arm.conversions.buy).toBe(honest / 10 + NETWORK_WEIGHT);
    // Unweighted, the flood would have made the rate 60 %; weighted it is 14 %, near the honest 10 %.
    expect(arm.conversions.buy / arm.visitors).toBeLessThan(0.15);
  });

  it("ignores pseudo-visitors (a full network's, the unattributed) and tuples without requests", () => {
    const t = new ExperimentTally();
    t.addBatch(goalBatch("green", { v: [-1, -9, 5, 6], n: [1, 7, 1, 2], r: [3, 3, 0, 1], g: [1, 1, 1, 1] }), SLOTS);
    expect(t.figures().arms.green).toMatchObject({ visitors: 1, conversions: { x: 1 } });
  });

  it("past its limit, samples visitors by hash: memory stays bounded and the rates stay unbiased", () => {
    const limit = 2_000;
    const t = new ExperimentTally(limit);
    const rand = prng(7);
    const rates: Record<Slot, number> = { blue: 0.1, green: 0.13 };
    const truth = { blue: { n: 0, x: 0 }, green: { n: 0, x: 0 } };
    for (let round = 0; round < 20; round++) {
      const v: Record<Slot, number[]> = { blue: [], green: [] };
      const g: Record<Slot, number[]> = { blue: [], green: [] };
      for (let k = 0; k < 1_000; k++) {
        const id = round * 1_000 + k;
        const slot: Slot = rand() < 0.5 ? "blue" : "green";
        const converted = rand() < rates[slot];
        truth[slot].n++;
        if (converted) truth[slot].x++;
        v[slot].push(id);
        g[slot].push(converted ? 1 : 0);
      }
      const contributors = Object.fromEntries(
        SLOTS.map((s) => [
          s,
          { v: v[s], n: v[s].map((id) => id), r: v[s].map(() => 1), e: v[s].map(() => 0), g: g[s] },
        ]),
      );
      t.addBatch({ fingerprint: "fp", canary: "green", from: 0, to: 0, slots: {}, goals: ["x"], contributors }, SLOTS);
    }
    const f = t.figures();
    const tracked = f.arms.blue.rawVisitors + f.arms.green.rawVisitors;
    expect(tracked).toBeLessThanOrEqual(limit);
    expect(tracked).toBeGreaterThan(limit / 2 - 200);
    expect(f.sampled).toBe(1 / 16);
    for (const s of SLOTS) {
      const sampled = f.arms[s].conversions.x / f.arms[s].visitors;
      const whole = truth[s].x / truth[s].n;
      // A uniform sample of ~600 visitors an arm: within three standard errors of the whole.
      expect(Math.abs(sampled - whole)).toBeLessThan(3 * Math.sqrt((whole * (1 - whole)) / f.arms[s].visitors));
    }
    // Early and late visitors alike: the sample is not the first `limit` to arrive.
    const r = experimentResult(f, "blue", "green", 50, ["x"]);
    expect(r.sampled).toBe(1 / 16);
    expect(r.sampleRatio?.mismatch).toBe(false);
  });

  it("is stored as its state and the groups of visitors that changed, and read back the same", () => {
    const t = new ExperimentTally(1_000);
    const rand = prng(3);
    const ids = Array.from({ length: 3_000 }, (_, i) => i * 7 + 1);
    const batchOf = (slot: Slot) => {
      const v = ids.filter((id) => id % 5 < 2 === (slot === "green"));
      return goalBatch(
        slot,
        { v, n: v.map((id) => id % 40), g: v.map(() => (rand() < 0.2 ? 0b11 : rand() < 0.1 ? NOT_RANDOM_BIT : 0)) },
        ["a", "b"],
      );
    };
    t.addBatch(batchOf("blue"), SLOTS);
    t.addBatch(batchOf("green"), SLOTS);
    expect(t.takeDirty().length).toBe(CHUNKS);
    const restored = ExperimentTally.restore(
      t.state(),
      Array.from({ length: CHUNKS }, (_, i) => t.chunk(i)),
    );
    expect(restored.figures()).toEqual(t.figures());
    // Its limit is stored with it: a flag's smaller tally stays as small after a restart.
    expect(restored.limit).toBe(1_000);
    // Visitors reaching a new goal change their own groups only; after restore each counts once, as before.
    const few: number[] = [];
    for (let c = 0; c < CHUNKS && few.length < 3; c++) {
      const flat = restored.chunk(c);
      // Triples of id, network, arm | out << 1 | goals << 2: a counted green visitor.
      for (let k = 0; k < flat.length && few.length < 3; k += 3) if ((flat[k + 2] & 3) === 1) few.push(flat[k]);
    }
    const again = goalBatch(
      "green",
      { v: [...few, ...few], n: [...few, ...few].map((x) => x % 40), g: [...few, ...few].map(() => 0b10) },
      ["b", "c"],
    );
    const before = restored.figures().arms.green.conversions.c ?? 0;
    restored.addBatch(again, SLOTS);
    t.addBatch(again, SLOTS);
    expect(restored.figures()).toEqual(t.figures());
    const reached = restored.figures().arms.green.rawConversions.c - before;
    expect(reached).toBe(3);
    expect(restored.takeDirty().sort()).toEqual([...new Set(few.map((x) => restored.groupOf(x)))].sort());
    // A malformed stored group is skipped, never thrown on.
    expect(() => ExperimentTally.restore(t.state(), [["x", 1], null, [1, 2]])).not.toThrow();
  });
});

describe("what counts for an arm", () => {
  it("a canary request that failed over counts for the canary's arm, with the goals its stable answer reached", async () => {
    const iso = isolate();
    // The canary failed (counted first), stable answered (no exposure to stable), the answer converted.
    iso.rec.record(routed, { ...answer("green", 503), failedOver: true }, 7, 70, { goals: [], random: true });
    iso.rec.record(routed, answer("blue"), 7, 70, { goals: [], random: true, exposed: false });
    iso.rec.reachGoals(routed, "green", 7, 70, ["signup"]);
    iso.rec.record(routed, answer("blue"), 8, 80, { goals: [], random: true });
    const f = tallyOf([await iso.report()]).figures();
    expect(f.arms.green).toMatchObject({ rawVisitors: 1, conversions: { signup: 1 } });
    expect(f.arms.blue).toMatchObject({ rawVisitors: 1, conversions: { signup: 0 } });
    expect([f.crossed, f.excluded]).toEqual([0, 0]);
  });

  it("the sample and the storage groups follow a salt of each tally's own: no id is sampled by every tally", () => {
    const ids = Array.from({ length: 4_000 }, (_, i) => i + 1);
    const kept = (t: ExperimentTally) => {
      for (let k = 0; k < ids.length; k += 1000) {
        const v = ids.slice(k, k + 1000);
        t.addBatch(goalBatch("green", { v, g: v.map(() => 0) }), SLOTS);
      }
      return new Set(ids.filter((id) => t.chunk(t.groupOf(id)).includes(id)));
    };
    const a = kept(new ExperimentTally(500));
    const b = kept(new ExperimentTally(500));
    // Each keeps about an eighth; which ids differs, so ids ground against one salt gain nothing.
    expect(a.size).toBeLessThanOrEqual(500);
    const both = [...a].filter((id) => b.has(id)).length;
    expect(both).toBeLessThan(a.size / 2);
    // The groups are even, whatever the ids: no row grows past its share.
    const t = new ExperimentTally();
    const multiples = Array.from({ length: 6_400 }, (_, i) => (i + 1) * CHUNKS);
    t.addBatch(goalBatch("green", { v: multiples, n: multiples.map((_, i) => i), g: multiples.map(() => 0) }), SLOTS);
    const sizes = Array.from({ length: CHUNKS }, (_, i) => t.chunk(i).length / 3);
    expect(Math.max(...sizes)).toBeLessThan(200);
  });
});
