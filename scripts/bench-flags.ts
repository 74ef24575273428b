// Feature flags' per-request cost (src/flags/evaluate.ts, the x-edgeshift-flags header built in
// src/worker/handler.ts): edgeshift with 0, 10 and 50 flags in the `flags` KV document against the
// bare pass-through Worker, in one run, returning visitors (a valid edgeshift_vid cookie, so the
// visitor id costs the same on every side). The issue's goal: "with no flags the cost is
// unmeasurable". The code before flags is not in this run, so 0 flags cannot be set against it
// here; what is measured is 0 flags against bare (compare with bench-proxy's returning visitors),
// and 0 flags twice, as two sides, whose difference is printed as the noise floor: a cost below
// it is one this run cannot see. Beside it, the evaluation alone timed in Node, which resolves what
// workerd's CPU ticks on shared cores cannot.
//
// Four edgeshift workerds, and the four documents (0, 10, 50 flags, and 0 again) rotated over them
// every round: round r gives side j's document to instance (j + r) mod 4, so over each four rounds
// every flag count runs on every process once. Why not one workerd whose `flags` document is
// switched between phases: phases then run one after another, and on this shared 2-core machine the
// load moved more between phases than flags cost (a switched run on 2026-12-01, pinned: the bare
// Worker at 661, 477, 497 and 1,032 req/s in four consecutive phases, its CPU per request 580, 636,
// 622 and 560 µs; that run put 10 flags at 19.5 µs a flag and 50 at 2.6). Why not one fixed
// workerd per flag count: every round then measures all of them, but the processes differ among
// themselves by as much as flags cost (two 0-flag instances 0.3–11.5 % apart in CPU per request over
// four runs), which rotation spreads over every side alike. The price: each round waits out the
// Worker's KV cache (CONFIG_TTL_SECONDS, 3 s in lib/worker-bundle.ts) before it is measured, and a
// switch counts as done only when a request through each instance reaches the origin with
// x-edgeshift-flags naming exactly its document's flags for the origin (the origin keeps the last
// requests' headers: GET /__origin/requests). Each round measures the bare Worker and the four sides
// back to back, in reverse order every other round (lib/load.ts `alternatingRounds`, as
// bench-proxy's pairs); ratios are medians of the rounds' ratios, the 0-flag reference the mean of
// the two 0-flag sides.
//
// The flags are a realistic mix of ten (`MIX`), repeated under new keys for 50: boolean ramps, a
// string and a number flag split over several variations, targeting rules on a header (which this
// client does not send) and on the country (Miniflare reports "US": one rule matches, one does not),
// two flags with "origin": false (evaluated for OFREP, not sent) and one switched off. So 8 of 10 and
// 40 of 50 flags reach the origin. ADMIN_TOKEN and OVERRIDE_SECRET are set, as in bench-proxy.
//
// Bounded (~2 minutes on 2 cores): BENCH_SECONDS per measurement (default 2), BENCH_ROUNDS rounds
// (default 8, five measurements each; a multiple of 4 gives every side every instance alike), BENCH_CONCURRENCY clients (default 16); BENCH_PIN=1 pins every
// workerd to one core (lib/workerd-proc.ts), which makes the CPU column much less noisy.
import type { FlagInput } from "../src/model/flags";
import { FLAGS_KEY } from "../src/model/names";
import { parseFlags } from "../src/model/parse";
import { FLAGS_HEADER, compileFlags, originFlagsHeader } from "../src/flags/evaluate";
import { alternatingRounds, benchRequest, cpuMicrosPerRequest, loadSettings, measureLoad, medianRps } from "./lib/load";
import { openProxyBench } from "./lib/proxy-bench";
import { median } from "./lib/stats";
import { seedRollout, visitorIdOf } from "./lib/worker-bundle";
import { fmt, pinIfAsked, type Workerd } from "./lib/workerd-proc";

const LOAD = loadSettings({ seconds: 2, rounds: 8 });
/** Flags per side: 0 first and last, so in every round the two 0-flag measurements bracket the others. */
const SIDES = [0, 10, 50, 0];
/** Well past CONFIG_TTL_SECONDS (3 s): a document not in force by then is a failure, not a slow cache. */
const IN_FORCE_TIMEOUT_MS = 15_000;

const MIX: [string, FlagInput][] = [
  ["new-checkout", { rollout: { percent: 30 } }],
  ["fast-search", { rollout: { percent: 5 }, origin: false, browser: true }],
  ["recommendations-v2", { rollout: { percent: 100 } }],
  [
    "theme",
    {
      variations: { light: "light", dark: "dark", contrast: "high-contrast" },
      default: "light",
      rollout: { percent: 100, split: { light: 50, dark: 40, contrast: 10 } },
    },
  ],
  ["page-size", { variations: { s: 10, m: 20, l: 50 }, default: "s", rollout: { percent: 50, split: { m: 1, l: 1 } } }],
  [
    "beta-checkout",
    {
      rules: [{ name: "beta-testers", header: { name: "x-beta", values: ["1"] }, variation: "on" }],
      rollout: { percent: 10 },
    },
  ],
  ["eu-consent-banner", { rules: [{ name: "eu", country: ["DE", "FR", "IT", "ES", "NL", "AT"], variation: "on" }] }],
  [
    "regional-pricing",
    {
      variations: { standard: "standard", regional: "usd-2026" },
      default: "standard",
      rules: [{ name: "north-america", country: ["US", "CA"], variation: "regional" }],
    },
  ],
  ["onboarding-tour", { rollout: { percent: 20 }, origin: false, browser: true }],
  ["legacy-search", { on: false, rollout: { percent: 50 } }],
];

/** `n` flags: MIX over and over, each repeat under new keys (so its own salt and buckets). */
function flagsDocument(n: number): { flags: Record<string, FlagInput> } {
  const flags: Record<string, FlagInput> = {};
  for (let i = 0; i < n; i++) {
    const [key, flag] = MIX[i % MIX.length];
    const round = Math.floor(i / MIX.length);
    flags[round === 0 ? key : `${key}-${round + 1}`] = flag;
  }
  return { flags };
}

/**
 * The evaluation alone, in this Node process (V8, as workerd): the x-edgeshift-flags value for
 * the bench's visitor and request, facts included, as the handler builds it; µs per request, the
 * best of five batches. A resolution workerd's CPU ticks on shared cores do not have.
 */
function evaluationMicros(n: number, vid: string): number {
  const parsed = parseFlags(JSON.stringify(flagsDocument(n)));
  if (!parsed.ok) throw new Error(parsed.summary);
  const compiled = compileFlags(parsed.doc, parsed.fingerprint);
  const headers = new Headers(benchRequest("", vid).headers);
  const calls = 20_000;
  let best = Infinity;
  for (let batch = 0; batch < 5; batch++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++)
      originFlagsHeader(compiled, vid, { headers, ip: "203.0.113.7", country: "US", colo: "LHR" }, null);
    best = Math.min(best, ((performance.now() - t0) * 1000) / calls);
  }
  return best;
}

const stage = await openProxyBench("edgeshift-bench-flags");
try {
  const { origin, bare } = stage;
  const docs = SIDES.map((n) => {
    const text = n === 0 ? null : JSON.stringify(flagsDocument(n));
    const parsed = parseFlags(text);
    if (!parsed.ok) throw new Error(`the bench's ${n}-flag document is invalid: ${parsed.summary}`);
    const toOrigin = Object.keys(parsed.doc.flags).filter((k) => parsed.doc.flags[k].origin);
    /** `expected`: the keys of the flags marked for the origin, sorted and joined; `bytes`: the header's length at the origin. */
    return { flags: n, text, expected: toOrigin.sort().join(), sent: toOrigin.length, bytes: 0 };
  });
  const instances: Workerd[] = [];
  for (const _ of SIDES) {
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
  /** Round r: side j on instance (j + r) mod 4, its document put, and proven in force. */
  async function rotate(r: number): Promise<void> {
    const t0 = performance.now();
    const next = SIDES.map((_, j) => instances[(j + r) % instances.length]);
    await Promise.all(
      next.map(async (w, j) => {
        const kv = await w.mf.getKVNamespace("ROLLOUT_CONFIG");
        const text = docs[j].text;
        await (text === null ? kv.delete(FLAGS_KEY) : kv.put(FLAGS_KEY, text));
      }),
    );
    for (const [j, w] of next.entries()) {
      for (;;) {
        const value = await headerAtOrigin(w.url);
        const keys = value === null ? "" : Object.keys(JSON.parse(value)).sort().join();
        if (keys === docs[j].expected) {
          docs[j].bytes = value?.length ?? 0;
          break;
        }
        if (performance.now() - t0 > IN_FORCE_TIMEOUT_MS)
          throw new Error(
            `an instance given the ${docs[j].flags}-flag document still sent the origin ${JSON.stringify(value)} in ${FLAGS_HEADER} after ${IN_FORCE_TIMEOUT_MS} ms: is the Worker's KV cache refreshing?`,
          );
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    serving = next;
    // After the wait every workerd has idled for seconds, and the round's first side would be the
    // only one measured from that state (bare in even rounds, the second 0-flag side in odd ones).
    for (const w of [bare, ...instances]) await warm(w, 0.25);
    switchMs += performance.now() - t0;
  }

  const on = (w: Workerd) => measureLoad(benchRequest(w.url, vid), w.pid, LOAD);
  const warm = (w: Workerd, seconds: number) => measureLoad(benchRequest(w.url, vid), w.pid, { ...LOAD, seconds });
  // Warm every workerd (JIT, connection pools, the config cache), a second each.
  for (const w of [bare, ...instances]) await warm(w, 1);
  const [b, ...e] = await alternatingRounds(
    LOAD.rounds,
    [() => on(bare), ...SIDES.map((_, j) => () => on(serving[j]))],
    rotate,
  );

  const zero = SIDES.flatMap((n, i) => (n === 0 ? [i] : []));
  const perRound = (f: (r: number) => number) => median(b.map((_, r) => f(r)));
  const toBare = (i: number) => perRound((r) => e[i][r].rps / b[r].rps);
  const toZero = (i: number) => perRound((r) => e[i][r].rps / ((e[zero[0]][r].rps + e[zero[1]][r].rps) / 2));
  const cpu = e.map(cpuMicrosPerRequest);
  const bareCpu = cpuMicrosPerRequest(b);
  const zeroCpu = (cpu[zero[0]] + cpu[zero[1]]) / 2;
  const noise = Math.abs(cpu[zero[1]] - cpu[zero[0]]);

  console.log(
    `workerd via Miniflare${pinned ? ", every workerd pinned to one core (BENCH_PIN=1)" : ""}, returning visitors, ${LOAD.concurrency} concurrent clients, ${LOAD.seconds} s per measurement, ${LOAD.rounds} rounds of the five sides back to back (order alternating); the four documents rotated over four edgeshift workerds between rounds (${(switchMs / 1000).toFixed(0)} s of waiting for the KV cache and warming in all, not measured); ratios are medians of the rounds' ratios; the 0-flag reference is the mean of the two 0-flag sides; CPU from clock ticks at 100 Hz`,
  );
  const cols = [44, 10, 9, 12, 13, 13];
  const line = (cells: string[]) =>
    console.log(
      cells
        .map((c, i) => c.padEnd(cols[i] ?? 0))
        .join("")
        .trimEnd(),
    );
  line(["", "req/s", "÷ bare", "÷ 0 flags", "CPU µs/req", "CPU ÷ bare", "CPU ÷ 0 flags"]);
  line(["bare Worker", Math.round(medianRps(b)).toString(), "", "", fmt(bareCpu)]);
  docs.forEach((w, i) => {
    const label =
      w.flags === 0
        ? `edgeshift, 0 flags${i === zero[0] ? "" : " (again)"}`
        : `edgeshift, ${w.flags} flags (${w.sent} sent, header ${w.bytes} B)`;
    line([
      label,
      Math.round(medianRps(e[i])).toString(),
      toBare(i).toFixed(3),
      toZero(i).toFixed(3),
      fmt(cpu[i]),
      fmt(cpu[i] / bareCpu, 3),
      fmt(cpu[i] / zeroCpu, 3),
    ]);
  });
  const marginal = docs.flatMap((w, i) => {
    if (w.flags === 0) return [];
    const extra = cpu[i] - zeroCpu;
    const seen = Math.abs(extra) > noise ? "" : ", within the noise floor";
    return [
      `${w.flags} flags ${extra >= 0 ? "+" : ""}${fmt(extra, 1)} µs per request, ${fmt(extra / w.flags, 2)} µs a flag${seen}`,
    ];
  });
  console.log(`marginal CPU cost against the 0-flag mean: ${marginal.join("; ")}`);
  console.log(
    `noise floor (the two 0-flag sides): CPU ${fmt(noise, 1)} µs per request apart (${fmt((noise / zeroCpu) * 100, 1)} %), throughput ÷ bare ${Math.abs(toBare(zero[1]) - toBare(zero[0])).toFixed(3)} apart`,
  );
  console.log(
    `evaluation alone (Node, originFlagsHeader as the handler calls it, best of 5 × 20,000): ${[10, 50].map((n) => `${evaluationMicros(n, vid).toFixed(2)} µs at ${n} flags`).join(", ")}`,
  );
  console.log(
    "note: 0 flags against the code before flags is not measured (no such build in this run); 0 flags against bare is, and a cost of 0 flags below the noise floor is one this run cannot see.",
  );
} finally {
  await stage.close();
}
