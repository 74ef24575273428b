// The Worker as it is deployed (`wrangler deploy --dry-run --outdir`, so wrangler.toml's build
// settings apply), the bare pass-through Worker the benchmarks measure it against, built the same
// way, and the Miniflare options that load each with the bindings wrangler.toml declares.
import type { MiniflareOptions } from "miniflare";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT, runWrangler } from "../../cli/wrangler";

/** The least a proxy can do: forward the incoming request to one origin and return its answer. */
export const BARE_WORKER = `export default {
  fetch(request, env) {
    const u = new URL(request.url);
    return fetch(env.ORIGIN + u.pathname + u.search, request);
  },
};`;

export const COMPATIBILITY_DATE = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(
  readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"),
)![1];

export interface Bundle {
  /** The module wrangler would upload. */
  file: string;
  bytes: number;
  /** gzip at the default level, as wrangler's "Total Upload … / gzip" line reports it. */
  gzipBytes: number;
}

export function bundleAt(file: string): Bundle {
  return { file, bytes: statSync(file).size, gzipBytes: gzipSync(readFileSync(file)).length };
}

/** edgeshift, built by wrangler from this checkout's wrangler.toml into `outdir`. */
export async function buildEdgeshift(outdir: string): Promise<Bundle> {
  await runWrangler(["deploy", "--dry-run", "--outdir", outdir]);
  return bundleAt(path.join(outdir, "index.js"));
}

/**
 * The bare Worker, built by the same wrangler with the same build settings (minify included).
 * `withController`: also export an empty class for edgeshift's Durable Object binding, so it can be
 * loaded with edgeshift's bindings (it never uses them).
 */
export async function buildBare(outdir: string, opts: { withController?: boolean } = {}): Promise<Bundle> {
  const src = path.join(outdir, "src");
  mkdirSync(src, { recursive: true });
  const controller = opts.withController ? "\nexport class RolloutController {}\n" : "";
  writeFileSync(path.join(src, "bare.js"), BARE_WORKER + controller);
  const minify = /^minify\s*=\s*true/m.test(readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"));
  writeFileSync(
    path.join(src, "wrangler.toml"),
    `name = "bare"\nmain = "bare.js"\ncompatibility_date = "${COMPATIBILITY_DATE}"\nminify = ${minify}\n`,
  );
  const out = path.join(outdir, "out");
  await runWrangler(["deploy", "--dry-run", "--config", path.join(src, "wrangler.toml"), "--outdir", out]);
  return bundleAt(path.join(out, "bare.js"));
}

const common = { compatibilityDate: COMPATIBILITY_DATE, port: 0, host: "127.0.0.1" } as const;

/**
 * The bundle as one ES module, listed rather than found: with `scriptPath` and `modules: true`
 * Miniflare parses the whole script in Node (acorn) to follow its imports, a cost of the local
 * simulator that grows with the bundle and that no isolate at the edge pays. A wrangler bundle
 * imports nothing but the runtime's own `cloudflare:*` modules.
 */
const modulesOf = (bundle: Bundle) => ({
  modules: [{ type: "ESModule" as const, path: bundle.file }],
  modulesRoot: path.dirname(bundle.file),
});

/** edgeshift with its KV namespace and controller Durable Object as wrangler.toml binds them. */
export function edgeshiftOptions(
  bundle: Bundle,
  originUrl: string,
  extra: { bindings?: Record<string, string>; kvPersist?: string | false } = {},
): MiniflareOptions {
  return {
    ...common,
    ...modulesOf(bundle),
    bindings: { BLUE_ORIGIN: originUrl, GREEN_ORIGIN: originUrl, CONFIG_TTL_SECONDS: "3", ...extra.bindings },
    kvNamespaces: ["ROLLOUT_CONFIG"],
    durableObjects: { CONTROLLER: { className: "RolloutController", useSQLite: true } },
    kvPersist: extra.kvPersist ?? false,
    durableObjectsPersist: false,
  };
}

/** The bare Worker alone, or (`withBindingsOf`) with edgeshift's bindings declared and unused. */
export function bareOptions(bundle: Bundle, originUrl: string, withBindingsOf?: MiniflareOptions): MiniflareOptions {
  return {
    ...(withBindingsOf ?? common),
    ...modulesOf(bundle),
    bindings: { ORIGIN: originUrl },
  };
}
