// The names a deployment is built from, shared by the Worker, the controller and the CLI.

/** The KV key that holds the whole rollout document. */
export const ROLLOUT_KEY = "rollout";
/** The KV key that holds the feature flags (src/model/flags.ts); in the same namespace. */
export const FLAGS_KEY = "flags";
/** Everything edgeshift answers itself lives under this path; it is never proxied. */
export const ADMIN_PREFIX = "/__edgeshift";
/** The single controller instance for this deployment. */
export const CONTROLLER_NAME = "rollout";
