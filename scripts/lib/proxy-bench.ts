// The stage of the benchmarks that set edgeshift against the bare Worker in front of one origin
// (bench-proxy, bench-flags, bench-goals): a scratch folder, the origin, both bundles built as
// deployed, the bare Worker started, and edgeshift instances started on demand; `close` tears all
// of it down, and a failure while setting up tears down what was set up, so no workerd outlives a
// failed run.
import type { MiniflareOptions } from "miniflare";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startOrigin, type Origin } from "./origin-server";
import { BENCH_SECRETS, bareOptions, buildBare, buildEdgeshift, edgeshiftOptions } from "./worker-bundle";
import { startWorkerd, type Workerd } from "./workerd-proc";

export interface ProxyBench {
  origin: Origin;
  bare: Workerd;
  /** A new edgeshift workerd with BENCH_SECRETS set and its own empty KV. */
  startEdgeshift(): Promise<Workerd>;
  close(): Promise<void>;
}

export async function openProxyBench(name: string): Promise<ProxyBench> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const origin = await startOrigin("bench");
  const started: Workerd[] = [];
  const close = async () => {
    for (const w of started) await w.mf.dispose().catch(() => {});
    await origin.close();
    rmSync(tmp, { recursive: true, force: true });
  };
  const start = async (options: MiniflareOptions) => {
    const w = await startWorkerd(options);
    started.push(w);
    return w;
  };
  try {
    const edgeBundle = await buildEdgeshift(path.join(tmp, "edgeshift"));
    const bareBundle = await buildBare(path.join(tmp, "bare"));
    const bare = await start(bareOptions(bareBundle, origin.url));
    const startEdgeshift = () => start(edgeshiftOptions(edgeBundle, origin.url, { bindings: BENCH_SECRETS }));
    return { origin, bare, startEdgeshift, close };
  } catch (e) {
    await close();
    throw e;
  }
}
