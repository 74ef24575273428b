// `env` from "cloudflare:test" is typed as Cloudflare.Env: make it the Worker's own Env.
declare namespace Cloudflare {
  interface Env extends import("../../src/env").Env {}
}
