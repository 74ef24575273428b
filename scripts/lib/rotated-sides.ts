// The method of the benchmarks that price what the `flags` KV document turns on per request
// (bench-flags: flags, bench-goals: experiment goals): edgeshift given several documents ("sides",
// two of them the same reference document) against the bare pass-through Worker, in one run, with
// returning visitors (a valid edgeshift_vid cookie, so the visitor id costs the same on every side).
//
// One edgeshift workerd per side, and the documents rotated over them every round: round r gives
// side j's document to instance (j + r) mod n, so over each n rounds every document runs on every
// process once. Why not one workerd whose document is switched between phases: phases then run one
// after another, and on this shared 2-core machine the load moved more between phases than flags
// cost (a switched run on 2026-12-01, pinned: the bare Worker at 661, 477, 497 and 1,032 req/s in
// four consecutive phases, its CPU per request 580, 636, 622 and 560 µs; that run put 10 flags at
// 19.5 µs a flag and 50 at 2.6). Why not one fixed workerd per side: every round then measures all
// of them, but the processes differ among themselves by as much as flags cost (two 0-flag instances
// 0.3–11.5 % apart in CPU per request over four runs), which rotation spreads over every side
// alike. The price: each round waits out the Worker's KV cache (CONFIG_TTL_SECONDS, 3 s in
// lib/worker-bundle.ts) before it is measured, and a switch counts as done only when a request
// through each instance reaches the origin with an x-edgeshift-flags its side's document accounts
// for (the origin keeps the last requests' headers: GET /__origin/requests). Each round measures
// the bare Worker and every side back to back, in reverse order every other round (lib/load.ts
// `alternatingRounds`, as bench-proxy's pairs); ratios are medians of the rounds' ratios, the
// reference the mean of the two reference sides, whose difference is printed as the noise floor: a
// cost below it is one the run cannot see.
import { FLAGS_HEADER } from "../../src/flags/evaluate";
import { FLAGS_KEY } from "../../src/model/names";
import {
  alternatingRounds,
  benchRequest,
  cpuMicrosPerRequest,
  measureLoad,
  medianRps,
  type BenchRequest,
  type LoadSettings,
  type Measured,
} from "./load";
import type { ProxyBench } from "./proxy-bench";
import { median } from "./stats";
import { seedRollout, visitorIdOf } from "./worker-bundle";
import { fmt, pinIfAsked, type Workerd } from "./workerd-proc";

/** Well past CONFIG_TTL_SECONDS (3 s): a document not in force by then is a failure, not a slow cache. */
const IN_FORCE_TIMEOUT_MS = 15_000;

export interface DocumentSide {
  /** How many of what is priced (flags, goals) the document holds: 0 for the two reference sides. */
  count: number;
  /** The `flags` KV document; null: the key deleted. */
  text: string | null;
  /**
   * Whether the x-edgeshift-flags value the origin got (null: none sent) shows this side's document
   * in force, and no other side's; called until it does.
   */
  inForce(header: string | null): boolean;
}

export interface RotatedRun {
  bare: Measured[];
  /** Per side, per round. */
  sides: Measured[][];
  /** Waiting for documents to be in force, and warming after, over the whole run. */
  switchMs: number;
  pinned: boolean;
  load: LoadSettings;
  /** The returning visitor's id, in every request's cookie. */
  vid: string;
}

/**
 * One edgeshift workerd per side on `stage`, the rollout seeded, every workerd warmed, then
 * `load.rounds` rounds of the bare Worker and the sides under the documents' rotation. `noun`: what
 * is priced, singular ("flag"); `mix`: the requests each measurement sends in turn (default:
 * `benchRequest` alone).
 */
export async function measureRotated(
  stage: ProxyBench,
  sides: DocumentSide[],
  opts: { load: LoadSettings; noun: string; mix?: (base: string, vid: string) => BenchRequest[] },
): Promise<RotatedRun> {
  const { load, noun } = opts;
  const mix = opts.mix ?? ((base, vid) => [benchRequest(base, vid)]);
  const { origin, bare } = stage;
  const instances: Workerd[] = [];
  for (const _ of sides) {
    const w = await stage.startEdgeshift();
    await seedRollout(w.mf);
    instances.push(w);
  }
  const pinned = pinIfAsked([bare.pid, ...instances.map((w) => w.pid)]);

  const first = await fetch(instances[0].url + "page");
  await first.arrayBuffer();
  const vid = visitorIdOf(first);

  /** x-edgeshift-flags of one request through `base`, as the origin got it (null: none sent). */
  async function headerAtOrigin(base: string): Promise<string | null> {
    const probe = benchRequest(base, vid);
    await (await fetch(probe.url, { headers: probe.headers })).arrayBuffer();
    const seen = (await (await fetch(origin.url + "/__origin/requests")).json()) as {
      headers: Record<string, string | undefined>;
    }[];
    return seen.at(-1)?.headers[FLAGS_HEADER] ?? null;
  }

  /** serving[j]: the instance that serves side j this round. */
  let serving: Workerd[] = [];
  let switchMs = 0;
  /** Round r: side j on instance (j + r) mod n, its document put, and proven in force. */
  async function rotate(r: number): Promise<void> {
    const t0 = performance.now();
    const next = sides.map((_, j) => instances[(j + r) % instances.length]);
    await Promise.all(
      next.map(async (w, j) => {
        const kv = await w.mf.getKVNamespace("ROLLOUT_CONFIG");
        const text = sides[j].text;
        await (text === null ? kv.delete(FLAGS_KEY) : kv.put(FLAGS_KEY, text));
      }),
    );
    for (const [j, w] of next.entries()) {
      for (;;) {
        const value = await headerAtOrigin(w.url);
        if (sides[j].inForce(value)) break;
        if (performance.now() - t0 > IN_FORCE_TIMEOUT_MS)
          throw new Error(
            `an instance given the ${sides[j].count}-${noun} document still sent the origin ${JSON.stringify(value)} in ${FLAGS_HEADER} after ${IN_FORCE_TIMEOUT_MS} ms: is the Worker's KV cache refreshing?`,
          );
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    serving = next;
    // After the wait every workerd has idled for seconds, and the round's first side would be the
    // only one measured from that state (bare in even rounds, the last side in odd ones).
    for (const w of [bare, ...instances]) await warm(w, 0.25);
    switchMs += performance.now() - t0;
  }

  const on = (w: Workerd) => measureLoad(mix(w.url, vid), w.pid, load);
  const warm = (w: Workerd, seconds: number) => measureLoad(mix(w.url, vid), w.pid, { ...load, seconds });
  // Warm every workerd (JIT, connection pools, the config cache), a second each.
  for (const w of [bare, ...instances]) await warm(w, 1);
  const [b, ...e] = await alternatingRounds(
    load.rounds,
    [() => on(bare), ...sides.map((_, j) => () => on(serving[j]))],
    rotate,
  );
  return { bare: b, sides: e, switchMs, pinned, load, vid };
}

const WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

/**
 * The run as a table, the marginal cost of each side against the reference and the noise floor.
 * `noun`: what is priced, singular ("flag"); `labels`: each side's row; `traffic`: what the clients
 * sent, for the first line.
 */
export function printRotated(
  run: RotatedRun,
  sides: DocumentSide[],
  opts: { noun: string; labels: string[]; traffic: string },
): void {
  const { noun, labels } = opts;
  const { bare: b, sides: e, load } = run;
  const zero = sides.flatMap((s, i) => (s.count === 0 ? [i] : []));
  if (zero.length !== 2) throw new Error(`${zero.length} reference sides (0 ${noun}s): the method needs two`);
  const perRound = (f: (r: number) => number) => median(b.map((_, r) => f(r)));
  const toBare = (i: number) => perRound((r) => e[i][r].rps / b[r].rps);
  const toZero = (i: number) => perRound((r) => e[i][r].rps / ((e[zero[0]][r].rps + e[zero[1]][r].rps) / 2));
  const cpu = e.map(cpuMicrosPerRequest);
  const bareCpu = cpuMicrosPerRequest(b);
  const zeroCpu = (cpu[zero[0]] + cpu[zero[1]]) / 2;
  const noise = Math.abs(cpu[zero[1]] - cpu[zero[0]]);

  console.log(
    `workerd via Miniflare${run.pinned ? ", every workerd pinned to one core (BENCH_PIN=1)" : ""}, ${opts.traffic}, ${load.concurrency} concurrent clients, ${load.seconds} s per measurement, ${load.rounds} rounds of the ${WORDS[sides.length + 1]} sides back to back (order alternating); the ${WORDS[sides.length]} documents rotated over ${WORDS[sides.length]} edgeshift workerds between rounds (${(run.switchMs / 1000).toFixed(0)} s of waiting for the KV cache and warming in all, not measured); ratios are medians of the rounds' ratios; the 0-${noun} reference is the mean of the two 0-${noun} sides; CPU from clock ticks at 100 Hz`,
  );
  const cols = [Math.max(44, ...labels.map((l) => l.length + 1)), 10, 9, 12, 13, 13];
  const line = (cells: string[]) =>
    console.log(
      cells
        .map((c, i) => c.padEnd(cols[i] ?? 0))
        .join("")
        .trimEnd(),
    );
  line(["", "req/s", "÷ bare", `÷ 0 ${noun}s`, "CPU µs/req", "CPU ÷ bare", `CPU ÷ 0 ${noun}s`]);
  line(["bare Worker", Math.round(medianRps(b)).toString(), "", "", fmt(bareCpu)]);
  sides.forEach((_, i) => {
    line([
      labels[i],
      Math.round(medianRps(e[i])).toString(),
      toBare(i).toFixed(3),
      toZero(i).toFixed(3),
      fmt(cpu[i]),
      fmt(cpu[i] / bareCpu, 3),
      fmt(cpu[i] / zeroCpu, 3),
    ]);
  });
  const marginal = sides.flatMap((s, i) => {
    if (s.count === 0) return [];
    const extra = cpu[i] - zeroCpu;
    const seen = Math.abs(extra) > noise ? "" : ", within the noise floor";
    return [
      `${s.count} ${noun}s ${extra >= 0 ? "+" : ""}${fmt(extra, 1)} µs per request, ${fmt(extra / s.count, 2)} µs a ${noun}${seen}`,
    ];
  });
  console.log(`marginal CPU cost against the 0-${noun} mean: ${marginal.join("; ")}`);
  console.log(
    `noise floor (the two 0-${noun} sides): CPU ${fmt(noise, 1)} µs per request apart (${fmt((noise / zeroCpu) * 100, 1)} %), throughput ÷ bare ${Math.abs(toBare(zero[1]) - toBare(zero[0])).toFixed(3)} apart`,
  );
}
