// The edge Worker's own JavaScript per request, without the network: its fetch handler called N
// times in a loop inside one workerd request, with `fetch` stubbed (an immediate fixed answer), KV
// and the controller stubbed (a `rollout` document, no `flags`, an immediate view), and the workerd
// process's CPU time divided by N. A tool for the hot-path work beside bench-proxy.ts: under load on
// a shared machine that benchmark moves by ±20 µs per request between identical builds (by ±100 µs
// between short segments), while two identical builds measured here differ by 1–4 µs (medians of 9
// rounds, pinned, load average 2–3), so a change to the handler's code can be judged here first.
// What it leaves out is the runtime's side of a request (HTTP parsing, the upstream connection, the
// timeout timer and abort signal, entering the isolate again when the answer comes), which
// bench-proxy measures and this cannot.
//
// Usage: tsx scripts/profile-handler-cpu.ts [--against <commit>] [--calls 5000] [--rounds 9]
//   --against: the same measurement of another commit's src/ (git archive), interleaved with this
//   checkout's, and the difference per request. BENCH_PIN=1 pins the workerd processes to one core.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { numberFlag, stringFlag } from "./lib/args";
import { median } from "./lib/stats";
import { BENCH_SECRETS, bundleEntry, COMPATIBILITY_DATE } from "./lib/worker-bundle";
import { cpuNanos, pinIfAsked, startWorkerd, type Workerd } from "./lib/workerd-proc";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CALLS = numberFlag("calls", 5000);
const ROUNDS = numberFlag("rounds", 9);
const AGAINST = stringFlag("against", "");

/** The harness Worker around `entry` (an edge entry's path): the stubs and the loop. */
function harness(entry: string): string {
  return `import worker from ${JSON.stringify(entry)};
const DOC = JSON.stringify({ percent: 50, release: "v2.4.0" });
const VIEW = { revision: 1, doc: null, fingerprint: null, supersedes: [] };
const controller = { view: async () => VIEW, report: async () => VIEW, watch: async () => VIEW };
const env = {
  ...${JSON.stringify(BENCH_SECRETS)},
  BLUE_ORIGIN: "http://127.0.0.1:9001",
  GREEN_ORIGIN: "http://127.0.0.1:9002",
  CONFIG_TTL_SECONDS: "3",
  FLAGS_TTL_SECONDS: "3",
  FLAGS_MISSING_TTL_SECONDS: "3",
  ROLLOUT_CONFIG: { get: async (key) => (key === "rollout" ? new Response(DOC).body : null) },
  CONTROLLER: { idFromName: (n) => n, get: () => controller },
};
const ctx = { waitUntil: (p) => void p.catch(() => {}), passThroughOnException() {} };
const ANSWER_HEADERS = { "content-type": "application/json", date: "Tue, 01 Dec 2026 11:00:00 GMT", etag: 'W/"3f-abc"' };
export default {
  async fetch(request) {
    const u = new URL(request.url);
    const n = Number(u.searchParams.get("n"));
    const vid = u.searchParams.get("vid");
    const headers = new Headers({ "user-agent": "edgeshift-bench", accept: "application/json", "cf-connecting-ip": "203.0.113.7" });
    headers.set("cookie", vid ? "session=abc; edgeshift_vid=" + vid : "session=abc");
    const req = new Request("http://127.0.0.1:8787/fixed/products/42?ref=bench&x=%20", { headers, cf: request.cf });
    const realFetch = globalThis.fetch;
    globalThis.fetch = async () => new Response("x", { headers: ANSWER_HEADERS });
    try {
      let last = null;
      for (let i = 0; i < n; i++) last = await worker.fetch(req, env, ctx);
      return new Response(last.status + " " + (last.headers.get("set-cookie") ?? ""));
    } finally {
      globalThis.fetch = realFetch;
    }
  },
};
`;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-handler-cpu-"));
const started: Workerd[] = [];
try {
  const trees: [name: string, src: string][] = [["this checkout", path.join(ROOT, "src")]];
  if (AGAINST) {
    const dir = path.join(tmp, "against");
    mkdirSync(dir);
    execFileSync("sh", ["-c", `git -C "${ROOT}" archive "${AGAINST}" src | tar -x -C "${dir}"`]);
    // Its imports of zod resolve from this checkout's node_modules.
    symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    trees.unshift([AGAINST, path.join(dir, "src")]);
  }
  for (const [i, [, src]] of trees.entries()) {
    const entry = path.join(tmp, `harness-${i}.js`);
    writeFileSync(entry, harness(path.join(src, "index.ts")));
    const out = path.join(tmp, `out-${i}`, "harness.js");
    await bundleEntry(entry, out);
    const options = { compatibilityDate: COMPATIBILITY_DATE, modulesRoot: path.dirname(out) };
    started.push(
      await startWorkerd({ ...options, port: 0, host: "127.0.0.1", modules: [{ type: "ESModule", path: out }] }),
    );
  }
  pinIfAsked(started.map((w) => w.pid));

  const call = async (w: Workerd, n: number, vid: string) => {
    const r = await fetch(`${w.url}?n=${n}&vid=${vid}`);
    const text = await r.text();
    if (!text.startsWith("200")) throw new Error(`the handler answered ${text.slice(0, 200)}`);
    return text;
  };
  const vid = /edgeshift_vid=([^;]+)/.exec(await call(started[0], 1, ""))?.[1];
  if (!vid) throw new Error("no edgeshift_vid cookie from a new visitor: is the entry right?");
  for (const w of started) await call(w, CALLS, "");

  console.log(
    `the edge Worker's fetch handler, ${CALLS} calls per round in one workerd request, fetch/KV/controller stubbed; medians of ${ROUNDS} rounds, order alternating`,
  );
  for (const [kind, cookie] of [
    ["new visitors", ""],
    ["returning visitors", vid],
  ] as const) {
    const us = started.map((): number[] => []);
    for (let r = 0; r < ROUNDS; r++) {
      const order = [...started.keys()];
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const c0 = cpuNanos(started[i].pid);
        await call(started[i], CALLS, cookie);
        us[i].push((cpuNanos(started[i].pid) - c0) / CALLS / 1000);
      }
    }
    const cells = trees.map(([name], i) => `${name} ${median(us[i]).toFixed(2)} µs`);
    if (trees.length === 2) {
      const diff = us[1].map((x, r) => x - us[0][r]).sort((a, b) => a - b);
      cells.push(
        `difference ${median(diff).toFixed(2)} µs (rounds ${diff[0].toFixed(2)} to ${diff.at(-1)!.toFixed(2)})`,
      );
    }
    console.log(`${kind.padEnd(20)}${cells.join(" | ")}`);
  }
  console.log(
    "note: includes the stub's own Response (~2–3 µs); workerd's HTTP handling and the real fetch are not in it.",
  );
} finally {
  for (const w of started) await w.mf.dispose().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
