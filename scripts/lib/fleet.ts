// Many isolates locally: N edgeshift edge Workers in one Miniflare (one workerd), each loading the
// real edge bundle (`wrangler deploy --dry-run --outdir`, lib/worker-bundle.ts) and so each with its
// own module state — its own config cache and recorder, as an isolate at the edge has. All are bound
// to ONE controller Durable Object and to the aggregation tier's objects (both hosted by the control
// Worker's bundle, reached by `scriptName`, as wrangler.toml binds them), hand `/__edgeshift*` to it
// through their CONTROL service binding, and share ONE KV namespace, in front of real origin servers. Without the AGGREGATOR binding an isolate would silently report straight
// to the root: `tier: false` does that on purpose. For the fleet test (test/e2e/fleet.test.ts) and
// benchmarks; keep additions backwards compatible (other scripts build on it).
import { Miniflare, type WorkerOptions } from "miniflare";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startOrigin, type Origin } from "./origin-server";
import { buildEdgeshift, COMPATIBILITY_DATE, type Bundle, type Edgeshift } from "./worker-bundle";

/** ≥ 32 characters, as the admin API requires of a token. */
export const FLEET_ADMIN_TOKEN = "fleet-admin-token-0123456789abcdef";
/** The control Worker: hosts the controller and aggregator objects, answers the isolates' admin paths. */
export const CONTROLLER_HOST = "controller";
const KV_ID = "fleet-rollout";
/** Aggregators per location unless AGGREGATOR_SHARDS says otherwise (src/aggregator/rpc.ts DEFAULT_SHARDS; not imported: Workers types). */
const DEFAULT_SHARDS = 2;
/** An aggregator's lifetime counters (src/aggregator/rpc.ts AggregatorStats). */
export type AggregatorStats = Record<
  | "reports"
  | "forwards"
  | "viewCalls"
  | "failures"
  | "partsDropped"
  | "watches"
  | "watchFailures"
  | "watchesDead"
  | "isolateViews"
  | "isolateWatches"
  | "isolateWatchesHeld",
  number
>;
/** The `cf.colo` Miniflare gives every request when real cf data is off: the one location of the fleet. */
export const FLEET_COLO = "DFW";

export interface FleetOptions {
  isolates: number;
  /** Built once into a temp dir unless given (a benchmark may reuse one build for several fleets). */
  bundle?: Edgeshift;
  /** Extra bindings for every isolate (CONFIG_TTL_SECONDS is "3" unless given). */
  bindings?: Record<string, string>;
  /** Isolates report through ReportAggregator objects (the deployed shape); default true. */
  tier?: boolean;
}

export interface Fleet {
  mf: Miniflare;
  /** The canary's and stable's origins: blue is stable, green the canary unless the document says otherwise. */
  blue: Origin;
  green: Origin;
  isolates: number;
  /** A request to isolate `i` (0-based), path with leading slash. */
  fetch(i: number, pathname: string, init?: RequestInit): Promise<Response>;
  /** Writes the `rollout` document into the one KV namespace (what `wrangler kv key put` does). */
  putRollout(doc: unknown): Promise<void>;
  /** Each aggregator's lifetime counters, by instance name (none without the tier). */
  aggregatorStats(): Promise<Record<string, AggregatorStats>>;
  /** The controller's event history through isolate `via`'s admin API, newest first. */
  history(via?: number): Promise<{ id: number; at: string; kind: string; reason: string }[]>;
  stop(): Promise<void>;
}

export const isolateName = (i: number) => `iso-${i}`;
const hostOf = (i: number) => `${isolateName(i)}.fleet.test`;

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-fleet-"));
  const [blue, green] = await Promise.all([startOrigin("blue"), startOrigin("green")]);
  let mf: Miniflare | null = null;
  try {
    const bundle = o.bundle ?? (await buildEdgeshift(path.join(tmp, "bundle")));
    const code = (b: Bundle) => ({
      compatibilityDate: COMPATIBILITY_DATE,
      modules: [{ type: "ESModule" as const, path: b.file }],
      modulesRoot: path.dirname(b.file),
      kvNamespaces: { ROLLOUT_CONFIG: KV_ID },
    });
    const bindings = {
      BLUE_ORIGIN: blue.url,
      GREEN_ORIGIN: green.url,
      ADMIN_TOKEN: FLEET_ADMIN_TOKEN,
      CONFIG_TTL_SECONDS: "3",
      ...o.bindings,
    };
    const workers: WorkerOptions[] = [
      {
        name: CONTROLLER_HOST,
        ...code(bundle.control),
        bindings,
        durableObjects: {
          CONTROLLER: { className: "RolloutController", useSQLite: true },
          AGGREGATOR: { className: "ReportAggregator", useSQLite: true },
        },
        routes: ["controller.fleet.test/*"],
      },
    ];
    for (let i = 0; i < o.isolates; i++)
      workers.push({
        name: isolateName(i),
        ...code(bundle.edge),
        bindings,
        serviceBindings: { CONTROL: CONTROLLER_HOST },
        durableObjects: {
          CONTROLLER: { className: "RolloutController", scriptName: CONTROLLER_HOST },
          ...(o.tier === false ? {} : { AGGREGATOR: { className: "ReportAggregator", scriptName: CONTROLLER_HOST } }),
        },
        routes: [`${hostOf(i)}/*`],
      });
    mf = new Miniflare({
      host: "127.0.0.1",
      port: 0,
      kvPersist: false,
      durableObjectsPersist: false,
      workers,
    });
    await mf.ready;
  } catch (e) {
    await Promise.all([blue.close(), green.close(), mf?.dispose()]);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const ready = mf;
  const fetchOne = async (i: number, pathname: string, init: RequestInit = {}) =>
    (await ready.dispatchFetch(`http://${hostOf(i)}${pathname}`, init as never)) as unknown as Response;
  return {
    mf: ready,
    blue,
    green,
    isolates: o.isolates,
    fetch: fetchOne,
    async putRollout(doc) {
      await (await ready.getKVNamespace("ROLLOUT_CONFIG", CONTROLLER_HOST)).put("rollout", JSON.stringify(doc));
    },
    async aggregatorStats() {
      const out: Record<string, AggregatorStats> = {};
      if (o.tier === false) return out;
      const ns = await ready.getDurableObjectNamespace("AGGREGATOR", CONTROLLER_HOST);
      const shards = Number(o.bindings?.AGGREGATOR_SHARDS ?? DEFAULT_SHARDS);
      for (let s = 0; s < shards; s++) {
        const name = `${FLEET_COLO}:${s}`;
        const stub = ns.get(ns.idFromName(name)) as unknown as { counters(): Promise<AggregatorStats> };
        out[name] = await stub.counters();
      }
      return out;
    },
    async history(via = 0) {
      const r = await fetchOne(via, "/__edgeshift/api/history?limit=50", {
        headers: { authorization: `Bearer ${FLEET_ADMIN_TOKEN}` },
      });
      if (!r.ok) throw new Error(`history via ${isolateName(via)}: ${r.status} ${await r.text()}`);
      const body = (await r.json()) as { events?: unknown } | unknown[];
      return (Array.isArray(body) ? body : (body as { events: never[] }).events) as never;
    },
    async stop() {
      await ready.dispose();
      await Promise.all([blue.close(), green.close()]);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
