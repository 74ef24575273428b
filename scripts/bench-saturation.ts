// Proxy at saturation: the real bundle (`wrangler deploy --dry-run --outdir`) in workerd (Miniflare's
// programmatic API; `wrangler dev`'s own memory grows with every request, so it is not used), driven
// flat out by wrk with 32 connections, every request a new visitor (no cookie: an id minted and a
// cookie set each time), ADMIN_TOKEN and OVERRIDE_SECRET set. Baseline: the bare Worker, in its own
// workerd, in front of the same origin (its fixed-body route), measured in the same run in segments
// of alternating order (machine drift hits both alike). Goal: edgeshift / bare ≥ 0.95.
//
// The baseline forwards in the "init" shape (`BARE_WORKERS.init` in lib/worker-bundle.ts): an init
// object with the headers copied and one patched, edgeshift's own upstream fetch shape
// (src/proxy/forward.ts) and the cheaper one in workerd (measured: ~11 % less workerd CPU per whole request under wrk than the Request shape; 30–45 % less for building the fetch alone),
// so the baseline is as strict as it can be. SATURATION_BARE_SHAPE=request runs the bare Worker in
// the Request shape (`new Request(url, request)`, headers patched) to compare.
//
// It also prints each workerd's resident memory at start, at its peak and at the end (an isolate at
// the edge has 128 MB). Under this load workerd's RSS grows by hundreds of MB before it levels off;
// on workerd 2026-04-26 it grew alike whether the upstream fetch was built from an init object,
// from the incoming Request, or not made at all (a Worker answering by itself): it is the
// runtime's, not a fetch shape's.
//
// Bounded: SATURATION_SECONDS per side in all (default 24), in SATURATION_ROUNDS segments per side
// (default 3); loopback only. Skips, saying so, when wrk is not installed (Debian: `apt-get install wrk`).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Miniflare } from "miniflare";
import { startOrigin } from "./lib/origin-server";
import {
  BENCH_SECRETS,
  bareOptions,
  buildBare,
  buildEdgeshift,
  edgeshiftOptions,
  seedRollout,
  visitorIdOf,
  type BareShape,
} from "./lib/worker-bundle";
import { cpuTicks, fmt, rssMiB, startWorkerd } from "./lib/workerd-proc";

const SECONDS = Number(process.env.SATURATION_SECONDS ?? 24);
const ROUNDS = Math.max(1, Number(process.env.SATURATION_ROUNDS ?? 3));
const CONNECTIONS = 32;
const BARE_SHAPE: BareShape = process.env.SATURATION_BARE_SHAPE === "request" ? "request" : "init";

/** One wrk run; resolves with its output. wrk stops by itself after -d; the kill is a backstop. */
function wrkRun(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("wrk", args);
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const backstop = setTimeout(() => child.kill(), 120_000 + SECONDS * 1000);
    child.on("close", (status) => (clearTimeout(backstop), resolve({ status, stdout, stderr })));
  });
}

const wrk = spawnSync("wrk", ["--version"], { encoding: "utf8" });
if (wrk.error) {
  console.log("skipped: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); nothing measured.");
  process.exit(0);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-saturation-"));
const origin = await startOrigin("saturation");
const mfs: Miniflare[] = [];
try {
  const edgeBundle = await buildEdgeshift(path.join(tmp, "edgeshift"));
  const bareBundle = await buildBare(path.join(tmp, "bare"), { shape: BARE_SHAPE });
  const bare = await startWorkerd(bareOptions(bareBundle, origin.url));
  mfs.push(bare.mf);
  const edge = await startWorkerd(edgeshiftOptions(edgeBundle, origin.url, { bindings: BENCH_SECRETS }));
  mfs.push(edge.mf);
  await seedRollout(edge.mf);
  const probe = await fetch(edge.url + "fixed/page");
  await probe.arrayBuffer();
  visitorIdOf(probe);

  type Side = { name: string; url: string; pid: number | undefined; requests: number; seconds: number; ticks: number };
  const sides: Side[] = [
    { name: "bare", url: bare.url, pid: bare.pid, requests: 0, seconds: 0, ticks: 0 },
    { name: "edgeshift", url: edge.url, pid: edge.pid, requests: 0, seconds: 0, ticks: 0 },
  ];
  const rss0 = sides.map((s) => rssMiB(s.pid));
  const peak = [...rss0];

  async function run(side: Side, seconds: number): Promise<void> {
    const i = sides.indexOf(side);
    const t0 = cpuTicks(side.pid);
    const sampler = setInterval(() => (peak[i] = Math.max(peak[i], rssMiB(side.pid))), 500);
    const r = await wrkRun(["-t2", `-c${CONNECTIONS}`, `-d${seconds}s`, side.url + "fixed/products/42?ref=bench"]);
    clearInterval(sampler);
    const reqs = /(\d+) requests in ([\d.]+)(m?s)/.exec(r.stdout ?? "");
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout ?? "");
    const errors = /Socket errors: .*/.exec(r.stdout ?? "");
    if (r.status !== 0 || !reqs) throw new Error(`wrk failed on ${side.name}:\n${r.stdout}\n${r.stderr}`);
    if (non2xx) throw new Error(`${non2xx[1]} non-2xx answers from ${side.name}:\n${r.stdout}`);
    if (errors) console.log(`${side.name}: ${errors[0]}`);
    side.requests += Number(reqs[1]);
    side.seconds += Number(reqs[2]) / (reqs[3] === "ms" ? 1000 : 1);
    side.ticks += cpuTicks(side.pid) - t0;
  }

  // Warm both (JIT, connection pools, the config cache), uncounted.
  for (const s of sides) await run(s, 2);
  for (const s of sides) ((s.requests = 0), (s.seconds = 0), (s.ticks = 0));
  const segment = Math.max(1, Math.round(SECONDS / ROUNDS));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) await run(s, segment);
  }
  const rss1 = sides.map((s) => rssMiB(s.pid));
  const rps = sides.map((s) => s.requests / s.seconds);
  const ratio = rps[1] / rps[0];
  const cpu = sides.map((s) => s.ticks / s.requests);

  console.log(
    `workerd via Miniflare (bundle from wrangler deploy --dry-run), wrk ${CONNECTIONS} connections, every request a new visitor, ` +
      `${ROUNDS} × ${segment} s per side in alternating order; bare Worker fetch shape: ${BARE_SHAPE}; origin ${origin.url}`,
  );
  console.log(
    `${"".padEnd(12)}${"req/s".padEnd(10)}${"requests".padEnd(11)}${"CPU/request".padEnd(13)}workerd RSS start → peak → end (MiB)`,
  );
  sides.forEach((s, i) =>
    console.log(
      `${s.name.padEnd(12)}${Math.round(rps[i]).toString().padEnd(10)}${s.requests.toString().padEnd(11)}` +
        `${(fmt(cpu[i] * 10, 3) + " ms").padEnd(13)}${fmt(rss0[i])} → ${fmt(peak[i])} → ${fmt(rss1[i])} (+${fmt(rss1[i] - rss0[i])})`,
    ),
  );
  console.log(
    `edgeshift / bare at saturation: ${ratio.toFixed(3)} ${ratio >= 0.95 ? "✓" : "✗"} (goal ≥ 0.95); CPU per request ${fmt(cpu[1] / cpu[0], 3)}×`,
  );
  console.log(
    `note: wrk, workerd and the origin share this machine's cores; the ratio, not the absolute figures, is the result. SATURATION_SECONDS lengthens the soak.`,
  );
} finally {
  for (const m of mfs) await m.dispose().catch(() => {});
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
}
