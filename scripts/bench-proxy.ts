// Proxy throughput: edgeshift against a bare pass-through Worker, both in workerd (Miniflare's
// programmatic API, not the slower `wrangler dev` proxy), both in front of the same local origin,
// measured in the same run, in back-to-back pairs whose order alternates, so machine drift hits
// both alike; the ratio printed is the median of the pairs' ratios. Two visitor kinds: NEW (no
// cookie: edgeshift mints a visitor id and sets a cookie) and RETURNING (a valid edgeshift_vid
// cookie). Goal: edgeshift / bare ≥ 0.97, and workerd CPU per request ≤ 1.08× bare.
//
// Fair by construction: the origin answers one fixed body (an echo would make edgeshift's answers
// bigger by the headers it adds, charging origin and client work to it); both Workers get the same
// request, cookies included; ADMIN_TOKEN and OVERRIDE_SECRET are set, so the code paths they turn
// on (override token lookup, explain check) are measured.
//
// Baseline: the bare Worker in the "init" shape (`BARE_WORKERS.init` in lib/worker-bundle.ts): it
// builds its upstream fetch from an init object with the headers copied and one patched, as edgeshift
// does (src/proxy/forward.ts). That is the cheaper shape in workerd (~11 % less CPU per whole request
// than `fetch(url, request)` or `new Request(url, request)`; 30–45 % less for building the fetch alone), so the baseline is as strict as it can be.
// Both Workers are the bundles `wrangler deploy --dry-run` builds, loaded as lib/worker-bundle.ts
// loads them for every benchmark.
//
// Bounded: BENCH_SECONDS per measurement (default 2), BENCH_ROUNDS pairs (default 7),
// BENCH_CONCURRENCY clients (default 16), at most BENCH_MAX_REQUESTS per measurement.
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
  seedRollout,
  visitorIdOf,
} from "./lib/worker-bundle";
import { cpuTicks, fmt, rssMiB, startWorkerd } from "./lib/workerd-proc";
import { execFileSync } from "node:child_process";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/**
 * BENCH_PIN=1: both workerd processes on the last core, this process (clients and origin) on the
 * others (`taskset`), so the Worker's CPU per request is not mixed with the client's scheduling.
 * On the 2-core dev machine three pinned runs gave new visitors' CPU ratio 1.247–1.272, where
 * unpinned runs spread 1.16–1.32.
 */
const PIN = process.env.BENCH_PIN === "1";
/** /proc/<pid>/stat counts CPU time in clock ticks: USER_HZ, 100 on Linux. */
const TICKS_PER_S = 100;

// A second view of the same cost: the CPU time each workerd process spends per request, beside the
// throughput ratio (Linux /proc only; "n/a" elsewhere). On shared cores it drifts too: read both.
// And workerd's resident memory before and after, so growth under load shows.
const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bench-"));
const origin = await startOrigin("bench");
const mfs: Miniflare[] = [];
try {
  const edgeBundle = await buildEdgeshift(path.join(tmp, "edgeshift"));
  const bareBundle = await buildBare(path.join(tmp, "bare"));
  const bare = await startWorkerd(bareOptions(bareBundle, origin.url));
  mfs.push(bare.mf);
  const edge = await startWorkerd(edgeshiftOptions(edgeBundle, origin.url, { bindings: BENCH_SECRETS }));
  mfs.push(edge.mf);
  const [bareUrl, edgeUrl, barePid, edgePid] = [bare.url, edge.url, bare.pid, edge.pid];
  const pidOf = (base: string) => (base === bareUrl ? barePid : edgePid);
  if (PIN) pinCores([barePid, edgePid]);
  /** Per URL and visitor kind: workerd CPU ticks and requests summed over that kind's rounds. */
  const cpu = new Map<string, { ticks: number; requests: number }>();
  await seedRollout(edge.mf);

  const first = await fetch(edgeUrl + "page");
  await first.arrayBuffer();
  const vid = visitorIdOf(first);

  async function measure(base: string, cookie: string | null): Promise<number> {
    const url = base + "fixed/products/42?ref=bench&x=%20";
    const headers: Record<string, string> = { "user-agent": "edgeshift-bench", accept: "application/json" };
    headers.cookie = cookie ? `session=abc; edgeshift_vid=${cookie}` : "session=abc";
    let done = 0;
    let errors = 0;
    const ticks0 = cpuTicks(pidOf(base));
    const deadline = performance.now() + SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline && done < MAX_REQUESTS) {
          const r = await fetch(url, { headers });
          await r.arrayBuffer();
          if (r.status !== 200) errors++;
          done++;
        }
      }),
    );
    if (errors) throw new Error(`${errors} non-200 answers from ${base}`);
    const rps = done / ((performance.now() - t0) / 1000);
    const c = cpu.get(base + cookie) ?? { ticks: 0, requests: 0 };
    cpu.set(base + cookie, { ticks: c.ticks + cpuTicks(pidOf(base)) - ticks0, requests: c.requests + done });
    return rps;
  }

  const rss0 = { bare: rssMiB(barePid), edge: rssMiB(edgePid) };
  // Warm both (JIT, connection pools, the config cache).
  await measure(bareUrl, null);
  await measure(edgeUrl, null);

  const rows: [string, number, number, number, number, number, number][] = [];
  for (const [kind, cookie] of [
    ["new visitors", null],
    ["returning visitors", vid],
  ] as const) {
    const b: number[] = [],
      e: number[] = [],
      ratio: number[] = [];
    cpu.clear();
    for (let r = 0; r < ROUNDS; r++) {
      // This machine's speed drifts by more than the effect measured (shared cores): each round is a
      // pair measured back to back, and the order flips every round so a drift favours neither.
      let bare: number, edge: number;
      if (r % 2 === 0) ((bare = await measure(bareUrl, cookie)), (edge = await measure(edgeUrl, cookie)));
      else ((edge = await measure(edgeUrl, cookie)), (bare = await measure(bareUrl, cookie)));
      (b.push(bare), e.push(edge), ratio.push(edge / bare));
    }
    const perReq = (base: string, c: string | null) => {
      const x = cpu.get(base + c);
      return x && x.requests ? x.ticks / x.requests : NaN;
    };
    // CPU ratio as edgeshift / bare: 1.08 means edgeshift's workerd spends 8 % more per request.
    const [eu, bu] = [perReq(edgeUrl, cookie), perReq(bareUrl, cookie)];
    rows.push([kind, median(b), median(e), median(ratio), eu / bu, (eu * 1e6) / TICKS_PER_S, (bu * 1e6) / TICKS_PER_S]);
  }
  console.log(
    `workerd via Miniflare, ${CONCURRENCY} concurrent clients, ${SECONDS} s per measurement, ratio = median over ${ROUNDS} back-to-back pairs (order alternating); origin ${origin.url}`,
  );
  console.log(
    `${"".padEnd(20)}${"bare req/s".padEnd(14)}${"edgeshift req/s".padEnd(18)}${"ratio (goal ≥ 0.97)".padEnd(22)}workerd CPU per request, edgeshift / bare (goal ≤ 1.08)`,
  );
  for (const [kind, b, e, q, c, eu, bu] of rows)
    console.log(
      `${kind.padEnd(20)}${Math.round(b).toString().padEnd(14)}${Math.round(e).toString().padEnd(18)}${(q.toFixed(3) + " " + (q >= 0.97 ? "✓" : "✗")).padEnd(22)}${Number.isNaN(c) ? "n/a" : `${c.toFixed(3)} ${c <= 1.08 ? "✓" : "✗"} (${Math.round(eu)} / ${Math.round(bu)} µs)`}`,
    );
  const rss1 = { bare: rssMiB(barePid), edge: rssMiB(edgePid) };
  console.log(
    `workerd resident memory (VmRSS), start → end: bare ${fmt(rss0.bare)} → ${fmt(rss1.bare)} MiB, edgeshift ${fmt(rss0.edge)} → ${fmt(rss1.edge)} MiB`,
  );
  console.log(
    "note: client, workerd and origin share this machine's cores; the ratios, not the absolute figures, are the result.",
  );
  console.log(
    "      edgeshift's workerd also runs its controller Durable Object (reports every ~2 s), which the CPU column includes.",
  );
} finally {
  for (const m of mfs) await m.dispose().catch(() => {});
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
}

/** Pins `pids` (every thread) to the last core and this process to the rest; says why when it cannot. */
function pinCores(pids: (number | undefined)[]): void {
  const cores = os.availableParallelism();
  if (cores < 2 || pids.some((p) => p === undefined)) {
    console.error(`BENCH_PIN: not pinned (${cores} core(s), workerd pids ${pids.join(", ")}): running unpinned`);
    return;
  }
  try {
    for (const pid of pids)
      execFileSync("taskset", ["-a", "-p", "-c", String(cores - 1), String(pid)], { stdio: "ignore" });
    execFileSync("taskset", ["-a", "-p", "-c", `0-${cores - 2}`, String(process.pid)], { stdio: "ignore" });
  } catch (e) {
    console.error(`BENCH_PIN: taskset failed (${(e as Error).message}): running unpinned`);
  }
}
