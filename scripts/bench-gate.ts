// The canary gate's cost (issue 10; src/worker/handler.ts, src/telemetry/freshness.ts):
//   1. a quiet isolate's first canary-bound request (its verdict is older than 500 ms, so it waits
//      for one view call to the controller) against a stable-bound request of the same quiet isolate
//      (which never waits), and a canary-bound request right after (fresh verdict): latency each;
//   2. the busy isolate's hot path: throughput against the bare Worker (as bench-proxy measures it)
//      with every request canary-bound (percent 100: the freshness check and the background
//      refresh every 250 ms) and with every request stable-bound (percent 0: no gate at all).
// Locally the controller is in the same workerd, so part 1's extra is the gate's own cost plus a
// local round trip; at the edge add the round trip to the controller or its aggregator (≤ 250 ms,
// the wait's bound, beyond which the request goes to stable).
// Bounded: BENCH_GATE_SAMPLES quiet pairs (default 15, ~1.4 s each), BENCH_ROUNDS throughput pairs
// (default 5) of BENCH_SECONDS (default 2) per kind, BENCH_CONCURRENCY clients (default 16).
import type { Miniflare } from "miniflare";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startOrigin } from "./lib/origin-server";
import { median } from "./lib/stats";
import {
  BENCH_SECRETS,
  bareOptions,
  buildBare,
  buildEdgeshift,
  edgeshiftOptions,
  visitorIdOf,
} from "./lib/worker-bundle";
import { startWorkerd } from "./lib/workerd-proc";

const SAMPLES = Number(process.env.BENCH_GATE_SAMPLES ?? 15);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** Longer than the verdict's bound (500 ms): the isolate is quiet again. */
const QUIET_MS = 700;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))];

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bench-gate-"));
const origin = await startOrigin("bench");
const mfs: Miniflare[] = [];
try {
  const edgeBundle = await buildEdgeshift(path.join(tmp, "edgeshift"));
  const bareBundle = await buildBare(path.join(tmp, "bare"));
  const bare = await startWorkerd(bareOptions(bareBundle, origin.url));
  mfs.push(bare.mf);
  const edge = await startWorkerd(edgeshiftOptions(edgeBundle, origin.url, { bindings: BENCH_SECRETS }));
  mfs.push(edge.mf);
  const kv = await edge.mf.getKVNamespace("ROLLOUT_CONFIG");
  const put = (percent: number) => kv.put("rollout", JSON.stringify({ percent, release: `bench-gate-${percent}` }));
  const url = (base: string) => base + "fixed/products/42";
  const get = async (base: string, vid: string | null, explain = false) => {
    const headers: Record<string, string> = { cookie: vid ? `edgeshift_vid=${vid}` : "" };
    if (explain) headers["x-edgeshift-explain"] = BENCH_SECRETS.ADMIN_TOKEN;
    const t0 = performance.now();
    const r = await fetch(url(base), { headers });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${r.status} from ${base}`);
    return { r, ms: performance.now() - t0 };
  };

  // 1. A quiet isolate's requests.
  await put(50);
  const visitor: Record<"canary" | "stable", string | null> = { canary: null, stable: null };
  for (let i = 0; i < 64 && !(visitor.canary && visitor.stable); i++) {
    const { r } = await get(edge.url, null, true);
    const role = /role=(canary|stable);/.exec(r.headers.get("x-edgeshift-explain") ?? "")?.[1] as
      "canary" | "stable" | undefined;
    if (role && !visitor[role]) visitor[role] = visitorIdOf(r);
  }
  if (!visitor.canary || !visitor.stable) throw new Error("no canary or no stable visitor among 64 at 50 %");
  for (let i = 0; i < 20; i++) await get(edge.url, i % 2 ? visitor.canary : visitor.stable); // warm
  const quietCanary: number[] = [];
  const quietStable: number[] = [];
  const freshCanary: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    await sleep(QUIET_MS);
    quietCanary.push((await get(edge.url, visitor.canary)).ms);
    freshCanary.push((await get(edge.url, visitor.canary)).ms);
    await sleep(QUIET_MS);
    quietStable.push((await get(edge.url, visitor.stable)).ms);
  }
  const row = (name: string, xs: number[]) =>
    console.log(
      `  ${name.padEnd(62)}median ${median(xs).toFixed(1).padStart(6)} ms   p90 ${p90(xs).toFixed(1).padStart(6)} ms`,
    );
  console.log(`quiet isolate (${QUIET_MS} ms idle before each), ${SAMPLES} samples, workerd via Miniflare:`);
  row("stable-bound request (never waits)", quietStable);
  row("first canary-bound request (verdict > 500 ms: one view call)", quietCanary);
  row("canary-bound request right after (fresh verdict)", freshCanary);
  console.log(
    `  gate's cost on a quiet isolate's first canary-bound request: +${(median(quietCanary) - median(quietStable)).toFixed(1)} ms (median) locally; at the edge + one round trip to the controller, at most 250 ms`,
  );

  // 2. A busy isolate's hot path against the bare Worker.
  async function rps(base: string, vid: string): Promise<number> {
    let done = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          await get(base, vid);
          done++;
        }
      }),
    );
    return done / ((performance.now() - t0) / 1000);
  }
  console.log(
    `busy isolate: ${CONCURRENCY} concurrent clients, ${SECONDS} s per measurement, ratio = median over ${ROUNDS} back-to-back pairs (order alternating)`,
  );
  for (const [percent, kind] of [
    [100, "every request canary-bound (gate checked, refresh every 250 ms)"],
    [0, "every request stable-bound (no gate)"],
  ] as const) {
    await put(percent);
    const vid = visitor.canary;
    await sleep(3100); // the config cache's TTL: the new document is in force
    await rps(edge.url, vid); // warm, and the verdict fresh
    const ratio: number[] = [];
    const e: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let b: number, x: number;
      if (r % 2 === 0) ((b = await rps(bare.url, vid)), (x = await rps(edge.url, vid)));
      else ((x = await rps(edge.url, vid)), (b = await rps(bare.url, vid)));
      (ratio.push(x / b), e.push(x));
    }
    console.log(
      `  percent ${String(percent).padEnd(4)}${kind.padEnd(64)}edgeshift ${Math.round(median(e))} req/s, edgeshift / bare ${median(ratio).toFixed(3)}`,
    );
  }
  console.log(
    "note: client, workerd, controller and origin share this machine's cores; compare the two ratios with each other and with bench-proxy's, not the absolute figures.",
  );
} finally {
  for (const m of mfs) await m.dispose().catch(() => {});
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
}
