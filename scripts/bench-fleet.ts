// Fleet benchmark (issue 10): many isolates, each a real `Recorder` (real cadence, backoff, carry,
// late answers) routing by the real `effectiveRollout`, reporting through a throttle that imitates
// the documented per-object limit (~1,000 requests/s; beyond ~1 s of queue the call fails with the
// overloaded error) with a round-trip time of 20–80 ms. The canary fails from the start; the root
// decides to roll back DECIDE_AFTER_MS after the last isolate started (modelled judge). Printed:
//   root reports/s (served, mean over the incident and the peak second), overload rejections,
//   abandoned reports (no answer within the recorder's 30 s) and counts given up, time for each
//   isolate to learn the rollback (p50/p99, busy and quiet, from the decision), canary-bound
//   requests ≥ 1 s after the decision, and reports per isolate per minute at percent 0.
// What is modelled (Node, virtual time, so 20,000 isolates run on 2 cores): the root controller
// (decision at a fixed time, answers at once), the traffic, the throttle and the RTT. What is real:
// every isolate's Recorder and routing. The target is pluggable (`Target`): an aggregator tier
// plugs in by giving isolate i its aggregator instead of the root.
// Usage: tsx scripts/bench-fleet.ts [--full] [--sizes 100,1000] [--seed 1]
//   default (npm run bench): 100 and 1,000 isolates; --full (npm run bench:fleet): 100 to 20,000.
import { parseRollout } from "../src/model/parse";
import type { ControllerView, Report } from "../src/model/protocol";
import { numberFlag } from "./lib/args";
import { Fleet, percentile, seeded, Throttle, throttled, VirtualClock, type Target } from "./lib/fleet-sim";

const FULL = process.argv.includes("--full");
const sizesArg = process.argv.indexOf("--sizes");
const SIZES =
  sizesArg >= 0 ? process.argv[sizesArg + 1].split(",").map(Number) : FULL ? [100, 1000, 5000, 20_000] : [100, 1000];
const SEED = numberFlag("seed", 1);
const RAMP_MS = 5000;
const DECIDE_AFTER_MS = 5000;
const AFTER_DECISION_MS = 40_000;
const STEP_MS = 200;
const RTT: [number, number] = [20, 80];
const PERCENT0_MS = 120_000;
const PERCENT0_FROM_MS = 30_000;

function parsed(doc: unknown) {
  const p = parseRollout(JSON.stringify(doc));
  if (!p.ok) throw new Error("bench-fleet: bad document");
  return { doc: p.doc, fingerprint: p.fingerprint };
}

/** The root controller, modelled: answers at once; rolls back at the first report after `decideAt` that names canary errors. */
class ModelRoot implements Target {
  decisionAt: number | null = null;
  private current: ControllerView = { revision: 0, doc: null, fingerprint: null, supersedes: [] };

  constructor(
    private readonly clock: VirtualClock,
    private readonly decideAt: number,
    private readonly kv: { doc: unknown; fingerprint: string },
    private readonly rolled: { doc: ReturnType<typeof parsed>["doc"]; fingerprint: string },
  ) {}

  async report(r: Report): Promise<ControllerView> {
    const now = this.clock.now();
    const errors = r.batches.some((b) => (b.slots[b.canary]?.errors5xx ?? 0) > 0);
    if (this.decisionAt === null && now >= this.decideAt && errors) {
      this.decisionAt = now;
      this.current = {
        revision: 1,
        doc: this.rolled.doc,
        fingerprint: this.rolled.fingerprint,
        supersedes: [this.kv.fingerprint],
      };
    }
    return this.current;
  }

  async view(): Promise<ControllerView> {
    return this.current;
  }
}

interface Row {
  isolates: number;
  mix: string;
  rootMean: number;
  rootPeak: number;
  rejected: number;
  abandoned: number;
  late: number;
  dropped: number;
  busy: string;
  quiet: string;
  canaryAfter: number;
  decisionS: string;
}

const base = { percent: 10, canary: "green", release: "v2" };

async function rollbackRun(isolates: number, busyShare: number, mix: string): Promise<Row> {
  const clock = new VirtualClock();
  const kv = parsed(base);
  const rolled = parsed({ ...base, percent: 0, rolledBack: { at: "2026-01-01T00:00:00Z", reason: "bench" } });
  const root = new ModelRoot(clock, RAMP_MS + DECIDE_AFTER_MS, kv, rolled);
  const throttle = new Throttle(clock);
  const rtt = seeded(SEED + 17);
  const target = throttled(root, throttle, clock, rtt, RTT);
  const fleet = new Fleet({ isolates, busyShare, rampMs: RAMP_MS, seed: SEED }, kv, () => target, clock);
  const end = RAMP_MS + DECIDE_AFTER_MS + AFTER_DECISION_MS;
  const tick = () => {
    fleet.decisionAt = root.decisionAt;
    fleet.step(STEP_MS);
    if (clock.now() + STEP_MS <= end) clock.at(clock.now() + STEP_MS, tick);
  };
  clock.at(0, tick);
  await clock.run(end);
  const r = fleet.results();
  const from = Math.floor((RAMP_MS + DECIDE_AFTER_MS) / 1000);
  const secs = [...throttle.perSecondServed].filter(([s]) => s >= from - 5).map(([, n]) => n);
  const fmt = (xs: number[], never: number, n: number) =>
    n === 0
      ? "–"
      : `${s(percentile(xs, 50))} / ${s(percentile(xs, 99), never > n / 100)}${never ? ` (${never} never)` : ""}`;
  const busyN = r.learnBusy.length + r.neverBusy;
  const quietN = r.learnQuiet.length + r.neverQuiet;
  return {
    isolates,
    mix,
    rootMean: Math.round(secs.reduce((a, b) => a + b, 0) / Math.max(1, secs.length)),
    rootPeak: Math.max(0, ...throttle.perSecondServed.values()),
    rejected: throttle.rejected,
    abandoned: r.abandoned,
    late: r.late,
    dropped: r.droppedCounts,
    busy: fmt(r.learnBusy, r.neverBusy, busyN),
    quiet: fmt(r.learnQuiet, r.neverQuiet, quietN),
    canaryAfter: fleet.canaryAfter,
    decisionS: root.decisionAt === null ? "none" : ((root.decisionAt - RAMP_MS) / 1000).toFixed(1),
  };
}

/** Reports per isolate per minute with the canary at percent 0 (every isolate busy). */
async function percent0Run(isolates: number): Promise<number> {
  const clock = new VirtualClock();
  const kv = parsed({ ...base, percent: 0 });
  const root = new ModelRoot(clock, Infinity, kv, kv);
  const target = throttled(root, new Throttle(clock), clock, seeded(SEED + 5), RTT);
  let counted = 0;
  const counting: Target = {
    report: (r) => (clock.now() >= PERCENT0_FROM_MS && counted++, target.report(r)),
    view: () => target.view(),
  };
  const fleet = new Fleet({ isolates, busyShare: 1, rampMs: RAMP_MS, seed: SEED }, kv, () => counting, clock);
  const tick = () => {
    fleet.step(STEP_MS);
    if (clock.now() + STEP_MS <= PERCENT0_MS) clock.at(clock.now() + STEP_MS, tick);
  };
  clock.at(0, tick);
  await clock.run(PERCENT0_MS);
  return counted / isolates / ((PERCENT0_MS - PERCENT0_FROM_MS) / 60_000);
}

function s(ms: number | null, over = false): string {
  if (ms === null) return "never";
  return (over ? ">" : "") + (ms / 1000).toFixed(1) + " s";
}

const rows: Row[] = [];
const idle = new Map<number, number>();
for (const n of SIZES) {
  const t0 = performance.now();
  rows.push(await rollbackRun(n, 1, "all busy"));
  rows.push(await rollbackRun(n, 0.1, "10 % busy"));
  idle.set(n, await percent0Run(n));
  console.error(`  ${n} isolates: ${((performance.now() - t0) / 1000).toFixed(1)} s of CPU time`);
}

console.log(
  `Fleet model: real Recorder per isolate, modelled root (1,000 calls/s, ~1 s queue, then "overloaded"), RTT ${RTT[0]}–${RTT[1]} ms, ` +
    `busy = 10 requests/s, quiet = one request per ~15 s, canary 10 % failing, decision ${DECIDE_AFTER_MS / 1000} s after ramp-up`,
);
console.log(
  "| isolates | mix       | root reports/s (mean / peak) | overloaded | late (used) / abandoned | counts dropped | learn busy p50 / p99 | learn quiet p50 / p99 | canary-bound ≥ 1 s after | reports/isolate/min at 0 % |",
);
console.log(
  "|---------:|-----------|------------------------------|-----------:|------------------------:|---------------:|----------------------|-----------------------|-------------------------:|---------------------------:|",
);
for (const r of rows) {
  console.log(
    `| ${String(r.isolates).padStart(8)} | ${r.mix.padEnd(9)} | ${`${r.rootMean} / ${r.rootPeak}`.padEnd(28)} | ${String(r.rejected).padStart(10)} | ${`${r.late} / ${r.abandoned}`.padStart(23)} | ${String(r.dropped).padStart(14)} | ${r.busy.padEnd(20)} | ${r.quiet.padEnd(21)} | ${String(r.canaryAfter).padStart(24)} | ${idle.get(r.isolates)!.toFixed(2).padStart(26)} |`,
  );
}
console.log(
  "abandoned: no answer within the recorder's 30 s (cannot happen in this model: the throttle answers or refuses within ~1 s); late: answered after 2 s, view and counts used.",
);
console.log(
  "Goals (issue 10): root ≤ 500 reports/s at 20,000 and no abandoned verdicts; busy p99 ≤ 3 s; zero canary-bound ≥ 1 s after; ≤ 2 reports/isolate/min at 0 %.",
);
// The recorders' real-time timers (view fetches still in flight when the model stopped) must not hold the process.
process.exit(0);
