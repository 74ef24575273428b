import { SELF, env } from "cloudflare:test";
import { inject, it, expect } from "vitest";
it("reaches the real blue origin", async () => {
  const r = await SELF.fetch("https://example.com/hello?x=1");
  expect(r.status).toBe(200);
  const j = await r.json<any>();
  expect(j.origin).toBe("blue");
  expect(env.BLUE_ORIGIN).toBe(inject("blueUrl"));
  const stub = env.CONTROLLER.get(env.CONTROLLER.idFromName("rollout"));
  expect(await stub.ping()).toBe("pong");
  await env.ROLLOUT_CONFIG.put("rollout", "{}");
  expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe("{}");
});
