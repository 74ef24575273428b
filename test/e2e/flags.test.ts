// Feature flags end to end: `wrangler dev`, two real origins, the `flags` document written with the
// real `wrangler kv key put --local`. A flag reaches the origin; a guarded flag whose code path fails
// is switched off by the controller — in every request at once, then in KV — with its webhook.
import { afterAll, beforeAll, expect, it } from "vitest";
import { requestOnce } from "./http-once";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { flagsReceived } from "../../scripts/lib/origin-server";
import { startHookReceiver, type HookReceiver } from "../../scripts/lib/hook-receiver";
import { addressOf } from "../../scripts/lib/traffic";

let stack: DevStack;
let hook: HookReceiver;
beforeAll(async () => {
  hook = await startHookReceiver();
  stack = await startDevStack({ webhookUrl: hook.url + "/webhook" });
});
afterAll(async () => {
  await stack?.stop();
  await hook?.close();
});

let client = 0;
/** One request from a new visitor on its own network; the flags the origin saw (as its answer tells), and the status. */
async function visit(path: string): Promise<{ status: number; flags: Record<string, unknown> | null }> {
  const r = await requestOnce(`${stack.url}${path}`, {
    method: "GET",
    headers: { "cf-connecting-ip": addressOf(client++) },
  });
  return { status: r.status, flags: flagsReceived(r.body) };
}

it("a guarded flag whose code path fails is switched off: requests, KV and the webhook", async () => {
  await stack.putFlags({
    flags: {
      "new-checkout": {
        rollout: { percent: 50 },
        guard: { minRequests: 20, minVisitors: 5, minNetworks: 3, relative: false },
      },
      theme: { variations: { light: "light", dark: "dark" }, default: "light" },
    },
  });
  // The flags reach the origin once the Worker's cache has read them (CONFIG_TTL_SECONDS).
  await waitFor("the flags at the origin", async () => (await visit("/hello")).flags?.theme === "light");

  // The new checkout is broken: requests with the flag on fail (the origin reads x-edgeshift-flags).
  let failed = 0;
  const killed = await waitFor(
    "the controller to switch new-checkout off in KV",
    async () => {
      const wave = await Promise.all(Array.from({ length: 10 }, () => visit("/__flagfail/new-checkout/500/cart")));
      failed += wave.filter((v) => v.status === 500).length;
      const doc = await stack.getFlags();
      return doc?.flags?.["new-checkout"]?.on === false ? doc : null;
    },
    90_000,
    200,
  );
  expect(failed).toBeGreaterThan(0);
  expect(killed.flags.theme).toEqual({ variations: { light: "light", dark: "dark" }, default: "light" });

  // The isolate hears of the kill with its next report's answer (every 2–2.5 s while a guarded flag
  // has traffic), not by KV: from then on nobody gets the broken path.
  const wave = () => Promise.all(Array.from({ length: 20 }, () => visit("/__flagfail/new-checkout/500/cart")));
  const clean = (vs: { status: number; flags: Record<string, unknown> | null }[]) =>
    vs.every((v) => v.status === 200 && v.flags?.["new-checkout"] === false);
  await waitFor("every request to get the flag off", async () => clean(await wave()), 10_000, 200);
  for (let i = 0; i < 3; i++) {
    const after = await wave();
    expect(after.filter((v) => v.status !== 200)).toEqual([]);
    expect(clean(after)).toBe(true);
  }

  const posted = await waitFor("the flag-killed webhook", async () => {
    const got = (await (await fetch(hook.url + "/webhook")).json()) as any[];
    return got.find((b) => b.event?.kind === "flag-killed");
  });
  expect(posted.event.reason).toContain('flag "new-checkout" switched off');
});
