import { afterAll, beforeAll, expect, it } from "vitest";
import { startDevStack, type DevStack } from "../../scripts/lib/dev-stack";
let stack: DevStack;
beforeAll(async () => { stack = await startDevStack(); });
afterAll(async () => { await stack?.stop(); });
it("wrangler dev proxies and kv put works", async () => {
  const r = await fetch(stack.url + "/x");
  expect((await r.json() as any).origin).toBe("blue");
  await stack.putRollout({ percent: 5 });
  expect(await stack.getRollout()).toEqual({ percent: 5 });
});
