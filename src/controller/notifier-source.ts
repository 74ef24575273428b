// Where the notifier (./notifier.ts) reads NOTIFICATIONS and the secrets it names: the Worker's
// env, or a test's override, read again at each use so a secret put since is used without a restart.
import type { Env } from "../env";

/** Where the configuration and the secrets come from: the Worker's env, or a test's. */
export interface NotifierSource {
  /** The NOTIFICATIONS value (a JSON string or object), undefined when unset. */
  config(): unknown;
  /** A Worker secret (or var) by name. */
  secret(name: string): unknown;
}

/** NOTIFICATIONS and the secrets it names from the Worker's env, or a test's instead. */
export function notifierSource(
  env: Env,
  override: { config: unknown; secrets: Record<string, string> } | undefined,
  webhookUrl: string | undefined,
): NotifierSource {
  const vars = env as unknown as Record<string, unknown>;
  return {
    config: () => (override ? override.config : vars.NOTIFICATIONS),
    secret: (name) =>
      name === "WEBHOOK_URL" && webhookUrl !== undefined ? webhookUrl : override ? override.secrets[name] : vars[name],
  };
}
