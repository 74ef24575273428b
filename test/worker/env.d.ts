// `env` from "cloudflare:test" is typed as Cloudflare.Env: make it the Worker's own Env.
import type { Env as WorkerEnv } from "../../src/env";
declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
  }
}
export {};
