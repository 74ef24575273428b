// Experiment goals' per-request cost (issue 12): on each answered request the Worker matches the
// request against the goals of the `flags` KV document (src/experiments/goals.ts `goalsReached`,
// reading the origin's x-edgeshift-goal when some goal is a signal: src/worker/handler.ts
// `goalsOf`) and ORs the goals reached into the visitor's contributor entry (src/telemetry/
// recorder.ts `maskOf`). With no goals declared none of it runs. Measured: edgeshift with 0, 5 and
// 20 goals, and 0 again, against the bare pass-through Worker in one run; the two 0-goal sides'
// difference is the noise floor. Beside it, the matching and the recorder's mask work alone timed in
// Node, which resolves what workerd's CPU ticks on shared cores cannot.
//
// The method is lib/rotated-sides.ts's, as bench-flags' (four edgeshift workerds, the documents
// rotated over them every round, each proven in force before a round is measured). Goals alone are
// invisible to the origin, so every document also holds one flag named for its side (`markerOf`,
// at 100 %, sent to the origin): a document is in force when a request through its instance reaches
// the origin with x-edgeshift-flags naming exactly its marker. Every side pays for that one flag
// alike, so against 0 goals it cancels; against bare it is in the figure.
//
// The requests, in turn, from returning visitors (`requestMix`): 5 of 8 a product page (as
// bench-proxy's request), one a docs page, one POST /fixed/checkout, one /__convert/signup, which
// the origin answers with `x-edgeshift-goal: signup` every other time (lib/origin-server.ts). The
// goals (`GOALS`) are a realistic mix of 20: exact paths, prefixes, method and status, and signals;
// the first 5 are the 5-goal side's. At 5 goals the docs page, the checkout and half the
// /__convert/ answers reach a goal; at 20 the product pages reach one too ("product-view"), so
// nearly every request does. The paths sit under the origin's /fixed/, which answers one fixed body
// whatever the request (lib/load.ts `benchRequest`).
//
// Bounded (~2 minutes on 2 cores): BENCH_SECONDS per measurement (default 2), BENCH_ROUNDS rounds
// (default 8, five measurements each; a multiple of 4 gives every side every instance alike),
// BENCH_CONCURRENCY clients (default 16); BENCH_PIN=1 pins every workerd to one core
// (lib/workerd-proc.ts), which makes the CPU column much less noisy.
import type { FlagInput } from "../src/model/flags";
import type { Goal } from "../src/model/goals";
import { parseFlags } from "../src/model/parse";
import { rolloutSchema } from "../src/model/rollout";
import { compileGoals, goalsReached } from "../src/experiments/goals";
import { Recorder, type Outcome, type Routed } from "../src/telemetry/recorder";
import { benchRequest, loadSettings, type BenchRequest } from "./lib/load";
import { openProxyBench } from "./lib/proxy-bench";
import { measureRotated, printRotated, type DocumentSide } from "./lib/rotated-sides";
import { bestMicrosPerCall } from "./lib/stats";

const LOAD = loadSettings({ seconds: 2, rounds: 8 });
/** Goals per side: 0 first and last, so in every round the two 0-goal measurements bracket the others. */
const SIDES = [0, 5, 20, 0];

const GOALS: [string, Goal][] = [
  ["checkout", { method: "POST", path: "/fixed/checkout", status: "2xx" }],
  ["signup", { signal: "signup" }],
  ["docs", { path: "/fixed/docs/*" }],
  ["pricing", { path: "/fixed/pricing" }],
  ["newsletter", { signal: "newsletter" }],
  ["add-to-cart", { method: "POST", path: "/fixed/cart/*", status: "2xx" }],
  ["product-view", { method: "GET", path: "/fixed/products/*", status: 200 }],
  ["search", { path: "/fixed/search" }],
  ["order-confirmed", { path: "/fixed/checkout/done", status: "2xx" }],
  ["purchase", { signal: "purchase" }],
  ["trial-started", { signal: "trial-started" }],
  ["contact", { method: "POST", path: "/fixed/contact", status: 201 }],
  ["login", { method: "POST", path: "/fixed/login", status: "2xx" }],
  ["account", { path: "/fixed/account/*" }],
  ["api-key", { method: "POST", path: "/fixed/api/keys", status: 201 }],
  ["blog", { path: "/fixed/blog/*" }],
  ["download", { path: "/fixed/download/*", status: "2xx" }],
  ["share", { signal: "share" }],
  ["upgrade", { method: "POST", path: "/fixed/billing/upgrade", status: "2xx" }],
  ["docs-search", { method: "GET", path: "/fixed/docs/search" }],
];

/**
 * Batches of the Node timings: a batch takes milliseconds, and with BENCH_PIN=1 this process shares
 * one core with whatever else runs there; best of 5 (as bench-flags) read 0.39 µs for goalsReached
 * at 5 goals in one run under load and 0.07 in the next.
 */
const ALONE_BATCHES = 20;

/** The signal /__convert/ answers carry, and the share of them that carry it. */
const SIGNAL = "signup";
const SIGNAL_RATE = 0.5;

/** The flag that shows side `j`'s document in force: the same shape on every side, keys of one length. */
const markerOf = (j: number) => `bench-side-${j}`;

function goalsDocument(n: number, j: number): { flags: Record<string, FlagInput>; goals: Record<string, Goal> } {
  return {
    flags: { [markerOf(j)]: { rollout: { percent: 100 } } },
    goals: Object.fromEntries(GOALS.slice(0, n)),
  };
}

/** What each measurement sends in turn; `originName` keys the /__convert/ rate (lib/origin-server.ts). */
function requestMix(base: string, vid: string, originName: string): BenchRequest[] {
  const page = benchRequest(base, vid);
  const docs = { ...page, url: base + "fixed/docs/getting-started" };
  const checkout: BenchRequest = {
    url: base + "fixed/checkout",
    method: "POST",
    headers: { ...page.headers, "content-type": "application/json" },
    body: '{"cart":"42","qty":1}',
  };
  const convert = { ...page, url: base + `__convert/${SIGNAL}?${originName}=${SIGNAL_RATE}` };
  return [page, docs, page, checkout, page, convert, page, page];
}

/**
 * `goalsReached`'s arguments for the mix as the handler passes them (path without query, the
 * origin's 200, its x-edgeshift-goal), over enough rounds of the mix for the signal's share.
 */
function reachedArgs(originName: string): [string, string, number, string | null][] {
  const mix = requestMix("http://edge/", "vid", originName);
  const rounds = Math.round(1 / SIGNAL_RATE);
  return Array.from({ length: rounds }, (_, round) =>
    mix.map((q): [string, string, number, string | null] => {
      const path = new URL(q.url).pathname;
      const signalled = path.startsWith("/__convert/") && round < rounds * SIGNAL_RATE;
      return [q.method ?? "GET", path, 200, signalled ? SIGNAL : null];
    }),
  ).flat();
}

/** Of the mix's requests at `n` goals: the share that reach one, and the goals reached per request. */
function reach(n: number, originName: string): { some: number; mean: number } {
  const c = compileGoals(Object.fromEntries(GOALS.slice(0, n)));
  const each = reachedArgs(originName).map((a) => goalsReached(c, ...a).length);
  return { some: each.filter((k) => k > 0).length / each.length, mean: each.reduce((x, y) => x + y, 0) / each.length };
}

/**
 * The goals' work alone, in this Node process (V8, as workerd), µs per request of the mix, the best
 * of ALONE_BATCHES interleaved batches of 20,000: `goalsReached` at `n` goals; and the recorder's
 * `record` of the answer with the goals reached (its `maskOf`, the contributor entry's OR) against
 * `record` without them, as with no goals declared. The x-edgeshift-goal header read is not in it.
 */
function aloneMicros(n: number, originName: string): { match: number; withGoals: number; without: number } {
  const c = compileGoals(Object.fromEntries(GOALS.slice(0, n)));
  const args = reachedArgs(originName);
  const reached = args.map((a) => ({ goals: goalsReached(c, ...a), random: true }));
  const recorderOf = () =>
    new Recorder<null>({
      send: async () => ({ revision: 0, doc: null, fingerprint: null, supersedes: [] }),
      fetchView: async () => ({ revision: 0, doc: null, fingerprint: null, supersedes: [] }),
      now: () => 1_000_000,
    });
  const [withRec, withoutRec] = [recorderOf(), recorderOf()];
  const routed: Routed = { fingerprint: "bench", doc: rolloutSchema.parse({ percent: 50, release: "v2.4.0" }) };
  const answer: Outcome = { slot: "green", role: "canary", status: 200, error: null, latencyMs: 12, failedOver: false };
  const [match, withGoals, without] = bestMicrosPerCall(
    [
      (k) => goalsReached(c, ...args[k % args.length]),
      (k) => withRec.record(routed, answer, 1, 7, reached[k % reached.length]),
      () => withoutRec.record(routed, answer, 1, 7),
    ],
    20_000,
    ALONE_BATCHES,
  );
  return { match, withGoals, without };
}

const stage = await openProxyBench("edgeshift-bench-goals");
try {
  const originName = stage.origin.name;
  const docs = SIDES.map((n, j): DocumentSide => {
    const text = JSON.stringify(goalsDocument(n, j));
    const parsed = parseFlags(text);
    if (!parsed.ok) throw new Error(`the bench's ${n}-goal document is invalid: ${parsed.summary}`);
    return {
      count: n,
      text,
      inForce: (value) => value !== null && Object.keys(JSON.parse(value)).join() === markerOf(j),
    };
  });
  const run = await measureRotated(stage, docs, {
    load: LOAD,
    noun: "goal",
    mix: (base, vid) => requestMix(base, vid, originName),
  });
  const labels = docs.map((s, i) => {
    if (s.count === 0) return `edgeshift, 0 goals${i === SIDES.indexOf(0) ? "" : " (again)"}`;
    const r = reach(s.count, originName);
    return `edgeshift, ${s.count} goals (${(r.some * 100).toFixed(0)} % of requests reach one, ${r.mean.toFixed(2)} a request)`;
  });
  const mix = requestMix("/", run.vid, originName);
  printRotated(run, docs, {
    noun: "goal",
    labels,
    traffic: `returning visitors, a mix of ${mix.length} requests in turn (${mix.filter((q) => q.url === mix[0].url).length} product pages, a docs page, POST /fixed/checkout, /__convert/${SIGNAL} with x-edgeshift-goal on ${SIGNAL_RATE * 100} % of answers)`,
  });
  const alone = [5, 20].map((n) => ({ n, ...aloneMicros(n, originName) }));
  console.log(
    `goals alone (Node, µs per request of the mix, best of ${ALONE_BATCHES} × 20,000): goalsReached ${alone.map((a) => `${a.match.toFixed(3)} at ${a.n} goals`).join(", ")}; the recorder's record with the goals reached ${alone.map((a) => `${a.withGoals.toFixed(3)} at ${a.n} goals (without: ${a.without.toFixed(3)}, +${(a.withGoals - a.without).toFixed(3)})`).join(", ")}`,
  );
  console.log(
    "note: every side's document holds one flag (its marker, sent to the origin) for the in-force check, so ÷ bare includes one flag's cost; 0 goals is 0 goals with that flag. A cost below the noise floor is one this run cannot see.",
  );
} finally {
  await stage.close();
}
