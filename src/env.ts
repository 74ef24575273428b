// The Worker's bindings (wrangler.toml). Secrets are optional: each feature that needs one is off
// until it is set, and says so (admin API answers 503, overrides are ignored, no webhook).
import type { RolloutController } from "./controller/durable-object";

export interface Env {
  BLUE_ORIGIN: string;
  GREEN_ORIGIN: string;
  ROLLOUT_CONFIG: KVNamespace;
  CONTROLLER: DurableObjectNamespace<RolloutController>;
  /** Seconds an isolate trusts its cached `rollout` document (default 3). */
  CONFIG_TTL_SECONDS?: string;
  ADMIN_TOKEN?: string;
  OVERRIDE_SECRET?: string;
  WEBHOOK_URL?: string;
}

/** The KV key that holds the whole rollout document. */
export const ROLLOUT_KEY = "rollout";
/** Everything edgeshift answers itself lives under this path; it is never proxied. */
export const ADMIN_PREFIX = "/__edgeshift";
/** The single controller instance for this deployment. */
export const CONTROLLER_NAME = "rollout";
