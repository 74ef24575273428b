// The Worker as it is deployed (`wrangler deploy --dry-run --outdir`, so wrangler.toml's build
// settings apply), the bare pass-through Worker the benchmarks measure it against, built the same
// way, and the Miniflare options that load each with the bindings wrangler.toml declares.
import { build } from "esbuild";
import type { Miniflare, MiniflareOptions } from "miniflare";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT, runWrangler } from "../../cli/wrangler";

/**
 * The least a proxy can do: forward the incoming request to one origin, with one header patched as
 * edgeshift patches its copy, and return the answer. Two ways of building the upstream fetch:
 * - "init" (the baseline): an init object, `{ method, headers: new Headers(request.headers) patched,
 *   body, redirect: "manual" }`, the shape edgeshift uses (src/proxy/forward.ts). Measured in workerd
 *   it costs ~11 % less CPU per whole request than the Request shape (30–45 % less for building
 *   the fetch alone), so a baseline in the Request shape would be
 *   slower than it need be and flatter edgeshift.
 * - "request": from the incoming Request (`new Request(url, request)`, headers patched), to compare.
 */
export const BARE_WORKERS = {
  init: `export default {
  fetch(request, env) {
    const u = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-forwarded-proto", "http");
    return fetch(env.ORIGIN + u.pathname + u.search, { method: request.method, headers, body: request.body, redirect: "manual" });
  },
};`,
  request: `export default {
  fetch(request, env) {
    const u = new URL(request.url);
    const up = new Request(env.ORIGIN + u.pathname + u.search, request);
    up.headers.set("x-forwarded-proto", "http");
    return fetch(up, { redirect: "manual" });
  },
};`,
} as const;
export type BareShape = keyof typeof BARE_WORKERS;

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

export const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function bundleAt(file: string): Bundle {
  return { file, bytes: statSync(file).size, gzipBytes: gzipSync(readFileSync(file)).length };
}

/** edgeshift, built by wrangler from this checkout's wrangler.toml into `outdir`. */
export async function buildEdgeshift(outdir: string): Promise<Bundle> {
  await runWrangler(["deploy", "--dry-run", "--outdir", outdir]);
  return bundleAt(path.join(outdir, "index.js"));
}

/**
 * A benchmark's own Worker: `entry` (TypeScript or JavaScript, importing src/ modules as it likes)
 * bundled by esbuild into one ES module at `outfile`, the runtime's `cloudflare:*` modules left as imports.
 */
export async function bundleEntry(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*", "node:*"],
    outfile,
    logLevel: "error",
  });
}

/**
 * The bare Worker, built by the same wrangler with the same build settings (minify included), in
 * the "init" shape unless `shape` says otherwise. `withController`: also export an empty class for
 * edgeshift's Durable Object binding, so it can be loaded with edgeshift's bindings (it never uses them).
 */
export async function buildBare(
  outdir: string,
  opts: { withController?: boolean; shape?: BareShape } = {},
): Promise<Bundle> {
  const src = path.join(outdir, "src");
  mkdirSync(src, { recursive: true });
  const controller = opts.withController ? "\nexport class RolloutController {}\n" : "";
  writeFileSync(path.join(src, "bare.js"), BARE_WORKERS[opts.shape ?? "init"] + controller);
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

/**
 * Both secrets set, so the code paths they turn on (override token lookup, explain check) run in a
 * benchmark as in production; unset, a benchmark would time a proxy lighter than the deployed one.
 */
export const BENCH_SECRETS = {
  ADMIN_TOKEN: "bench-admin-token-0123456789abcdef",
  OVERRIDE_SECRET: "bench-override-secret",
};

/** edgeshift with its KV namespace and controller Durable Object as wrangler.toml binds them. */
export function edgeshiftOptions(
  bundle: Bundle,
  originUrl: string,
  extra: { bindings?: Record<string, string>; kvPersist?: string | false } = {},
): MiniflareOptions {
  return {
    ...common,
    ...modulesOf(bundle),
    bindings: {
      BLUE_ORIGIN: originUrl,
      GREEN_ORIGIN: originUrl,
      CONFIG_TTL_SECONDS: "3",
      FLAGS_TTL_SECONDS: "3",
      FLAGS_MISSING_TTL_SECONDS: "3",
      ...extra.bindings,
    },
    kvNamespaces: ["ROLLOUT_CONFIG"],
    // As wrangler.toml declares them: isolates report to and watch through an aggregator.
    durableObjects: {
      CONTROLLER: { className: "RolloutController", useSQLite: true },
      AGGREGATOR: { className: "ReportAggregator", useSQLite: true },
    },
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

/** A realistic document: half the traffic on the canary, a release label (so a salt), rollback on. */
export async function seedRollout(mf: Miniflare): Promise<void> {
  await (await mf.getKVNamespace("ROLLOUT_CONFIG")).put("rollout", JSON.stringify({ percent: 50, release: "v2.4.0" }));
}

/**
 * The visitor id edgeshift set on `r`: proof that the answer took edgeshift's own path (config read,
 * decision, visitor cookie) rather than, say, an empty or wrong bundle's.
 */
export function visitorIdOf(r: Response): string {
  const vid = /edgeshift_vid=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")?.[1];
  if (!vid)
    throw new Error(`edgeshift answered ${r.status} without setting an edgeshift_vid cookie; is the bundle right?`);
  return vid;
}
