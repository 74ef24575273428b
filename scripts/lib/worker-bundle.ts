// edgeshift as it is deployed: two scripts, each built by `wrangler deploy --dry-run --outdir` from
// its own config (so its build settings apply): the edge Worker (wrangler.toml, the proxy) and the
// control Worker (wrangler.control.toml: the Durable Objects, the admin app). The bare pass-through
// Worker the benchmarks measure against, built the same way, and the Miniflare options that load
// each with the bindings the configs declare: the edge first (it answers), its CONTROL service
// binding and its Durable Objects by scriptName reaching the control Worker, one KV namespace.
import { build } from "esbuild";
import type { Miniflare, MiniflareOptions, WorkerOptions } from "miniflare";
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

/** The control Worker's config and script name (wrangler.control.toml), as the edge binds it. */
export const CONTROL_CONFIG = "wrangler.control.toml";
export const CONTROL_SCRIPT = "edgeshift-control";

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

/** The two scripts of one build: what a new edge isolate parses, and what serves it. */
export interface Edgeshift {
  /** The edge Worker, src/index.ts: the proxy; what every new isolate at the edge parses. */
  edge: Bundle;
  /** The control Worker, src/control.ts: the Durable Objects and the admin app. */
  control: Bundle;
}

/** edgeshift, both scripts built by wrangler from this checkout's configs into `outdir`. */
export async function buildEdgeshift(outdir: string): Promise<Edgeshift> {
  await runWrangler(["deploy", "--dry-run", "--outdir", path.join(outdir, "edge")]);
  await runWrangler(["deploy", "--dry-run", "--config", CONTROL_CONFIG, "--outdir", path.join(outdir, "control")]);
  return {
    edge: bundleAt(path.join(outdir, "edge", "index.js")),
    control: bundleAt(path.join(outdir, "control", "control.js")),
  };
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
 * the "init" shape unless `shape` says otherwise.
 */
export async function buildBare(outdir: string, opts: { shape?: BareShape } = {}): Promise<Bundle> {
  const src = path.join(outdir, "src");
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, "bare.js"), BARE_WORKERS[opts.shape ?? "init"]);
  const minify = /^minify\s*=\s*true/m.test(readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"));
  writeFileSync(
    path.join(src, "wrangler.toml"),
    `name = "bare"\nmain = "bare.js"\ncompatibility_date = "${COMPATIBILITY_DATE}"\nminify = ${minify}\n`,
  );
  const out = path.join(outdir, "out");
  await runWrangler(["deploy", "--dry-run", "--config", path.join(src, "wrangler.toml"), "--outdir", out]);
  return bundleAt(path.join(out, "bare.js"));
}

const shared = { port: 0, host: "127.0.0.1" } as const;

/**
 * The bundle as one ES module, listed rather than found: with `scriptPath` and `modules: true`
 * Miniflare parses the whole script in Node (acorn) to follow its imports, a cost of the local
 * simulator that grows with the bundle and that no isolate at the edge pays. A wrangler bundle
 * imports nothing but the runtime's own `cloudflare:*` modules.
 */
const modulesOf = (bundle: Bundle) => ({
  compatibilityDate: COMPATIBILITY_DATE,
  modules: [{ type: "ESModule" as const, path: bundle.file }],
  modulesRoot: path.dirname(bundle.file),
});

/** Miniflare options of several Workers: the first answers `mf.ready`'s URL. */
export type WorkersOptions = MiniflareOptions & { workers: WorkerOptions[] };

/**
 * Both secrets set, so the code paths they turn on (override token lookup, explain check) run in a
 * benchmark as in production; unset, a benchmark would time a proxy lighter than the deployed one.
 */
export const BENCH_SECRETS = {
  ADMIN_TOKEN: "bench-admin-token-0123456789abcdef",
  OVERRIDE_SECRET: "bench-override-secret",
};

/**
 * edgeshift as the two configs bind it: the edge Worker first (it answers), with the KV namespace,
 * the CONTROL service binding and both Durable Objects by scriptName; the control Worker with the
 * same KV namespace and the classes. `bindings` go to both (secrets are set in each script); the
 * origins only to the edge.
 */
export function edgeshiftOptions(
  bundles: Edgeshift,
  originUrl: string,
  extra: { bindings?: Record<string, string>; kvPersist?: string | false } = {},
): WorkersOptions {
  const ttls = { CONFIG_TTL_SECONDS: "3", FLAGS_TTL_SECONDS: "3", FLAGS_MISSING_TTL_SECONDS: "3" };
  return {
    ...shared,
    kvPersist: extra.kvPersist ?? false,
    durableObjectsPersist: false,
    workers: [
      {
        name: "edgeshift",
        ...modulesOf(bundles.edge),
        bindings: { BLUE_ORIGIN: originUrl, GREEN_ORIGIN: originUrl, ...ttls, ...extra.bindings },
        kvNamespaces: { ROLLOUT_CONFIG: KV_ID },
        serviceBindings: { CONTROL: CONTROL_SCRIPT },
        // As wrangler.toml declares them: isolates report to and watch through an aggregator.
        durableObjects: {
          CONTROLLER: { className: "RolloutController", scriptName: CONTROL_SCRIPT },
          AGGREGATOR: { className: "ReportAggregator", scriptName: CONTROL_SCRIPT },
        },
      },
      {
        name: CONTROL_SCRIPT,
        ...modulesOf(bundles.control),
        bindings: { ...ttls, ...extra.bindings },
        kvNamespaces: { ROLLOUT_CONFIG: KV_ID },
        durableObjects: {
          CONTROLLER: { className: "RolloutController", useSQLite: true },
          AGGREGATOR: { className: "ReportAggregator", useSQLite: true },
        },
      },
    ],
  };
}
const KV_ID = "edgeshift-rollout";

/**
 * The bare Worker alone, or (`withBindingsOf`) in the edge Worker's place among edgeshift's Workers:
 * its bindings declared and unused, the other Workers (the control Worker, when loaded in the same
 * workerd) beside it, as a baseline that pays what Miniflare costs for them.
 */
export function bareOptions(bundle: Bundle, originUrl: string, withBindingsOf?: WorkersOptions): MiniflareOptions {
  if (withBindingsOf === undefined) return { ...shared, ...modulesOf(bundle), bindings: { ORIGIN: originUrl } };
  const [edge, ...rest] = withBindingsOf.workers;
  return {
    ...withBindingsOf,
    workers: [{ ...edge, name: "bare", ...modulesOf(bundle), bindings: { ORIGIN: originUrl } }, ...rest],
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
