// The bindings of both scripts: the edge Worker "edgeshift" (wrangler.toml) and the control Worker
// "edgeshift-control" (wrangler.control.toml), one type because the glue they share (config cache,
// credentials, recorder) reads the same names. Which script has which is said per binding. Secrets
// are optional: each feature that needs one is off until it is set, and says so (admin API answers
// 503, overrides are ignored, no webhook).

export interface Env {
  /** Edge only: the origins it proxies to. */
  BLUE_ORIGIN: string;
  GREEN_ORIGIN: string;
  /** Both: the same KV namespace (the edge routes by it, the controller writes it, OFREP evaluates it). */
  ROLLOUT_CONFIG: KVNamespace;
  /**
   * Edge only: the control Worker, which answers every `/__edgeshift*` request (src/index.ts).
   * Absent (a misconfigured edge, or the workerd tests' one-script entry): admin paths answer 503.
   */
  CONTROL?: Fetcher;
  /**
   * Both: the edge binds it with `script_name = "edgeshift-control"`, the control Worker its own class.
   * Untyped on purpose: callers go through controllerStub() (src/controller/rpc.ts), which types the RPC surface. */
  CONTROLLER: DurableObjectNamespace;
  /**
   * Both, as CONTROLLER. The aggregation tier (src/aggregator): isolates report to an aggregator of their location, which
   * forwards one merged report per interval to CONTROLLER. Absent: isolates report to CONTROLLER.
   */
  AGGREGATOR?: DurableObjectNamespace;
  /** "off": isolates report straight to CONTROLLER even with AGGREGATOR bound (the fallback). */
  REPORT_AGGREGATION?: string;
  /** Aggregators per location (default 2, src/aggregator/rpc.ts). */
  AGGREGATOR_SHARDS?: string;
  /** Seconds an isolate trusts its cached `rollout` document (default 3). */
  CONFIG_TTL_SECONDS?: string;
  /** Seconds an isolate trusts its cached `flags` document (default 15: src/worker/config-cache.ts says why). */
  FLAGS_TTL_SECONDS?: string;
  /** Seconds a missing `flags` key is trusted before the next read (default 60: a deployment without flags reads little). */
  FLAGS_MISSING_TTL_SECONDS?: string;
  /**
   * Secrets are per script (`wrangler secret put NAME`, with `-c wrangler.control.toml` for the control
   * Worker). Both: the admin API (control) and the explain header (edge) check it. At least 32
   * characters; its holder acts as "admin" (src/worker/credentials.ts).
   */
  ADMIN_TOKEN?: string;
  /** Both, as ADMIN_TOKEN. Named admin tokens, `alice:<token>,ci:<token>` or JSON; the name is the recorded actor. */
  ADMIN_TOKENS?: string;
  /**
   * Both, with the same namespace_id (an account-wide namespace): the Rate Limiting binding counting
   * failed admin / explain / flags tokens per client address (src/worker/credentials.ts).
   */
  AUTH_LIMITER?: RateLimit;
  /** Both: tester override tokens, on the proxy (edge) and in OFREP evaluations (control). */
  OVERRIDE_SECRET?: string;
  /**
   * Control only. At least 32 characters: lets an app server evaluate every flag over OFREP for any targeting key
   * (src/admin/ofrep-api.ts), and nothing else. Admin tokens may do the same.
   */
  FLAGS_TOKEN?: string;
  /**
   * Control only: where the controller sends its events (src/model/notifications.ts,
   * docs/notifications.md), a JSON string or object in `[vars]`. The secrets it names are read by name.
   */
  NOTIFICATIONS?: unknown;
  /** Control only, the earlier single webhook: every event POSTed as `{text, event}`. */
  WEBHOOK_URL?: string;
}
