// Fleet benchmark (issue 10): many isolates, each a real `Recorder` (real cadence, backoff, carry,
// late answers) routing by the real `effectiveRollout`, reporting through a throttle that imitates
// the documented per-object limit (~1,000 requests/s; beyond ~1 s of queue the call fails with the
// overloaded error) with a round-trip time of 20–80 ms. The canary fails from the start. Printed:
//   root reports/s (served, mean over the incident and the peak second), overload rejections,
//   late and abandoned reports, counts given up, time for each isolate to learn the rollback
//   (p50/p99, busy and quiet, from the decision), canary-bound requests ≥ 1 s after the decision
//   (before the gate), view calls/s, diverted requests, requests that reached the canary ≥ 1 s
//   after the decision (after the gate), and reports per isolate per minute at percent 0.
// Two lenses, one fleet code (scripts/lib/fleet-sim.ts):
// - model (Node, virtual time, so 20,000 isolates run on 2 cores): the root is modelled (it decides
//   DECIDE_AFTER_MS after the last isolate started and answers at once);
// - real (Miniflare, real time): the control Worker's bundle wrangler deploys, its real RolloutController
//   (real judge, SQLite, KV), driven by a benchmark Worker holding the isolates
//   (scripts/lib/fleet-worker.ts, in parts of PART isolates: workerd's timer limit per request).
//   It keeps up to 20,000 isolates on 2 cores (it prints how often it managed to step them).
// In both, traffic, throttle and RTT are modelled. The target is pluggable (`Target`): an
// aggregator tier plugs in by giving isolate i its aggregator instead of the root.
// - tier (Miniflare, real time): the same, but isolates report to the bundle's real aggregation tier
//   (ReportAggregator objects bound by scriptName, each behind its own modelled throttle and RTT,
//   PER_LOCATION isolates per location, TIER_SHARDS aggregators per location), which merges, forwards
//   to the real root and keeps the root's watch; the aggregator→root calls are real and unthrottled
//   (one process: no modelled RTT there). Root load is then counted from the aggregators' counters.
// The real and tier lenses model the canary gate as the handler runs it (the real recorder's
// verdictFresh / keepFresh / freshVerdict / recordDiverted), its view calls through the same
// throttle and RTT; the model lens does not (the gate's wait is a real-time timer).
// Usage: tsx scripts/bench-fleet.ts [--full] [--sizes 100,1000] [--real 100,1000] [--tier 1000,5000]
//   [--per-location 500] [--no-idle] [--healthy] [--poll] [--busy-rps 10] [--seed 1]
//   default (npm run bench): model 100 and 1,000 isolates, real 100, tier 100 (rollback rows only;
//   about 4 minutes); --full (npm run bench:fleet): model and real 100 to 20,000, tier 1,000 to
//   20,000. `--sizes 0` / `--real 0` / `--tier 0` skip a part; --no-idle skips the real lenses'
//   95 s percent-0 runs.
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseRollout } from "../src/model/parse";
import type { ControllerView, Report } from "../src/model/protocol";
import { numberFlag } from "./lib/args";
import {
  BUSY_RPS,
  Fleet,
  percentile,
  seeded,
  Throttle,
  throttled,
  VirtualClock,
  type FleetResults,
  type Target,
} from "./lib/fleet-sim";
import { buildEdgeshift, bundleEntry, COMPATIBILITY_DATE, CONTROL_SCRIPT } from "./lib/worker-bundle";

const FULL = process.argv.includes("--full");
const sizesArg = process.argv.indexOf("--sizes");
const SIZES =
  sizesArg >= 0
    ? process.argv[sizesArg + 1].split(",").map(Number).filter(Boolean)
    : FULL
      ? [100, 1000, 5000, 20_000]
      : [100, 1000];
const SEED = numberFlag("seed", 1);
/** Real objects (Miniflare, real time): these fleet sizes; --real 0 skips them. */
const REAL_SIZES = process.argv.includes("--real")
  ? process.argv[process.argv.indexOf("--real") + 1].split(",").map(Number).filter(Boolean)
  : FULL
    ? [100, 1000, 5000, 20_000]
    : [100];
/**
 * Real objects through the aggregation tier (--tier 1000,5000; --full: 1,000 to 20,000): isolates
 * report to real ReportAggregator objects (PER_LOCATION isolates per location, TIER_SHARDS per
 * location), which forward to the real root and keep its watch.
 */
const TIER_ARG = process.argv.includes("--tier");
const TIER_SIZES = TIER_ARG
  ? process.argv[process.argv.indexOf("--tier") + 1].split(",").map(Number).filter(Boolean)
  : FULL
    ? [1000, 5000, 20_000]
    : [100];
/** Modelled: how many isolates share a location (and its TIER_SHARDS aggregators). */
const PER_LOCATION = numberFlag("per-location", 500);
const TIER_SHARDS = 2;
/** --no-idle: skip the real lenses' 95 s percent-0 runs (the model's row still has the figure). */
const SKIP_IDLE = process.argv.includes("--no-idle");
const REAL_SECONDS = 40;

interface RootCalls {
  forwards: number;
  viewCalls: number;
  watches: number;
  failures: number;
  seconds: number;
}
/**
 * Isolates per request to the fleet Worker (each holds a few timers per call in flight, and one per
 * request waiting at the gate: 2,500 exceeded workerd's 10,000 at 20,000 isolates with the gate).
 */
const PART = 1000;
/**
 * --healthy: the real lenses add a run per size with a healthy canary (all busy, no rollback): the
 * gate's steady load, canary traffic flowing for the whole run (the failing runs roll back within
 * seconds, which ends it).
 */
const HEALTHY = process.argv.includes("--healthy");
/**
 * --poll: through the tier, isolates do not hold a watch at their aggregator and keep their verdict
 * fresh by view calls only (the tier as it was before the isolate watch, for comparison).
 */
const POLL = process.argv.includes("--poll");
/**
 * --busy-rps 2: requests/s of a busy isolate in the real lenses (default 10). A busy isolate reports
 * and learns on the same cadence at any rate with canary traffic; what the rate changes is the CPU
 * the benchmark needs: 20,000 isolates at 10/s are 200,000 simulated requests/s, more than 2 cores
 * step in real time.
 */
const BUSY_RPS_ARG = numberFlag("busy-rps", BUSY_RPS);
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
  /** Real lenses (the gate modelled): view calls/s at the busiest object (mean / peak second) and at the root. */
  views: string;
  rootViews: string;
  diverted: string;
  reachedAfter: number;
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
  return {
    isolates,
    mix,
    rootMean: Math.round(secs.reduce((a, b) => a + b, 0) / Math.max(1, secs.length)),
    rootPeak: Math.max(0, ...throttle.perSecondServed.values()),
    rejected: throttle.rejected,
    abandoned: r.abandoned,
    late: r.late,
    dropped: r.droppedCounts,
    busy: learnOf(r.learnBusy, r.neverBusy),
    quiet: learnOf(r.learnQuiet, r.neverQuiet),
    canaryAfter: fleet.canaryAfter,
    views: "–",
    rootViews: "–",
    diverted: "–",
    reachedAfter: r.reachedAfter,
    decisionS: root.decisionAt === null ? "none" : (root.decisionAt / 1000).toFixed(1),
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

/**
 * The same fleet in real time against real objects: the control Worker's bundle wrangler deploys (its
 * RolloutController, SQLite storage, KV) in Miniflare, and a benchmark Worker
 * (scripts/lib/fleet-worker.ts) holding the simulated isolates, bound to that controller by
 * scriptName. The judge is the real one; the throttle and RTT are those of the model.
 */
async function realRuns(sizes: number[], tier: boolean): Promise<{ rows: Row[]; idle: Map<number, number> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeshift-fleet-"));
  const rows: Row[] = [];
  const idle = new Map<number, number>();
  try {
    const bundle = await buildEdgeshift(path.join(dir, "edgeshift"));
    const fleetJs = path.join(dir, "fleet.js");
    await bundleEntry(path.join(import.meta.dirname, "lib", "fleet-worker.ts"), fleetJs);
    const start = () =>
      new Miniflare({
        workers: [
          {
            name: "fleet",
            modules: true,
            scriptPath: fleetJs,
            modulesRoot: dir,
            compatibilityDate: COMPATIBILITY_DATE,
            kvNamespaces: ["ROLLOUT_CONFIG"],
            durableObjects: {
              CONTROLLER: { className: "RolloutController", scriptName: CONTROL_SCRIPT },
              ...(tier ? { AGGREGATOR: { className: "ReportAggregator", scriptName: CONTROL_SCRIPT } } : {}),
            },
          },
          {
            name: CONTROL_SCRIPT,
            modules: [{ type: "ESModule", path: bundle.control.file }],
            modulesRoot: path.dirname(bundle.control.file),
            compatibilityDate: COMPATIBILITY_DATE,
            bindings: {
              BLUE_ORIGIN: "http://127.0.0.1:9",
              GREEN_ORIGIN: "http://127.0.0.1:9",
              AGGREGATOR_SHARDS: String(TIER_SHARDS),
            },
            kvNamespaces: ["ROLLOUT_CONFIG"],
            durableObjects: {
              CONTROLLER: { className: "RolloutController", useSQLite: true },
              ...(tier ? { AGGREGATOR: { className: "ReportAggregator", useSQLite: true } } : {}),
            },
          },
        ],
        durableObjectsPersist: false,
        kvPersist: false,
      });
    // The tier's aggregators always forward to the root named "rollout": one Miniflare per run, so
    // every run starts with a fresh root and fresh aggregators. Straight to the root, one for all
    // runs (each run its own controller name).
    let mf = start();
    try {
      let run = 0;
      type Part = {
        results: FleetResults;
        canaryAfter: number;
        decisionAt: number | null;
        rejected: number;
        peak: number;
        mean: number;
        countedReports: number;
        views: { mean: number; peak: number };
        meanStepMs: number;
        worstStepMs: number;
        /** Calls served by the objects isolates call (the root, or every aggregator): shared, as the throttles are. */
        served: number;
        rootCalls?: RootCalls | null;
      };
      /** One fleet as parts of ≤ PART isolates (workerd's 10,000 timers per request), sharing one throttle. */
      const fleet = async (
        n: number,
        busy: number,
        doc: unknown,
        seconds: number,
        countFrom = 0,
        healthy = false,
      ): Promise<Part> => {
        if (tier && run > 0) {
          await mf.dispose();
          mf = start();
        }
        await (await mf.getKVNamespace("ROLLOUT_CONFIG")).put("rollout", JSON.stringify(doc));
        const name = tier ? "rollout" : `fleet-${run}`;
        run++;
        const parts = Math.ceil(n / PART);
        const t0 = Date.now() + 1000;
        const tierArgs = tier
          ? `&tier=1&perLocation=${PER_LOCATION}&shards=${TIER_SHARDS}${POLL ? "&poll=1" : ""}`
          : "";
        const all = await Promise.all(
          Array.from({ length: parts }, async (_, part) => {
            const r = await mf.dispatchFetch(
              `http://fleet/run?n=${Math.ceil(n / parts)}&busy=${busy}&seconds=${seconds}&countFrom=${countFrom}&name=${name}&part=${part}&t0=${t0}${tierArgs}${healthy ? "&healthy=1" : ""}&busyRps=${BUSY_RPS_ARG}`,
            );
            if (!r.ok) throw new Error(`bench-fleet: the fleet Worker answered ${r.status}: ${await r.text()}`);
            return (await r.json()) as Part;
          }),
        );
        let rootCalls: RootCalls | null = null;
        if (tier) {
          rootCalls = { forwards: 0, viewCalls: 0, watches: 0, failures: 0, seconds };
          const ns = await mf.getDurableObjectNamespace("AGGREGATOR", CONTROL_SCRIPT);
          for (let l = 0; l < Math.ceil(n / PER_LOCATION); l++) {
            for (let sh = 0; sh < TIER_SHARDS; sh++) {
              const stub = ns.get(ns.idFromName(`loc-${l}:${sh}`)) as unknown as {
                counters(): Promise<{ forwards: number; viewCalls: number; watches: number; failures: number }>;
              };
              const c = await stub.counters();
              rootCalls.forwards += c.forwards;
              rootCalls.viewCalls += c.viewCalls;
              rootCalls.watches += c.watches;
              rootCalls.failures += c.failures;
            }
          }
        }
        const sum = (f: (p: Part) => number) => all.reduce((a, p) => a + f(p), 0);
        const max = (f: (p: Part) => number) => Math.max(...all.map(f));
        const rs = all.map((p) => p.results);
        return {
          results: {
            learnBusy: rs.flatMap((r) => r.learnBusy),
            learnQuiet: rs.flatMap((r) => r.learnQuiet),
            neverBusy: sum((p) => p.results.neverBusy),
            neverQuiet: sum((p) => p.results.neverQuiet),
            canaryAfter: sum((p) => p.results.canaryAfter),
            reachedAfter: sum((p) => p.results.reachedAfter),
            diverted: sum((p) => p.results.diverted),
            gateWaits: sum((p) => p.results.gateWaits),
            viewFetches: sum((p) => p.results.viewFetches),
            watches: sum((p) => p.results.watches),
            watchesUseful: sum((p) => p.results.watchesUseful),
            abandoned: sum((p) => p.results.abandoned),
            droppedCounts: sum((p) => p.results.droppedCounts),
            late: sum((p) => p.results.late),
            overloadedAnswers: sum((p) => p.results.overloadedAnswers),
            reports: sum((p) => p.results.reports),
          },
          canaryAfter: sum((p) => p.canaryAfter),
          decisionAt: all[0].decisionAt,
          // The throttle is shared: the part that ended last saw all of it.
          rejected: max((p) => p.rejected),
          peak: max((p) => p.peak),
          mean: max((p) => p.mean),
          countedReports: sum((p) => p.countedReports),
          // The view counts are shared by the parts, as the throttles are: the last part saw them all.
          views: all.reduce((a, p) => (p.views.mean > a.mean ? p.views : a), { mean: 0, peak: 0 }),
          meanStepMs: max((p) => p.meanStepMs),
          served: max((p) => p.served),
          worstStepMs: max((p) => p.worstStepMs),
          rootCalls,
        };
      };
      for (const n of sizes) {
        for (const [busy, mix, healthy] of [
          [1, "all busy", false],
          [0.1, "10 % busy", false],
          ...(HEALTHY ? ([[1, "all busy, canary healthy", true]] as const) : []),
        ] as const) {
          const t0 = performance.now();
          let o: Part;
          try {
            o = await fleet(n, busy, { ...base, rollback: { minRequests: 50 } }, REAL_SECONDS, 0, healthy);
          } catch (e) {
            // One run past what the machine holds (workerd's timer limit) must not lose the others' rows.
            console.error(
              `  real${tier ? " tier" : ""} ${n} isolates, ${mix}: failed: ${(e as Error).message.slice(0, 300)}`,
            );
            continue;
          }
          const rc = o.rootCalls;
          rows.push({
            isolates: n,
            mix:
              mix +
              (BUSY_RPS_ARG !== BUSY_RPS ? ` at ${BUSY_RPS_ARG}/s` : "") +
              (tier ? (POLL ? " (tier, polling)" : " (tier)") : " (real)"),
            // With the tier: the root's calls (forwards, view calls, watches) per second over the
            // run, and the busiest aggregator's peak second of isolates' calls.
            rootMean: rc ? Math.round((rc.forwards + rc.viewCalls + rc.watches) / rc.seconds) : Math.round(o.mean),
            rootPeak: o.peak,
            rejected: o.rejected,
            abandoned: o.results.abandoned,
            late: o.results.late,
            dropped: o.results.droppedCounts,
            busy: learnOf(o.results.learnBusy, o.results.neverBusy),
            quiet: learnOf(o.results.learnQuiet, o.results.neverQuiet),
            canaryAfter: o.canaryAfter,
            views: `${Math.round(o.views.mean)} / ${o.views.peak}`,
            // Straight to the root, the busiest object is the root.
            rootViews: rc ? String(Math.round(rc.viewCalls / rc.seconds)) : String(Math.round(o.views.mean)),
            diverted: String(o.results.diverted),
            reachedAfter: o.results.reachedAfter,
            decisionS: o.decisionAt === null ? "none" : (o.decisionAt / 1000).toFixed(1),
          });
          console.error(
            `  real${tier ? " tier" : ""} ${n} isolates, ${mix}: ${((performance.now() - t0) / 1000).toFixed(0)} s; the fleet stepped every ${o.meanStepMs.toFixed(0)} ms (worst ${o.worstStepMs} ms, aim ${STEP_MS})` +
              (rc
                ? `; root: ${rc.forwards} forwards, ${rc.viewCalls} view calls, ${rc.watches} watches, ${rc.failures} failures in ${rc.seconds} s; busiest aggregator ${Math.round(o.mean)} calls/s mean, ${o.peak} peak`
                : "") +
              `; gate: ${o.results.gateWaits} waits, ${o.results.diverted} diverted, ${o.results.viewFetches} view calls` +
              (tier
                ? `; isolate watches: ${o.results.watches} opened, ${o.results.watchesUseful} held or changed`
                : "") +
              `; ${billing(n, o.served + (rc ? rc.forwards + rc.viewCalls + rc.watches : 0), REAL_SECONDS, tier ? Math.ceil(n / PER_LOCATION) * TIER_SHARDS + 1 : 1)}`,
          );
        }
        // The default run (npm run bench) keeps the tier to its small rollback rows.
        if (SKIP_IDLE || (tier && !FULL && !TIER_ARG)) continue;
        const o = await fleet(n, 1, { ...base, percent: 0 }, 95, 35);
        idle.set(n, o.countedReports / n / 1);
        console.error(
          `  real${tier ? " tier" : ""} ${n} isolates at percent 0 (reports counted 35–95 s): ${billing(n, o.countedReports, 60, tier ? Math.ceil(n / PER_LOCATION) * TIER_SHARDS + 1 : 1)}`,
        );
      }
    } finally {
      await mf.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, idle };
}

/**
 * What a run's Durable Object traffic would cost per day, at Cloudflare's published Workers Paid
 * prices (developers.cloudflare.com/durable-objects/platform/pricing/: $0.15 per million requests,
 * every RPC call one request; duration $12.50 per million GB-s at 128 MB while an object is active;
 * the monthly included amounts left out). Every object is counted active all day (isolates hold
 * watches), an upper bound on duration.
 */
function billing(isolates: number, calls: number, seconds: number, objects: number): string {
  const perSecond = calls / seconds;
  const requests = (perSecond * 86_400 * 0.15) / 1e6;
  const duration = (objects * 86_400 * 0.128 * 12.5) / 1e6;
  return (
    `billed: ${Math.round(perSecond)} DO requests/s (${((perSecond * 60) / isolates).toFixed(1)} per isolate per min), ` +
    `$${requests.toFixed(2)}/day requests + $${duration.toFixed(2)}/day duration (${objects} objects active)`
  );
}

function learnOf(xs: number[], never: number): string {
  const n = xs.length + never;
  if (n === 0) return "–";
  return `${s(percentile(xs, 50))} / ${s(percentile(xs, 99), never > n / 100)}${never ? ` (${never} never)` : ""}`;
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
if (REAL_SIZES.length) {
  const real = await realRuns(REAL_SIZES, false);
  rows.push(...real.rows);
  for (const [n, v] of real.idle) idle.set(-n, v);
}
if (TIER_SIZES.length) {
  const real = await realRuns(TIER_SIZES, true);
  rows.push(...real.rows);
  for (const [n, v] of real.idle) idle.set(-n - 0.5, v);
}

console.log(
  `Fleet model: real Recorder per isolate, modelled root (1,000 calls/s, ~1 s queue, then "overloaded"), RTT ${RTT[0]}–${RTT[1]} ms, ` +
    `busy = 10 requests/s, quiet = one request per ~15 s, canary 10 % failing, decision ${DECIDE_AFTER_MS / 1000} s after ramp-up`,
);
console.log(
  "| isolates | mix       | root reports/s (mean / peak) | overloaded | late (used) / abandoned | counts dropped | learn busy p50 / p99 | learn quiet p50 / p99 | canary-bound ≥ 1 s after | view calls/s busiest (mean / peak) | view calls/s root | diverted | reached canary ≥ 1 s after | reports/isolate/min at 0 % | decision |",
);
console.log(
  "|---------:|-----------|------------------------------|-----------:|------------------------:|---------------:|----------------------|-----------------------|-------------------------:|-----------------------------------:|------------------:|---------:|---------------------------:|---------------------------:|---------:|",
);
for (const r of rows) {
  console.log(
    `| ${String(r.isolates).padStart(8)} | ${r.mix.padEnd(9)} | ${`${r.rootMean} / ${r.rootPeak}`.padEnd(28)} | ${String(r.rejected).padStart(10)} | ${`${r.late} / ${r.abandoned}`.padStart(23)} | ${String(r.dropped).padStart(14)} | ${r.busy.padEnd(20)} | ${r.quiet.padEnd(21)} | ${String(r.canaryAfter).padStart(24)} | ${r.views.padStart(34)} | ${r.rootViews.padStart(17)} | ${r.diverted.padStart(8)} | ${String(r.reachedAfter).padStart(26)} | ${(idle.get(r.mix.endsWith("(real)") ? -r.isolates : r.mix.includes("(tier") ? -r.isolates - 0.5 : r.isolates) ?? NaN).toFixed(2).padStart(26)} | ${r.decisionS.padStart(8)} |`,
  );
}
console.log(
  "learn: from the decision to the isolate's view holding the rollback, or from the isolate's start for one that started after the decision. decision: seconds after the first isolate started; isolates start over 5 s (modelled rows: fixed; real rows: the real judge). Real rows: the control bundle's controller in Miniflare, real time, " +
    `${REAL_SECONDS} s per run; canary-bound and reached-canary counted from the decision as the controller dated it (same machine clock).`,
);
console.log(
  "(tier) rows: isolates → real ReportAggregator objects (each behind the modelled throttle and RTT; " +
    `${PER_LOCATION} isolates per location, ${TIER_SHARDS} aggregators per location) → the real root, with the watch. ` +
    "Each isolate holds its watch at its aggregator (the aggregator's real watch(), one admission per watch through the throttle), as the handler does; '(tier, polling)' rows (--poll): without it, view calls only. " +
    "Their 'root reports/s' is the root's calls/s (forwards, view calls, watches) over the run / the busiest aggregator's peak second of isolates' calls; 'overloaded' is at the aggregators.",
);
console.log(
  "Real and (tier) rows model the canary gate (src/worker/handler.ts) with the real recorder's methods: a canary-bound request goes only with a verdict < 500 ms old (refreshed in the background from 250 ms), else waits ≤ 250 ms for a view call (through the same throttle and RTT) and decides again, else goes to stable (diverted). " +
    "'canary-bound ≥ 1 s after': decided canary under the isolate's view, before the gate; 'reached canary': sent to it after the gate (the goal: 0). View calls/s: at the busiest object isolates call (the root, or the busiest aggregator), and at the root (with the tier: the aggregators' view calls to it). Model rows: no gate (its wait is a real-time timer), so every canary-bound request reaches the canary.",
);
console.log(
  "abandoned: no answer within the recorder's 30 s (cannot happen in this model: the throttle answers or refuses within ~1 s); late: answered after 2 s, view and counts used.",
);
console.log(
  "Goals (issue 10): root ≤ 500 reports/s at 20,000 and no abandoned verdicts; busy p99 ≤ 3 s; zero canary-bound ≥ 1 s after; ≤ 2 reports/isolate/min at 0 %.",
);
// The recorders' real-time timers (view fetches still in flight when the model stopped) must not hold the process.
process.exit(0);
