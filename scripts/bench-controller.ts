// How many isolate reports per second one RolloutController absorbs, against the same object
// answering a no-op RPC (ping) in the same run: the ratio is the cost of the real work (window
// update, SQLite upsert, rule evaluation) over the bare RPC round trip.
// Runs the real Durable Object class in workerd (Miniflare), SQLite storage, real KV.
// Usage: tsx scripts/bench-controller.ts [--reports 4000] [--concurrency 8]
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./lib/dev-stack";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg("reports", 4000);
const C = arg("concurrency", 8);

// The Worker side of the bench: C loops of RPCs to one controller, timed inside workerd.
const entry = `
import { RolloutController } from ${JSON.stringify(path.join(ROOT, "src/controller/durable-object.ts"))};
import { fingerprintOf } from ${JSON.stringify(path.join(ROOT, "src/model/fingerprint.ts"))};
export { RolloutController };
const LAT = (n) => { const a = new Array(25).fill(0); a[3] = n; return a; };
function report(fp) {
  const sec = Math.floor(Date.now() / 1000);
  const slot = (n, e) => ({ requests: n, errors5xx: e, errorsNetwork: 0, errorsTimeout: 0, failovers: e, latency: LAT(n) });
  return { isolate: "bench", sentAt: Date.now(), dropped: 0, batches: [{ fingerprint: fp, canary: "green", from: sec, to: sec, slots: { green: slot(20, 0), blue: slot(180, 1) } }] };
}
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    const n = Number(u.searchParams.get("n")), c = Number(u.searchParams.get("c")), kind = u.searchParams.get("kind");
    const stub = env.CONTROLLER.get(env.CONTROLLER.idFromName("bench"));
    const fp = fingerprintOf(await env.ROLLOUT_CONFIG.get("rollout"));
    const r = report(fp);
    await stub.ping(); await stub.report(r); // warm: instance loaded, attempt read from KV
    const t0 = performance.now();
    let left = n;
    await Promise.all(Array.from({ length: c }, async () => {
      while (left-- > 0) { if (kind === "report") await stub.report(r); else await stub.ping(); }
    }));
    return Response.json({ ms: performance.now() - t0 });
  },
};`;

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bench-"));
  try {
    writeFileSync(path.join(dir, "entry.js"), entry);
    const out = path.join(dir, "worker.js");
    await build({
      entryPoints: [path.join(dir, "entry.js")],
      bundle: true,
      format: "esm",
      platform: "neutral",
      conditions: ["workerd", "worker", "browser"],
      external: ["cloudflare:*", "node:*"],
      outfile: out,
      logLevel: "error",
    });
    const mf = new Miniflare({
      modules: true,
      scriptPath: out,
      modulesRoot: dir,
      compatibilityDate: "2026-04-01",
      kvNamespaces: ["ROLLOUT_CONFIG"],
      durableObjects: { CONTROLLER: { className: "RolloutController", useSQLite: true } },
      bindings: { BLUE_ORIGIN: "http://127.0.0.1:9", GREEN_ORIGIN: "http://127.0.0.1:9" },
    });
    try {
      const kv = await mf.getKVNamespace("ROLLOUT_CONFIG");
      const useWindow = (windowSeconds: number) =>
        kv.put(
          "rollout",
          JSON.stringify({
            percent: 10,
            release: `bench-${windowSeconds}`,
            rollback: { minRequests: 1_000_000, windowSeconds },
          }),
        );
      await useWindow(60);
      const run = async (kind: string) => {
        const r = await mf.dispatchFetch(`http://bench/?kind=${kind}&n=${N}&c=${C}`);
        const { ms } = (await r.json()) as { ms: number };
        return (N / ms) * 1000;
      };
      // Interleave to even out warm-up and machine noise; best of three each.
      const ping: number[] = [];
      const rep: number[] = [];
      for (let i = 0; i < 3; i++) {
        ping.push(await run("ping"));
        rep.push(await run("report"));
      }
      const p = Math.max(...ping);
      const q = Math.max(...rep);
      // Same work with a 60× longer window (a new document: a new attempt, a 3600-bucket ring).
      await useWindow(3600);
      const long: number[] = [];
      for (let i = 0; i < 3; i++) long.push(await run("report"));
      const l = Math.max(...long);
      console.log(`bench-controller: ${N} reports, ${C} concurrent callers, one Durable Object (workerd, SQLite)`);
      console.log(`  report():  ${q.toFixed(0)} reports/s   (each: 2 slots, latency histograms, window upsert, rules)`);
      console.log(`  ping():    ${p.toFixed(0)} RPC/s       (baseline: no-op RPC to the same object)`);
      console.log(
        `  ratio report/ping: ${(q / p).toFixed(2)}  — at one report per isolate every 2 s, ${Math.floor(q * 2)} busy isolates per controller`,
      );
      console.log(
        `  windowSeconds 3600 vs 60: ${l.toFixed(0)} vs ${q.toFixed(0)} reports/s (ratio ${(l / q).toFixed(2)}; cost per report does not grow with the window)`,
      );
    } finally {
      await mf.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
