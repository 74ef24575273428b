// The fleet benchmark's Worker (bundled by scripts/bench-fleet.ts, run in Miniflare next to the
// real edgeshift bundle): K simulated isolates, each its own Recorder (./fleet-sim.ts), reporting in
// real time to the real RolloutController of that bundle through the throttle and RTT of
// ./fleet-sim.ts. GET /run?n=&busy=&seconds=&name=&part=&t0= runs one fleet (or one part of it)
// against the controller named `name` and answers its results as JSON. With &tier=1&perLocation=&
// shards= the isolates report to the real aggregation tier instead (ReportAggregator objects of the
// control Worker's bundle, bound here by scriptName, which forward to the root "rollout" and keep its
// watch): isolate g (fleet-wide index) is in location g / perLocation, on shard g % shards; each
// aggregator behind its own throttle (the per-object limit) and the same RTT. The aggregators'
// calls to the root are real calls between objects in one process (no modelled RTT or throttle).
// Canary-bound requests pass the handler's gate (the real recorder's verdictFresh, keepFresh,
// freshVerdict, recordDiverted); its view calls go through the same throttle and RTT. Through the
// tier each isolate holds its watch at its aggregator, as src/worker/telemetry.ts does (the
// aggregator's real watch(), through the same throttle and RTT); &poll=1 leaves it out.
import { BUSY_RPS, Fleet, seeded, Throttle, throttled, type Clock, type Target } from "./fleet-sim";
import { parseRollout } from "../../src/model/parse";
import type { ControllerView, Report } from "../../src/model/protocol";
import type { RolloutEvent } from "../../src/model/status";
import type { WatchAnswer } from "../../src/controller/watchers";

interface Rpc {
  report(r: Report): Promise<ControllerView>;
  view(): Promise<ControllerView>;
  watch(known: number, maxWaitMs: number, boundMs: number): Promise<WatchAnswer>;
  history(limit?: number): Promise<RolloutEvent[]>;
}

/** The two bindings used, typed here: scripts are checked without the Workers types. */
interface Env {
  CONTROLLER: { idFromName(name: string): unknown; get(id: unknown): unknown };
  AGGREGATOR?: { idFromName(name: string): unknown; get(id: unknown): unknown };
  ROLLOUT_CONFIG: { get(key: string): Promise<string | null> };
}

const STEP_MS = 200;
/**
 * One throttle per controller, shared by the parts of a fleet: workerd allows 10,000 active timers
 * per request, so a large fleet runs as several concurrent requests (parts) to this one isolate.
 */
const throttles = new Map<string, Throttle>();
/** View calls served per object (same keys as `throttles`), per whole second of the clock. */
const viewCalls = new Map<string, Map<number, number>>();

function countView(key: string, now: number): void {
  let m = viewCalls.get(key);
  if (!m) viewCalls.set(key, (m = new Map()));
  const sec = Math.floor(now / 1000);
  m.set(sec, (m.get(sec) ?? 0) + 1);
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const u = new URL(req.url);
    const n = Number(u.searchParams.get("n"));
    const busy = Number(u.searchParams.get("busy"));
    const seconds = Number(u.searchParams.get("seconds"));
    const countFrom = Number(u.searchParams.get("countFrom") ?? "0") * 1000;
    const parsed = parseRollout((await env.ROLLOUT_CONFIG.get("rollout")) ?? "");
    if (!parsed.ok) return new Response("no rollout document in KV", { status: 500 });
    const name = u.searchParams.get("name")!;
    const part = Number(u.searchParams.get("part") ?? "0");
    const stub = env.CONTROLLER.get(env.CONTROLLER.idFromName(name)) as Rpc;
    // Every part counts time from the same instant (the machine's clock, given by the driver).
    const t0 = Number(u.searchParams.get("t0") ?? Date.now());
    const clock: Clock = { now: () => Date.now() - t0, sleep: (ms) => new Promise((ok) => setTimeout(ok, ms)) };
    if (clock.now() < 0) await clock.sleep(-clock.now());
    const throttle = throttles.get(name) ?? new Throttle(clock);
    throttles.set(name, throttle);
    let counted = 0;
    const root: Target = {
      report: (r) => (clock.now() >= countFrom && counted++, stub.report(r)),
      view: () => (countView(name, clock.now()), stub.view()),
    };
    const rtt = seeded(17 + part);
    const target = throttled(root, throttle, clock, rtt, [20, 80]);
    const tier = u.searchParams.get("tier") === "1";
    const perLocation = Number(u.searchParams.get("perLocation") ?? "500");
    const shards = Number(u.searchParams.get("shards") ?? "2");
    // &poll=1: isolates do not hold a watch at their aggregator (the tier before the isolate watch).
    const poll = u.searchParams.get("poll") === "1";
    /** Per aggregator: its throttle (shared by the parts, as the root's is) and its target. */
    const aggregators = new Map<string, Target>();
    const viaTier = (i: number): Target => {
      const g = part * n + i;
      const agg = `loc-${Math.floor(g / perLocation)}:${g % shards}`;
      let t = aggregators.get(agg);
      if (!t) {
        const stub = env.AGGREGATOR!.get(env.AGGREGATOR!.idFromName(agg)) as Rpc;
        const key = `${name}/${agg}`;
        const th = throttles.get(key) ?? new Throttle(clock);
        throttles.set(key, th);
        const counting: Target = {
          report: (r) => (clock.now() >= countFrom && counted++, stub.report(r)),
          view: () => (countView(key, clock.now()), stub.view()),
        };
        if (!poll) counting.watch = (known, maxWaitMs, boundMs) => stub.watch(known, maxWaitMs, boundMs);
        aggregators.set(agg, (t = throttled(counting, th, clock, rtt, [20, 80])));
      }
      return t;
    };
    const fleet = new Fleet(
      {
        isolates: n,
        busyShare: busy,
        rampMs: 5000,
        seed: 1 + part,
        gate: true,
        canaryFails: u.searchParams.get("healthy") !== "1",
        busyRps: Number(u.searchParams.get("busyRps") ?? BUSY_RPS),
      },
      { doc: parsed.doc, fingerprint: parsed.fingerprint },
      (i) => (tier ? viaTier(i) : target),
      clock,
    );
    let last = clock.now();
    let steps = 0;
    let worstStepMs = 0;
    while (clock.now() < seconds * 1000) {
      const start = clock.now();
      // The time since the last step, not STEP_MS: a fleet too big for the CPU keeps its request rate.
      fleet.step(Math.max(1, start - last));
      worstStepMs = Math.max(worstStepMs, start - last);
      last = start;
      steps++;
      if (fleet.decisionAt === null) {
        for (const iso of fleet.isolates) if (iso.learnedAt !== null) fleet.decisionAt = iso.learnedAt;
      }
      await clock.sleep(Math.max(1, STEP_MS - (clock.now() - start)));
    }
    const rollback = (await stub.history(50)).find((e) => e.kind === "rollback");
    // The decision as the controller dated it (same machine clock); learning is measured from it.
    if (rollback) fleet.decisionAt = Date.parse(rollback.at) - t0;
    else fleet.decisionAt = null;
    // With the tier: the busiest aggregator's admission (its throttle), and rejections at any of them.
    let rejected = throttle.rejected;
    let busiest = throttle;
    // Calls the isolates' objects served (each a billed Durable Object request): the root's, or all aggregators'.
    let served = throttle.served;
    if (tier) {
      rejected = 0;
      served = 0;
      for (const [key, th] of throttles) {
        if (!key.startsWith(`${name}/`)) continue;
        rejected += th.rejected;
        served += th.served;
        if (th.served > busiest.served || busiest === throttle) busiest = th;
      }
    }
    const perSecond = [...busiest.perSecondServed.values()];
    // The object (the root, or with the tier the aggregator) that served the most view calls.
    let views = { mean: 0, peak: 0 };
    for (const [key, m] of viewCalls) {
      if (tier ? !key.startsWith(`${name}/`) : key !== name) continue;
      const secs = [...m.values()];
      const total = secs.reduce((a, b) => a + b, 0);
      if (total / seconds > views.mean) views = { mean: total / seconds, peak: Math.max(...secs) };
    }
    return Response.json({
      results: fleet.results(),
      canaryAfter: fleet.canaryAfter,
      decisionAt: fleet.decisionAt,
      rejected,
      peak: Math.max(0, ...perSecond),
      mean: perSecond.reduce((a, b) => a + b, 0) / Math.max(1, perSecond.length),
      countedReports: counted,
      served,
      views,
      meanStepMs: (seconds * 1000) / Math.max(1, steps),
      worstStepMs,
    });
  },
};
