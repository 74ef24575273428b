// Proxy throughput: edgeshift against a bare pass-through Worker, both in workerd (Miniflare's
// programmatic API, not the slower `wrangler dev` proxy), both in front of the same local origin,
// measured in the same run, interleaved (bare, edgeshift, bare, edgeshift, …) so machine noise hits
// both alike. Two visitor kinds: NEW (no cookie: edgeshift mints a visitor id and sets a cookie)
// and RETURNING (a valid edgeshift_vid cookie). Goal: edgeshift / bare ≥ 0.95.
//
// Bounded: BENCH_SECONDS per measurement (default 2), BENCH_ROUNDS interleaved rounds (default 5), BENCH_CONCURRENCY clients (default 16),
// at most BENCH_MAX_REQUESTS per measurement.
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startOrigin } from "./lib/origin-server";
import { ROOT } from "./lib/dev-stack";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const MAX_REQUESTS = Number(process.env.BENCH_MAX_REQUESTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const BARE = `export default {
  fetch(request, env) {
    const u = new URL(request.url);
    return fetch(env.ORIGIN + u.pathname + u.search, request);
  },
};`;

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bench-"));
const origin = await startOrigin("bench");
const mfs: Miniflare[] = [];
try {
  await build({
    entryPoints: [path.join(ROOT, "src/index.ts")],
    outfile: path.join(tmp, "edgeshift.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    minify: true,
    logLevel: "warning",
  });
  writeFileSync(path.join(tmp, "bare.js"), BARE);

  const common = { modules: true, modulesRoot: tmp, compatibilityDate: "2026-04-01", port: 0, host: "127.0.0.1" } as const;
  const bare = new Miniflare({ ...common, scriptPath: path.join(tmp, "bare.js"), bindings: { ORIGIN: origin.url } });
  const edge = new Miniflare({
    ...common,
    scriptPath: path.join(tmp, "edgeshift.js"),
    bindings: { BLUE_ORIGIN: origin.url, GREEN_ORIGIN: origin.url, CONFIG_TTL_SECONDS: "3" },
    kvNamespaces: ["ROLLOUT_CONFIG"],
    durableObjects: { CONTROLLER: { className: "RolloutController", useSQLite: true } },
    kvPersist: false,
    durableObjectsPersist: false,
  });
  mfs.push(bare, edge);
  const [bareUrl, edgeUrl] = [(await bare.ready).toString(), (await edge.ready).toString()];
  // A realistic document: half the traffic on the canary, a release label (so a salt), rollback on.
  await (await edge.getKVNamespace("ROLLOUT_CONFIG")).put("rollout", JSON.stringify({ percent: 50, release: "v2.4.0" }));

  const first = await fetch(edgeUrl + "page");
  await first.arrayBuffer();
  const vid = /edgeshift_vid=([^;]+)/.exec(first.headers.get("set-cookie") ?? "")?.[1];
  if (!vid) throw new Error("edgeshift did not set a visitor cookie; is the build right?");

  async function measure(base: string, cookie: string | null): Promise<number> {
    const url = base + "products/42?ref=bench&x=%20";
    const headers: Record<string, string> = { "user-agent": "edgeshift-bench", accept: "application/json" };
    if (cookie) headers.cookie = `session=abc; edgeshift_vid=${cookie}`;
    else headers.cookie = "session=abc";
    let done = 0;
    let errors = 0;
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
    return done / ((performance.now() - t0) / 1000);
  }

  // Warm both (JIT, connection pools, the config cache).
  await measure(bareUrl, null);
  await measure(edgeUrl, null);

  const rows: [string, number, number][] = [];
  for (const [kind, cookie] of [["new visitors", null], ["returning visitors", vid]] as const) {
    const b: number[] = [], e: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      b.push(await measure(bareUrl, null));
      e.push(await measure(edgeUrl, cookie));
    }
    const med = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    rows.push([kind, med(b), med(e)]);
  }
  console.log(`workerd via Miniflare, ${CONCURRENCY} concurrent clients, ${SECONDS} s per measurement, median of ${ROUNDS} interleaved rounds; origin ${origin.url}`);
  console.log(`${"".padEnd(20)}${"bare req/s".padEnd(14)}${"edgeshift req/s".padEnd(18)}ratio (goal ≥ 0.95)`);
  for (const [kind, b, e] of rows) console.log(`${kind.padEnd(20)}${Math.round(b).toString().padEnd(14)}${Math.round(e).toString().padEnd(18)}${(e / b).toFixed(3)} ${e / b >= 0.95 ? "✓" : "✗"}`);
  console.log("note: client, workerd and origin share this machine's cores; the ratio, not the absolute figure, is the result.");
} finally {
  for (const m of mfs) await m.dispose().catch(() => {});
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
}
