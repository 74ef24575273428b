// Cold start: time to the first response of a fresh workerd isolate, edgeshift's edge Worker (the
// bundle `wrangler deploy` would upload from wrangler.toml) against the bare pass-through Worker
// built the same way, in the same run. Each sample is a new Miniflare instance: construct, await
// ready, one GET, read the body.
// Samples are interleaved and their order alternates, so machine drift hits every Worker alike.
// Goal: edgeshift ≤ 1.2 × bare.
//
// The bare Worker forwards with an init object (`BARE_WORKERS.init` in lib/worker-bundle.ts), the
// upstream fetch shape edgeshift itself uses, because that is the cheaper shape in workerd: a bare
// Worker in the Request shape would be a slower baseline than need be and flatter edgeshift.
//
// As deployed, edgeshift is two scripts (lib/worker-bundle.ts): a new isolate of the edge Worker
// starts while the control Worker (the Durable Objects, the admin app) is already running elsewhere.
// So the control Worker runs here in its own workerd, started once and kept for the whole run, and
// each sample is a fresh workerd holding only the Worker measured, which reaches the control Worker
// across processes through Miniflare's dev registry (as two `wrangler dev` sessions do): its CPU and
// start are not in any sample.
//
// Two baselines, because Miniflare itself costs more for a Worker with bindings: each KV namespace,
// service and Durable Object binding adds services (with their own storage or proxy) to workerd's
// start, a local cost that a Worker's cold start at the edge does not pay. "bare" is the
// pass-through alone; "bare + bindings" is the same Worker in the edge's place, with its KV
// namespace, CONTROL service and Durable Object bindings declared and unused, so that edgeshift /
// (bare + bindings) is the edge Worker's own cost: its bundle parsed and run, then its first request
// (a KV read of the `rollout` document, its parse, the decision, the cookie; its first view call to
// the control Worker's aggregator goes on in the background).
//
// Lenses: wall time construct → first response (workerd's own start included), ready → first
// response (the first request alone), and the CPU workerd spent up to the first response (Linux
// /proc; it drifts less than wall time on a loaded machine). The KV namespace holds a realistic
// document, persisted on disk and seeded once, so every edgeshift start reads it as in production.
//
// BENCH_COLD_PAIRS rounds (default 8). BENCH_EDGESHIFT_BUNDLE=<file> measures an already built edge
// bundle (with this checkout's control Worker running apart).
import { Miniflare, type MiniflareOptions } from "miniflare";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startOrigin } from "./lib/origin-server";
import { median } from "./lib/stats";
import {
  bareOptions,
  buildBare,
  buildEdgeshift,
  bundleAt,
  edgeshiftOptions,
  kib,
  seedRollout,
  visitorIdOf,
  type WorkersOptions,
} from "./lib/worker-bundle";
import { cpuNanos, newWorkerd, workerdChildren } from "./lib/workerd-proc";

const ROUNDS = Number(process.env.BENCH_COLD_PAIRS ?? 8);
const GOAL = 1.2;

interface Sample {
  /** new Miniflare() → ready, ms. */
  ready: number;
  /** ready → first response body read, ms. */
  first: number;
  /** CPU workerd spent from its start to the first response, ms (NaN without /proc). */
  cpu: number;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-cold-"));
const origin = await startOrigin("cold");
let control: Miniflare | null = null;
try {
  const given = process.env.BENCH_EDGESHIFT_BUNDLE;
  const built = await buildEdgeshift(path.join(tmp, "edgeshift"));
  const edgeBundle = given ? bundleAt(given) : built.edge;
  const bareBundle = await buildBare(path.join(tmp, "bare"));
  const both = edgeshiftOptions({ ...built, edge: edgeBundle }, origin.url, { kvPersist: path.join(tmp, "kv") });
  const [edgeWorker, controlWorker] = both.workers;
  const unsafeDevRegistryPath = path.join(tmp, "registry");
  // Its own KV store holding the same document: one namespace in production, read by both.
  control = new Miniflare({
    ...both,
    kvPersist: path.join(tmp, "kv-control"),
    workers: [controlWorker],
    unsafeDevRegistryPath,
  });
  await control.ready;
  await seedRollout(control);
  const edge: WorkersOptions = { ...both, workers: [edgeWorker], unsafeDevRegistryPath };
  const workers: [name: string, options: MiniflareOptions, isEdgeshift: boolean][] = [
    ["bare", bareOptions(bareBundle, origin.url), false],
    ["bare + bindings", bareOptions(bareBundle, origin.url, edge), false],
    ["edgeshift", edge, true],
  ];

  // Seed the document once; every measured instance then starts with it on disk and an empty cache.
  const seed = new Miniflare(edge);
  await seed.ready;
  await seedRollout(seed);
  await seed.dispose();

  async function coldStart(options: MiniflareOptions, isEdgeshift: boolean): Promise<Sample> {
    const before = workerdChildren();
    const t0 = performance.now();
    const mf = new Miniflare(options);
    try {
      const url = await mf.ready;
      const t1 = performance.now();
      const r = await fetch(new URL("products/42?ref=bench", url), { headers: { cookie: "session=abc" } });
      await r.arrayBuffer();
      const t2 = performance.now();
      const cpu = cpuNanos(newWorkerd(before)) / 1e6;
      if (r.status !== 200) throw new Error(`first response ${r.status}`);
      if (isEdgeshift) visitorIdOf(r);
      return { ready: t1 - t0, first: t2 - t1, cpu };
    } finally {
      await mf.dispose();
    }
  }

  // One unmeasured start of each, so none pays for the first load of workerd's binary from disk.
  for (const [, options, isEdgeshift] of workers) await coldStart(options, isEdgeshift);
  const samples = workers.map((): Sample[] => []);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
    for (const i of order) samples[i].push(await coldStart(workers[i][1], workers[i][2]));
  }

  const lenses: [string, (s: Sample) => number][] = [
    ["construct → first response", (s) => s.ready + s.first],
    ["  construct → ready", (s) => s.ready],
    ["  ready → first response", (s) => s.first],
    ["workerd CPU to first response", (s) => s.cpu],
  ];
  console.log(
    `a fresh workerd (Miniflare) per sample, medians of ${ROUNDS} interleaved rounds; edgeshift's edge ${kib(edgeBundle.bytes)}${given ? ` (${given})` : ""} (control ${kib(built.control.bytes)}, running apart for the whole run), bare ${kib(bareBundle.bytes)}`,
  );
  console.log(
    `${"".padEnd(31)}${"bare".padEnd(10)}${"+bindings".padEnd(11)}${"edgeshift".padEnd(11)}${"÷ bare".padEnd(8)}÷ bare+bindings (goal ≤ ${GOAL})`,
  );
  for (const [name, f] of lenses) {
    const [b, bb, e] = samples.map((xs) => median(xs.map(f)));
    if (Number.isNaN(e)) {
      console.log(`${name.padEnd(31)}n/a (no /proc)`);
      continue;
    }
    const verdict = name.startsWith(" ") ? "" : ` ${e / bb <= GOAL ? "✓" : "✗"}`;
    console.log(
      `${name.padEnd(31)}${`${b.toFixed(0)} ms`.padEnd(10)}${`${bb.toFixed(0)} ms`.padEnd(11)}${`${e.toFixed(0)} ms`.padEnd(11)}${(e / b).toFixed(2).padEnd(8)}${(e / bb).toFixed(2)}${verdict}`,
    );
  }
  console.log("note: client, workerd and origin share this machine's cores; read the ratios, not the milliseconds.");
} finally {
  await control?.dispose();
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
}
