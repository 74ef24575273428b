// Where the proxy's isolate spends its time under load: V8's sampling CPU profiler, reached through
// Miniflare's inspector port, attached to the user Worker while 16 clients send it requests. A tool
// for the hot-path work (the throughput and CPU ratios themselves come from bench-proxy.ts): it
// names the functions, which a ratio cannot.
//
// edgeshift's edge Worker is bundled unminified from src/index.ts (its control Worker from src/control.ts,
// loaded beside it; esbuild, as the fleet benchmark does), so functions keep their names and lines; `--worker bare` profiles the bare pass-through Worker of
// bench-proxy.ts instead, built as wrangler builds it. Sampling at 50 µs on a shared machine is
// noisy: compare runs, and read the per-request figures as shares, not timings.
//
// Usage: tsx scripts/profile-proxy.ts [--visitors new|returning] [--worker edgeshift|bare]
//   [--seconds 8] [--top 30]
import { Miniflare, type MiniflareOptions } from "miniflare";
import WebSocket from "ws";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { choiceFlag, numberFlag } from "./lib/args";
import { startOrigin } from "./lib/origin-server";
import {
  BENCH_SECRETS,
  bareOptions,
  buildBare,
  bundleAt,
  bundleEntry,
  edgeshiftOptions,
  seedRollout,
  visitorIdOf,
} from "./lib/worker-bundle";

const VISITORS = choiceFlag("visitors", ["new", "returning"], "new");
const WORKER = choiceFlag("worker", ["edgeshift", "bare"], "edgeshift");
const SECONDS = numberFlag("seconds", 8);
const TOP = numberFlag("top", 30);
const INSPECTOR_PORT = 9339;
const CONCURRENCY = 16;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-profile-"));
const origin = await startOrigin("profile");
let mf: Miniflare | null = null;
try {
  let options: MiniflareOptions;
  if (WORKER === "bare") options = bareOptions(await buildBare(path.join(tmp, "bare")), origin.url);
  else {
    await bundleEntry("src/index.ts", path.join(tmp, "index.js"));
    await bundleEntry("src/control.ts", path.join(tmp, "control.js"));
    const bundles = { edge: bundleAt(path.join(tmp, "index.js")), control: bundleAt(path.join(tmp, "control.js")) };
    options = edgeshiftOptions(bundles, origin.url, { bindings: BENCH_SECRETS });
  }
  mf = new Miniflare({ ...options, inspectorPort: INSPECTOR_PORT } as MiniflareOptions);
  const url = (await mf.ready).toString();
  if (WORKER !== "bare") await seedRollout(mf);
  const first = await fetch(url + "page");
  const cookie = WORKER === "bare" ? "edgeshift_vid=x" : `edgeshift_vid=${visitorIdOf(first)}`;
  await first.arrayBuffer();

  // Miniflare's own Workers (entry, cf stripping, KV) have targets too: the user Worker is "core:user:",
  // edgeshift's edge Worker "core:user:edgeshift" (its control Worker, "core:user:edgeshift-control", is not profiled).
  const targets = (await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json()) as {
    title: string;
    webSocketDebuggerUrl: string;
  }[];
  const wanted = WORKER === "bare" ? /core:user:/ : /core:user:edgeshift(?!-)/;
  const target = targets.find((t) => wanted.test(t.title));
  if (!target) throw new Error(`no user Worker among the inspector's targets: ${targets.map((t) => t.title)}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl.replace("localhost", "127.0.0.1"));
  await new Promise((ok, fail) => (ws.once("open", ok), ws.once("error", fail)));
  let nextId = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.on("message", (m: WebSocket.RawData) => {
    const msg = JSON.parse(String(m)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result);
  });
  const call = <T>(method: string, params: object = {}) =>
    new Promise<T>((ok) => {
      const id = ++nextId;
      waiting.set(id, ok as (r: unknown) => void);
      ws.send(JSON.stringify({ id, method, params }));
    });

  const load = async (ms: number) => {
    const end = Date.now() + ms;
    let n = 0;
    const headers: Record<string, string> = VISITORS === "new" ? {} : { cookie };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (Date.now() < end) {
          await (await fetch(url + "page", { headers })).arrayBuffer();
          n++;
        }
      }),
    );
    return n;
  };
  await load(2000); // warm-up: the JIT has settled before sampling
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 50 });
  await call("Profiler.start");
  const n = await load(SECONDS * 1000);
  const { profile } = await call<{ profile: Profile }>("Profiler.stop");
  ws.close();

  const nameOf = (f: ProfileNode["callFrame"]) =>
    `${f.functionName || "(anonymous)"}${f.url ? ` ${path.basename(f.url)}:${f.lineNumber + 1}` : ""}`;
  const selfById = new Map<number, number>();
  profile.samples.forEach((id, i) => selfById.set(id, (selfById.get(id) ?? 0) + profile.timeDeltas[i]));
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  for (const [id, us] of selfById) {
    const k = nameOf(byId.get(id)!.callFrame);
    self.set(k, (self.get(k) ?? 0) + us);
  }
  // Inclusive: a node's own samples and its subtree's, summed per function (a recursive function counts twice).
  const inclusive = new Map<string, number>();
  const subtree = (id: number): number =>
    (selfById.get(id) ?? 0) + (byId.get(id)!.children ?? []).reduce((a, c) => a + subtree(c), 0);
  for (const x of profile.nodes) {
    if (!x.callFrame.url) continue;
    const k = nameOf(x.callFrame);
    inclusive.set(k, (inclusive.get(k) ?? 0) + subtree(x.id));
  }
  let busy = 0;
  for (const [k, us] of self) if (k !== "(idle)") busy += us;
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([k, us]) => `${(us / n).toFixed(1).padStart(8)} µs/request  ${k}`)
      .join("\n");
  console.log(
    `${WORKER}, ${VISITORS} visitors: ${n} requests in ${SECONDS} s, ${CONCURRENCY} clients; the isolate busy ${(busy / n).toFixed(0)} µs per request (sampled)`,
  );
  console.log(`\nself time (native runtime calls show by their API name, ":0"):\n${rows(self)}`);
  console.log(`\ninclusive time of the Worker's own functions:\n${rows(inclusive)}`);
} finally {
  await mf?.dispose();
  await origin.close();
  rmSync(tmp, { recursive: true, force: true });
}
