// Automatic rollback end to end: `wrangler dev`, two real origins, KV written with the real
// `wrangler kv key put --local`. Each test writes a new release (a new attempt) on the same stack.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { requestOnce } from "./http-once";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startHookReceiver, type HookReceiver } from "../../scripts/lib/hook-receiver";
import { addressOf } from "../../scripts/lib/traffic";

let stack: DevStack;
// A real receiver for WEBHOOK_URL (scripts/lib/hook-receiver.ts: GET /webhook lists what it got).
let hook: HookReceiver;
beforeAll(async () => {
  hook = await startHookReceiver();
  stack = await startDevStack({ webhookUrl: hook.url + "/webhook" });
});
afterAll(async () => {
  await stack?.stop();
  await hook?.close();
});
afterEach(async () => {
  stack.green.setMode({ errorRate: 0, failStatus: 500, delayMs: 0 });
  stack.blue.setMode({ errorRate: 0, failStatus: 500, delayMs: 0 });
});

interface Tally {
  blue: number;
  green: number;
  status5xx: number;
  noAnswer: number;
  /** Why each unanswered request failed, so a failure message says what happened. */
  errors: string[];
}

const tally = (): Tally => ({ blue: 0, green: 0, status5xx: 0, noAnswer: 0, errors: [] });

let client = 0;
/** One request from a new visitor on its own network: the controller needs failures from several. */
function get(path: string, method: string): Promise<{ status: number; origin?: string }> {
  const headers = { "cf-connecting-ip": addressOf(client++) };
  return requestOnce(`${stack.url}${path}`, { method, headers }).then((r) => ({
    status: r.status,
    origin: r.headers["x-origin"] as string | undefined,
  }));
}

/** `n` GETs from new visitors (no cookie: each one is bucketed afresh), 10 at a time. */
async function gets(n: number, method = "GET"): Promise<Tally> {
  const t = tally();
  for (let i = 0; i < n; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, async (_, j) => {
        try {
          const r = await get(`/item/${i + j}`, method);
          if (r.status >= 500) t.status5xx++;
          if (r.origin === "blue" || r.origin === "green") t[r.origin]++;
        } catch (e) {
          t.noAnswer++;
          t.errors.push(String((e as Error).message));
        }
      }),
    );
  }
  return t;
}

/** Waits until the Worker routes some traffic to the canary under the document just written. */
async function canaryLive() {
  await waitFor("the canary to receive traffic", async () => (await gets(20)).green > 0, 30_000, 300);
}

it("a canary answering 500: GETs fail over, then rollback — KV shows percent 0 + rolledBack and the canary gets no traffic", async () => {
  await stack.putRollout({ percent: 50, release: "e2e-500", rollback: { minRequests: 30, windowSeconds: 60 } });
  await canaryLive();
  stack.green.setMode({ errorRate: 1, failStatus: 500 });

  // Fewer than minRequests canary failures: judged not yet, nothing happens.
  const startHits = stack.green.hits;
  while (stack.green.hits - startHits < 15) await gets(10);
  await new Promise((r) => setTimeout(r, 3000)); // more than one flush interval
  expect((await stack.getRollout()).rolledBack).toBeUndefined();
  expect((await stack.getRollout()).percent).toBe(50);

  // Enough failures: rollback.
  const seen = tally();
  const doc = await waitFor(
    "KV to show the rollback",
    async () => {
      const t = await gets(20);
      seen.blue += t.blue;
      seen.green += t.green;
      seen.status5xx += t.status5xx;
      seen.noAnswer += t.noAnswer;
      seen.errors.push(...t.errors);
      const d = await stack.getRollout();
      return d?.rolledBack ? d : null;
    },
    60_000,
    0,
  );
  expect(doc).toMatchObject({ percent: 0, release: "e2e-500", rollback: { minRequests: 30 } });
  // Whichever rule trips first: the fixed threshold on weighted requests, or the sequential test.
  expect(doc.rolledBack.reason).toMatch(
    /^canary \d+\.\d % errors \([\d.]+\/[\d.]+ weighted by visitor[^)]*\) > maxErrorRate 5\.0 %|^canary \d+\.\d % of [\d.]+ visitors failed vs stable/,
  );
  expect(doc.rolledBack.figures.canary.requests).toBeGreaterThanOrEqual(30);
  // Every GET was answered by stable, failed canary answers included: no user saw a 5xx.
  expect(seen.status5xx).toBe(0);
  expect(seen.errors).toEqual([]);
  expect(seen.green).toBe(0);

  // WEBHOOK_URL got a Slack-compatible line and the structured event.
  const posted = await waitFor("the rollback webhook", async () => {
    const got = (await (await fetch(hook.url + "/webhook")).json()) as any[];
    return got.find((b) => b.event?.kind === "rollback" && b.event.release === "e2e-500");
  });
  expect(posted.text).toMatch(/^edgeshift rolled back release e2e-500 \(green\): canary /);

  // After the rollback, the canary origin sees no more user traffic.
  await waitFor("canary traffic to stop", async () => {
    const before = stack.green.hits;
    await gets(30);
    return stack.green.hits === before;
  });
});

it("equal 2 % errors on both slots: no rollback (the relative rule)", async () => {
  await stack.putRollout({ percent: 50, release: "e2e-equal", rollback: { minRequests: 30, maxErrorRate: 0.01 } });
  await canaryLive();
  stack.green.setMode({ errorRate: 0.02 });
  stack.blue.setMode({ errorRate: 0.02 });
  const startGreen = stack.green.hits;
  const startBlue = stack.blue.hits;
  while (stack.green.hits - startGreen < 150 || stack.blue.hits - startBlue < 150) await gets(20);
  await new Promise((r) => setTimeout(r, 3000)); // let every isolate flush
  const doc = await stack.getRollout();
  expect(doc.rolledBack).toBeUndefined();
  expect(doc.percent).toBe(50);
  // And traffic still reaches the canary.
  expect((await gets(40)).green).toBeGreaterThan(0);
});

it("a canary refusing connections: every GET is still answered (by stable)", async () => {
  await stack.putRollout({ percent: 50, release: "e2e-refuse", rollback: false });
  await canaryLive();
  await stack.green.refuse();
  try {
    const t = await gets(60);
    expect(t).toMatchObject({ green: 0, status5xx: 0, errors: [] });
    expect(t.blue).toBe(60);
  } finally {
    await stack.green.resume();
  }
});
