// Bundle size: what `wrangler deploy` would upload for edgeshift, beside a bare pass-through Worker
// built by the same wrangler with the same settings in the same run. Every new isolate parses the
// whole bundle before it can answer (scripts/bench-cold-start.ts times that), and the edge caps a
// Worker's size. Goal: ≤ 150 KiB uncompressed (it was 966 KiB, 764 of them zod's full build).
// The bare Worker is the one every benchmark measures against: it forwards with an init object
// (`BARE_WORKERS.init` in lib/worker-bundle.ts), edgeshift's own upstream fetch shape and the one
// that costs workerd less CPU; here the shape changes the baseline by a few bytes only.
//
// BENCH_EDGESHIFT_BUNDLE=<file> measures an already built bundle instead (e.g. an older commit's).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildBare, buildEdgeshift, bundleAt, kib } from "./lib/worker-bundle";

const GOAL_KIB = 150;

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bundle-"));
try {
  const given = process.env.BENCH_EDGESHIFT_BUNDLE;
  const edge = given ? bundleAt(given) : await buildEdgeshift(path.join(tmp, "edgeshift"));
  const bare = await buildBare(path.join(tmp, "bare"));
  console.log(
    `wrangler deploy --dry-run --outdir, this checkout's wrangler.toml${given ? `; edgeshift from ${given}` : ""}`,
  );
  console.log(`${"".padEnd(14)}${"uncompressed".padEnd(16)}gzip`);
  console.log(`${"bare Worker".padEnd(14)}${kib(bare.bytes).padEnd(16)}${kib(bare.gzipBytes)}`);
  console.log(`${"edgeshift".padEnd(14)}${kib(edge.bytes).padEnd(16)}${kib(edge.gzipBytes)}`);
  console.log(
    `edgeshift / bare: ${(edge.bytes / bare.bytes).toFixed(0)}× uncompressed, ${(edge.gzipBytes / bare.gzipBytes).toFixed(0)}× gzip`,
  );
  const share = edge.bytes / (GOAL_KIB * 1024);
  console.log(`edgeshift / goal (${GOAL_KIB} KiB uncompressed): ${share.toFixed(2)} ${share <= 1 ? "✓" : "✗"}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
