// How many isolate reports per second one RolloutController absorbs, against the same object
// answering a no-op RPC (ping) in the same run: the ratio is the cost of the real work (window
// update, the visitor ledgers, rule evaluation, and the SQLite upserts of the write-behind) over the
// bare RPC round trip. Each report names its visitors (50, fresh ids) as an isolate's would.
// Each timed run lasts well past the 250 ms persist interval and ends with `settle()`, so every
// window row and counter it produced is written inside the measurement. A third lens writes after
// every report (`settle()` per report: one commit each), the cost the write-behind saves.
// Runs the real Durable Object class in workerd (Miniflare), SQLite storage, real KV, in-process:
// no network and no per-object request limit, so these are ratios, not a production capacity.
// Usage: tsx scripts/bench-controller.ts [--reports 20000] [--concurrency 8]
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { numberFlag } from "./lib/args";
import { ROOT } from "./lib/dev-stack";
import { bundleEntry } from "./lib/worker-bundle";

const N = numberFlag("reports", 20000);
const C = numberFlag("concurrency", 8);

// The Worker side of the bench: C loops of RPCs to one controller, timed inside workerd.
const entry = `
import { RolloutController } from ${JSON.stringify(path.join(ROOT, "src/controller/durable-object.ts"))};
import { fingerprintOf } from ${JSON.stringify(path.join(ROOT, "src/model/fingerprint.ts"))};
export { RolloutController };
const LAT = (n) => { const a = new Array(25).fill(0); a[3] = n; return a; };
// Who the outcomes came from, as an isolate lists them: v visitors (fresh ids every report, so the
// visitor ledgers grow as with real traffic), r requests each, the first e with one error.
let seq = 0;
const who = (v, r, e) => {
  const base = (seq += v);
  return { v: Array.from({ length: v }, (_, i) => base + i), n: Array.from({ length: v }, (_, i) => (base + i) % 5000), r: new Array(v).fill(r), e: Array.from({ length: v }, (_, i) => (i < e ? 1 : 0)) };
};
function report(fp) {
  const sec = Math.floor(Date.now() / 1000);
  const slot = (n, e) => ({ requests: n, errors5xx: e, errorsNetwork: 0, errorsTimeout: 0, failovers: e, latency: LAT(n) });
  return { isolate: "bench", sentAt: Date.now(), dropped: 0, batches: [{ fingerprint: fp, canary: "green", from: sec, to: sec, slots: { green: slot(20, 0), blue: slot(180, 1) }, contributors: { green: who(5, 4, 0), blue: who(45, 4, 1) } }] };
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
      while (left-- > 0) {
        if (kind === "ping") await stub.ping();
        else await stub.report(kind === "ping" ? r : report(fp));
        if (kind === "report-commit") await stub.settle();
      }
    }));
    await stub.settle(); // what the write-behind still holds is part of the cost
    return Response.json({ ms: performance.now() - t0 });
  },
};`;

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bench-"));
  try {
    writeFileSync(path.join(dir, "entry.js"), entry);
    const out = path.join(dir, "worker.js");
    await bundleEntry(path.join(dir, "entry.js"), out);
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
      const run = async (kind: string, n = N) => {
        const r = await mf.dispatchFetch(`http://bench/?kind=${kind}&n=${n}&c=${C}`);
        const { ms } = (await r.json()) as { ms: number };
        return { perSecond: (n / ms) * 1000, ms };
      };
      // Interleave to even out warm-up and machine noise; best of three each.
      const ping: number[] = [];
      const rep: number[] = [];
      const commit: number[] = [];
      let reportMs = 0;
      for (let i = 0; i < 3; i++) {
        ping.push((await run("ping")).perSecond);
        const one = await run("report");
        rep.push(one.perSecond);
        reportMs = Math.max(reportMs, one.ms);
        // A commit per report is slow: a tenth of the reports gives the same rate in less time.
        commit.push((await run("report-commit", Math.ceil(N / 10))).perSecond);
      }
      const p = Math.max(...ping);
      const q = Math.max(...rep);
      const k = Math.max(...commit);
      // Same work with a 60× longer window (a new document: a new attempt, a 3600-bucket ring).
      await useWindow(3600);
      const long: number[] = [];
      for (let i = 0; i < 3; i++) long.push((await run("report")).perSecond);
      const l = Math.max(...long);
      console.log(
        `bench-controller: ${N} reports, ${C} concurrent callers, one Durable Object (workerd, SQLite, in-process)`,
      );
      console.log(
        `  report():  ${q.toFixed(0)} reports/s   (2 slots, latency histograms, rules; window rows written every 250 ms, ~${Math.round(reportMs / 250)} writes per run)`,
      );
      console.log(`  ping():    ${p.toFixed(0)} RPC/s       (baseline: no-op RPC to the same object)`);
      console.log(`  ratio report/ping: ${(q / p).toFixed(2)}`);
      console.log(
        `  a commit per report (settle() after each): ${k.toFixed(0)} reports/s (write-behind ${(q / k).toFixed(1)}× faster)`,
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
