// The Worker's bindings (wrangler.toml). Secrets are optional: each feature that needs one is off
// until it is set, and says so (admin API answers 503, overrides are ignored, no webhook).

export interface Env {
  BLUE_ORIGIN: string;
  GREEN_ORIGIN: string;
  ROLLOUT_CONFIG: KVNamespace;
  /** Untyped on purpose: callers go through controllerStub() (src/controller/rpc.ts), which types the RPC surface. */
  CONTROLLER: DurableObjectNamespace;
  /**
   * The aggregation tier (src/aggregator): isolates report to an aggregator of their location, which
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
  /** At least 32 characters; its holder acts as "admin" (src/worker/credentials.ts). */
  ADMIN_TOKEN?: string;
  /** Named admin tokens, `alice:<token>,ci:<token>` or JSON; the name is the recorded actor. */
  ADMIN_TOKENS?: string;
  /** Rate Limiting binding counting failed admin / explain tokens per client address (wrangler.toml). */
  AUTH_LIMITER?: RateLimit;
  OVERRIDE_SECRET?: string;
  /**
   * At least 32 characters: lets an app server evaluate every flag over OFREP for any targeting key
   * (src/admin/ofrep-api.ts), and nothing else. Admin tokens may do the same.
   */
  FLAGS_TOKEN?: string;
  WEBHOOK_URL?: string;
}
