// The real local stack: two origins, `wrangler dev`, and the split changed only with the real
// `wrangler kv key put --local`. Traffic must follow within the config TTL (2 s here) and returning
// visitors must keep their slot as the percent rises.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { requestOnce } from "./http-once";

let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ configTtlSeconds: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

async function visit(cookie?: string): Promise<{ slot: string; cookie: string | undefined }> {
  const r = await requestOnce(stack.url + "/e2e?x=%20", {
    headers: cookie ? { cookie: `edgeshift_vid=${cookie}` } : {},
  }).catch((e: Error) => {
    throw new Error(
      `no answer from the Worker (${e.message}); wrangler dev's last lines:\n${stack.logs.slice(-30).join("\n")}`,
    );
  });
  const j = JSON.parse(r.body) as { origin: string; url: string };
  expect(j.url).toBe("/e2e?x=%20");
  const setCookie = (r.headers["set-cookie"] ?? []).join("\n");
  return { slot: j.origin, cookie: /edgeshift_vid=([^;]+)/.exec(setCookie)?.[1] ?? cookie };
}

async function newVisitors(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await visit());
  return out;
}

const TTL_BOUND_MS = 15_000;

describe("split moves with wrangler kv key put --local", () => {
  it("0 → 50 → 75 → 100: traffic follows within the TTL, canary visitors stay on the canary", async () => {
    expect((await newVisitors(10)).every((v) => v.slot === "blue")).toBe(true);
    await stack.putRollout({ percent: 0, release: "e2e-1" });
    const crowd = await newVisitors(60);
    expect(crowd.every((v) => v.slot === "blue" && v.cookie)).toBe(true);

    await stack.putRollout({ percent: 50, release: "e2e-1" });
    await waitFor(
      "about half of returning visitors on green",
      async () => {
        const slots = await Promise.all(crowd.map((v) => visit(v.cookie)));
        const green = slots.filter((s) => s.slot === "green").length;
        return green > 15 && green < 45;
      },
      TTL_BOUND_MS,
    );
    for (const v of crowd) v.slot = (await visit(v.cookie)).slot;

    await stack.putRollout({ percent: 75, release: "e2e-1" });
    await waitFor(
      "more visitors on green",
      async () => {
        const now = await Promise.all(crowd.map((v) => visit(v.cookie)));
        return now.filter((s) => s.slot === "green").length > crowd.filter((v) => v.slot === "green").length;
      },
      TTL_BOUND_MS,
    );
    for (const v of crowd) {
      const now = await visit(v.cookie);
      if (v.slot === "green") expect(now.slot).toBe("green");
    }

    await stack.putRollout({ percent: 100, release: "e2e-1" });
    await waitFor(
      "everyone on green",
      async () => (await Promise.all(crowd.map((v) => visit(v.cookie)))).every((s) => s.slot === "green"),
      TTL_BOUND_MS,
    );
    expect((await newVisitors(10)).every((v) => v.slot === "green")).toBe(true);
  });

  it("an invalid document written with wrangler keeps traffic where it was", async () => {
    await stack.putRollout({ percent: 100, release: "e2e-2" });
    await waitFor("green", async () => (await visit()).slot === "green", TTL_BOUND_MS);
    await stack.putRollout('{"percent": "lots"}');
    // Once the isolate has read the bad version (its one structured log line says so) it must keep
    // routing by the last good one.
    await waitFor(
      "the config-invalid log line",
      async () => {
        await visit();
        return stack.logs.some((l) => l.includes('"config-invalid"') && l.includes("percent"));
      },
      TTL_BOUND_MS,
    );
    expect((await newVisitors(10)).every((v) => v.slot === "green")).toBe(true);
  });
});
