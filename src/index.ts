import type { Env } from "./env";
export { RolloutController } from "./controller/durable-object";
export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const u = new URL(request.url);
    return fetch(new URL(u.pathname + u.search, env.BLUE_ORIGIN), request);
  },
} satisfies ExportedHandler<Env>;
