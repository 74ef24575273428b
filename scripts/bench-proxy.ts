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
import { alternatingRounds, benchRequest, cpuMicrosPerRequest, loadSettings, measureLoad, medianRps } from "./lib/load";
import { openProxyBench } from "./lib/proxy-bench";
import { median } from "./lib/stats";
import { seedRollout, visitorIdOf } from "./lib/worker-bundle";
import { fmt, pinIfAsked, rssMiB } from "./lib/workerd-proc";

const LOAD = loadSettings({ seconds: 2, rounds: 7 });
const { seconds: SECONDS, concurrency: CONCURRENCY, rounds: ROUNDS } = LOAD;

// A second view of the same cost: the CPU time each workerd process spends per request, beside the
// throughput ratio (Linux /proc only; "n/a" elsewhere). On shared cores it drifts too: read both.
// BENCH_PIN=1 pins both workerd processes to one core (lib/workerd-proc.ts, `pinIfAsked`).
// And workerd's resident memory before and after, so growth under load shows.
const stage = await openProxyBench("edgeshift-bench");
try {
  const { origin, bare } = stage;
  const edge = await stage.startEdgeshift();
  const [bareUrl, edgeUrl, barePid, edgePid] = [bare.url, edge.url, bare.pid, edge.pid];
  pinIfAsked([barePid, edgePid]);
  await seedRollout(edge.mf);

  const first = await fetch(edgeUrl + "page");
  await first.arrayBuffer();
  const vid = visitorIdOf(first);
  const measureBare = (cookie: string | null) => measureLoad(benchRequest(bareUrl, cookie), barePid, LOAD);
  const measureEdge = (cookie: string | null) => measureLoad(benchRequest(edgeUrl, cookie), edgePid, LOAD);

  const rss0 = { bare: rssMiB(barePid), edge: rssMiB(edgePid) };
  // Warm both (JIT, connection pools, the config cache).
  await measureBare(null);
  await measureEdge(null);

  const rows: [string, number, number, number, number, number, number][] = [];
  for (const [kind, cookie] of [
    ["new visitors", null],
    ["returning visitors", vid],
  ] as const) {
    const [b, e] = await alternatingRounds(ROUNDS, [() => measureBare(cookie), () => measureEdge(cookie)]);
    const ratio = b.map((x, i) => e[i].rps / x.rps);
    // CPU ratio as edgeshift / bare: 1.08 means edgeshift's workerd spends 8 % more per request.
    const [eu, bu] = [cpuMicrosPerRequest(e), cpuMicrosPerRequest(b)];
    rows.push([kind, medianRps(b), medianRps(e), median(ratio), eu / bu, eu, bu]);
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
  await stage.close();
}
