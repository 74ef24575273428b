// Bundle size: what `wrangler deploy` would upload for each of edgeshift's two scripts, beside a
// bare pass-through Worker built by the same wrangler with the same settings in the same run. The
// goal is the edge Worker's (wrangler.toml, src/index.ts): every new isolate at the edge parses the
// whole bundle before it can answer (scripts/bench-cold-start.ts times that), and the edge caps a
// Worker's size. Goal: ≤ 150 KiB uncompressed (it was 966 KiB, 764 of them zod's full build). The
// control Worker (wrangler.control.toml: the Durable Objects, the admin app) is reported apart: its
// isolates start when an operator, OFREP or an edge isolate's report first calls it, not on the
// request path.
// The bare Worker is the one every benchmark measures against: it forwards with an init object
// (`BARE_WORKERS.init` in lib/worker-bundle.ts), edgeshift's own upstream fetch shape and the one
// that costs workerd less CPU; here the shape changes the baseline by a few bytes only.
//
// BENCH_EDGESHIFT_BUNDLE=<file> measures an already built edge bundle instead (e.g. an older
// commit's, which before the split was the one script).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildBare, buildEdgeshift, bundleAt, kib, type Bundle } from "./lib/worker-bundle";

const GOAL_KIB = 150;

const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-bundle-"));
try {
  const given = process.env.BENCH_EDGESHIFT_BUNDLE;
  const built = given ? null : await buildEdgeshift(path.join(tmp, "edgeshift"));
  const edge = given ? bundleAt(given) : built!.edge;
  const bare = await buildBare(path.join(tmp, "bare"));
  console.log(
    `wrangler deploy --dry-run --outdir, this checkout's wrangler.toml and wrangler.control.toml${given ? `; the edge from ${given}` : ""}`,
  );
  const row = (name: string, b: Bundle) =>
    console.log(`${name.padEnd(20)}${kib(b.bytes).padEnd(16)}${kib(b.gzipBytes)}`);
  console.log(`${"".padEnd(20)}${"uncompressed".padEnd(16)}gzip`);
  row("bare Worker", bare);
  row("edgeshift (edge)", edge);
  if (built) row("edgeshift-control", built.control);
  console.log(
    `edge / bare: ${(edge.bytes / bare.bytes).toFixed(0)}× uncompressed, ${(edge.gzipBytes / bare.gzipBytes).toFixed(0)}× gzip`,
  );
  const share = edge.bytes / (GOAL_KIB * 1024);
  console.log(`edge / goal (${GOAL_KIB} KiB uncompressed): ${share.toFixed(2)} ${share <= 1 ? "✓" : "✗"}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
