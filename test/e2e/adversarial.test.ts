// The attacker and the careless operator of issue 9, played against the real stack: `wrangler dev`,
// two real origins, KV written with the real `wrangler kv key put --local`, the real admin API.
// One scenario per class of attack; each asserts what a user relies on (who gets the canary, what
// KV, status and the event log say), not how the defence works inside.
//
// Addresses: at the edge Cloudflare sets CF-Connecting-IP and a client cannot choose it. `wrangler
// dev` passes a client-sent `cf-connecting-ip` through, which is how these tests play many real users
// on many networks (one address each, `addressOf(i)`). THE ATTACKER IS ALWAYS ONE ADDRESS
// (`ATTACKER`, one fixed cf-connecting-ip), with or without cookies: what one client can do from one
// connection to the internet. An attacker who controls addresses in several networks is outside
// this file (docs/verdict.md, "What this does not defend against").
//
// One stack for the file; each test writes a new `release` (a new attempt).
//
// Not played here: "a POST whose processing fails after it was sent reaches the origin once". No
// input reaches that path any more (the bad rule name that once threw after the fetch is refused by
// the schema), so only an injected fault triggers it: test/worker/proxy.test.ts ("once the request
// reached the origin: 502 internal-after-send, …").
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { requestOnce, type Answer } from "./http-once";
import { runWrangler, startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startHookReceiver, type HookReceiver } from "../../scripts/lib/hook-receiver";
import { addressOf, startTraffic } from "../../scripts/lib/traffic";

const ATTACKER = "203.0.113.66";

let stack: DevStack;
// A real receiver for WEBHOOK_URL (scripts/lib/hook-receiver.ts: GET /webhook lists what it got).
let hook: HookReceiver;
const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-adversarial-"));
beforeAll(async () => {
  hook = await startHookReceiver();
  stack = await startDevStack({ webhookUrl: hook.url + "/webhook" });
});
afterAll(async () => {
  await stack?.stop();
  await hook?.close();
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => {
  stack.green.setMode({ errorRate: 0, failStatus: 500, delayMs: 0 });
  stack.blue.setMode({ errorRate: 0, failStatus: 500, delayMs: 0 });
});

interface Sent {
  status: number;
  origin?: string;
  answer: Answer;
}

/** One request on its own connection, from `ip`, with an optional Cookie header. */
async function send(
  p: string,
  o: { ip: string; method?: string; cookie?: string; headers?: Record<string, string> },
): Promise<Sent> {
  const headers: Record<string, string> = { "cf-connecting-ip": o.ip, ...o.headers };
  if (o.cookie) headers.cookie = o.cookie;
  const answer = await requestOnce(`${stack.url}${p}`, { method: o.method ?? "GET", headers });
  return { status: answer.status, origin: answer.headers["x-origin"] as string | undefined, answer };
}

interface Tally {
  blue: number;
  green: number;
  status5xx: number;
  errors: string[];
}
const tally = (): Tally => ({ blue: 0, green: 0, status5xx: 0, errors: [] });

/** `n` requests made by `one(i)`, 10 at a time, tallied by the origin that answered. */
async function burst(n: number, one: (i: number) => Promise<Sent>): Promise<Tally> {
  const t = tally();
  for (let i = 0; i < n; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, async (_, j) => {
        try {
          const r = await one(i + j);
          if (r.status >= 500) t.status5xx++;
          if (r.origin === "blue" || r.origin === "green") t[r.origin]++;
        } catch (e) {
          t.errors.push(String((e as Error).message));
        }
      }),
    );
  }
  return t;
}

let client = 0;
/** `n` GETs from the crowd: each a new visitor (no cookie) on a network of its own. */
const crowd = (n: number, pathOf: (i: number) => string = (i) => `/item/${i}`) =>
  burst(n, (i) => send(pathOf(i), { ip: addressOf(client++) }));

/** Waits until the Worker routes some of the crowd to the canary under the document just written. */
async function canaryLive() {
  await waitFor("the canary to receive traffic", async () => (await crowd(20)).green > 0, 30_000, 300);
}

/** The attacker's fresh visits until one lands on the canary: its `edgeshift_vid` cookie. */
async function canaryCookie(): Promise<string> {
  return waitFor(
    "the attacker to land on the canary",
    async () => {
      const r = await send("/", { ip: ATTACKER });
      if (r.origin !== "green") return null;
      const set = (r.answer.headers["set-cookie"] ?? []).find((c) => c.startsWith("edgeshift_vid="));
      return set?.split(";")[0] ?? null;
    },
    20_000,
    0,
  );
}

async function api<T = any>(p: string, init: { method?: string; body?: unknown; ip?: string; token?: string } = {}) {
  const r = await fetch(`${stack.url}/__edgeshift/api${p}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${init.token ?? stack.adminToken}`,
      "content-type": "application/json",
      ...(init.ip ? { "cf-connecting-ip": init.ip } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: r.status, headers: r.headers, body: (await r.json()) as T };
}
const status = async () => (await api("/status")).body;
const history = async () =>
  (await api<{ events: { kind: string; actor: string; reason: string; data?: any }[] }>("/history?limit=100")).body
    .events;

/** `wrangler kv key put --local --path`: a value too long for one command-line argument (128 KiB). */
async function putRolloutFile(text: string) {
  const file = path.join(tmp, `rollout-${Date.now()}.json`);
  writeFileSync(file, text);
  await runWrangler([
    "kv",
    "key",
    "put",
    "rollout",
    "--path",
    file,
    "--binding",
    "ROLLOUT_CONFIG",
    "--local",
    "--persist-to",
    stack.persistDir,
  ]);
}

/** Keeps the crowd coming for `ms` (several report flushes of about 2 s each). */
async function crowdFor(ms: number): Promise<Tally> {
  const t = tally();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const r = await crowd(10);
    t.blue += r.blue;
    t.green += r.green;
    t.status5xx += r.status5xx;
    t.errors.push(...r.errors);
  }
  return t;
}

it("forced rollback: one address POSTing to a path that fails on both builds (with a canary cookie and cookie-less) does not roll back a healthy canary", async () => {
  await stack.putRollout({ percent: 50, release: "adv-force", rollback: { minRequests: 20, windowSeconds: 30 } });
  await canaryLive();
  const vid = await canaryCookie();

  let canaryFailures = 0;
  for (let round = 0; round < 6; round++) {
    const [, withCookie, minted] = await Promise.all([
      crowd(20),
      burst(12, (i) => send(`/__fail/all/500/order/${round}-${i}`, { ip: ATTACKER, method: "POST", cookie: vid })),
      burst(12, (i) => send(`/__fail/all/500/signup/${round}-${i}`, { ip: ATTACKER, method: "POST" })),
    ]);
    canaryFailures += withCookie.green + minted.green;
    // A POST is never replayed on stable: the attacker really got the canary's 500s.
    expect(withCookie.status5xx + minted.status5xx).toBe(24);
  }
  // Far more canary failures than minRequests, more than the crowd's canary requests: a pooled
  // per-request rate (the old judge) rolled back on three of them.
  expect(canaryFailures).toBeGreaterThanOrEqual(72);

  // Several flush intervals of ordinary traffic: every isolate has reported, the controller judged.
  await crowdFor(7000);
  const doc = await stack.getRollout();
  expect(doc.rolledBack).toBeUndefined();
  expect(doc).toMatchObject({ percent: 50, release: "adv-force" });
  const s = await status();
  expect(s).toMatchObject({ state: "running", release: "adv-force", percent: 50, rolledBack: null });
  expect((await history()).some((e) => e.kind === "rollback" && e.data?.release === "adv-force")).toBe(false);
  // And the canary still gets its share of real users.
  expect((await crowd(40)).green).toBeGreaterThan(0);
});

it("hidden failure: one address flooding the canary with cheap successes (with its canary cookie and cookie-less) does not hide a canary failing 30 % of real users", async () => {
  await stack.putRollout({ percent: 50, release: "adv-hide", rollback: { minRequests: 20, windowSeconds: 30 } });
  await canaryLive();
  const vid = await canaryCookie();

  // Hundreds of cheap successes first, so the canary's pooled error rate starts low and stays low.
  const [pre, preMinted] = await Promise.all([
    burst(240, (i) => send(`/cheap/pre-${i}`, { ip: ATTACKER, cookie: vid })),
    burst(60, (i) => send(`/cheap/pre-${i}`, { ip: ATTACKER })),
  ]);
  let padding = pre.green + preMinted.green;
  let crowdCanary = 0;
  const started = Date.now();
  const doc = await waitFor(
    "KV to show the rollback",
    async () => {
      const [c, withCookie, minted] = await Promise.all([
        // 3 of each 10 real users hit a route that fails on the canary build only (GETs fail over:
        // they still get stable's answer; the canary's failure is counted).
        crowd(10, (i) => (i % 10 < 3 ? `/__fail/green/500/cart/${i}` : `/item/${i}`)),
        burst(80, (i) => send(`/cheap/${i}`, { ip: ATTACKER, cookie: vid })),
        burst(20, (i) => send(`/cheap/${i}`, { ip: ATTACKER })),
      ]);
      padding += withCookie.green + minted.green;
      crowdCanary += c.green;
      const d = await stack.getRollout();
      return d?.rolledBack ? d : null;
    },
    90_000,
    0,
  );
  // The padding outweighed the crowd's canary requests many times over: pooled per request, the
  // canary's error rate was under 2 % (the old judge said "healthy, running").
  // (How many padding requests reach the canary varies: on a loaded machine the gate diverts some to
  // stable. What matters is the ratio to the crowd's canary requests.)
  expect(padding).toBeGreaterThan(5 * crowdCanary);
  expect(doc).toMatchObject({ percent: 0, release: "adv-hide" });
  expect(doc.rolledBack.reason).toMatch(/canary/);
  expect(Date.now() - started).toBeLessThan(90_000);
  // After the rollback, the attacker's canary cookie no longer reaches the canary either.
  await waitFor("the canary to get no more traffic", async () => {
    const before = stack.green.hits;
    await crowd(20);
    await send("/after", { ip: ATTACKER, cookie: vid });
    return stack.green.hits === before;
  });
});

it("oversized and deeply nested documents written raw: rejected naming the field and the limit, the last good routes, and a failing canary is still rolled back for users, in status, the event log and the webhook", async () => {
  const good = { percent: 50, release: "adv-big", rollback: { minRequests: 20, windowSeconds: 30 } };
  await stack.putRollout(good);
  await canaryLive();
  await waitFor("the controller to run the good document", async () => {
    const s = await status();
    return s.release === good.release && s.state === "running";
  });

  // ~1.2 MB: one header rule with 75k values; percent 100, so routing by it would starve blue.
  const values = Array.from({ length: 75_000 }, (_, i) => `user-${String(i).padStart(10, "0")}`);
  const big = JSON.stringify({ ...good, percent: 100, rules: [{ header: { name: "x-user-id", values } }] });
  expect(big.length).toBeGreaterThan(1_200_000);
  await putRolloutFile(big);
  const bigError = await waitFor("status to show the oversized document", async () => {
    const s = await status();
    return /rules\.0\.header\.values/.test(s.configError?.summary ?? "") ? s : null;
  });
  expect(bigError.configError.summary).toMatch(/rules\.0\.header\.values holds 1\.\d MiB of it \(75000 entries\)/);
  expect(bigError.configError.summary).toMatch(/at most 64 KiB/);
  expect(bigError).toMatchObject({ state: "running", release: "adv-big", percent: 50, saveError: null });
  let t = await crowd(60);
  expect(
    t.errors,
    stack.logs
      .filter((l) => !l.includes("wrangler:info"))
      .slice(-30)
      .join("\n"),
  ).toEqual([]);
  expect(t.blue).toBeGreaterThan(0);
  expect(t.green).toBeGreaterThan(0);

  // 100k-deep arrays (the old controller's save overflowed its stack on it).
  const deep = `{"percent":100,"release":"adv-deep","rules":[{"cidr":${"[".repeat(100_000)}${"]".repeat(100_000)}}]}`;
  await putRolloutFile(deep);
  const deepError = await waitFor("status to show the nested document", async () => {
    const s = await status();
    return /nest more than 32 deep/.test(s.configError?.summary ?? "") ? s : null;
  });
  expect(deepError).toMatchObject({ state: "running", release: "adv-big", percent: 50, saveError: null });
  t = await crowd(60);
  expect(t.blue).toBeGreaterThan(0);
  expect(t.green).toBeGreaterThan(0);

  // The canary now fails for a crowd: the rollback reaches every user, the event log and the webhook.
  stack.green.setMode({ errorRate: 1, failStatus: 500 });
  const event = await waitFor(
    "the rollback event",
    async () => {
      await crowd(20);
      return (await history()).find((e) => e.kind === "rollback" && e.data?.release === good.release);
    },
    60_000,
    0,
  );
  expect(event.reason).toMatch(/canary/);
  const posted = await waitFor("the rollback webhook", async () => {
    const got = (await (await fetch(hook.url + "/webhook")).json()) as any[];
    return got.find((b) => b.event?.kind === "rollback" && b.event.release === good.release);
  });
  expect(posted.text).toMatch(/^edgeshift rolled back release adv-big/);
  expect(await status()).toMatchObject({ state: "rolled-back", release: good.release, saveError: null });
  await waitFor("the canary to get no more traffic", async () => {
    const before = stack.green.hits;
    await crowd(30);
    return stack.green.hits === before;
  });
});

// Found by this file: the controller took the invalid raw version it had already rejected for an
// operator's unseen write and dropped its rollback write, so KV said nothing was rolled back.
it("… and the rollback under an invalid document reaches KV (percent 0 + rolledBack)", async () => {
  const doc = await waitFor(
    "KV to show the rollback",
    async () => {
      const d = await stack.getRollout();
      return d?.rolledBack && d.release === "adv-big" ? d : null;
    },
    15_000,
    500,
  );
  expect(doc).toMatchObject({ percent: 0, release: "adv-big" });
});

it("a release with CR/LF written raw: rejected naming `release`, and the canary keeps its share of traffic under the last good document", async () => {
  await stack.putRollout({ percent: 50, release: "adv-crlf-good", rollback: false });
  await canaryLive();
  await waitFor("the controller to run the good document", async () => (await status()).release === "adv-crlf-good");
  await stack.putRollout({ percent: 50, release: "adv\r\nx-injected: 1", rollback: false });
  const s = await waitFor("status to show the bad release", async () => {
    const s = await status();
    return s.configError?.problems.some((p: { path: string }) => p.path === "release") ? s : null;
  });
  expect(s.configError.problems.find((p: { path: string }) => p.path === "release").message).toMatch(/visible ASCII/);
  expect(s).toMatchObject({ state: "running", release: "adv-crlf-good", percent: 50 });
  // The old code took the label, threw on every request and sent everyone to stable ("healthy").
  const t = await crowd(60);
  expect(t.errors).toEqual([]);
  expect(t.status5xx).toBe(0);
  expect(t.green).toBeGreaterThanOrEqual(15);
  const seen = (await (await fetch(stack.green.url + "/__origin/requests")).json()) as any[];
  expect(seen.at(-1).headers["x-edgeshift-release"]).toBe("adv-crlf-good");
  expect(seen.some((r) => "x-injected" in r.headers)).toBe(false);
});

it("lost write: an operator's write through the API during a 3 s plan lands and stays or is refused with 409 naming the current version; a raw KV put mid-plan is adopted, never overwritten", async () => {
  const traffic = startTraffic({ url: stack.url, visitors: 300, rate: 40, postShare: 0 });
  try {
    const steps = Array.from({ length: 19 }, (_, i) => 5 * (i + 1));
    await stack.putRollout({
      steps,
      stepSeconds: 3,
      release: "adv-plan",
      rollback: { minRequests: 5, windowSeconds: 30 },
    });
    await waitFor("the plan to take a step", async () => (await stack.getRollout())?.percent >= 10, 30_000, 300);

    // The operator's read-modify-write, sometimes slow enough that a plan step comes in between.
    let landed: { value: number; revision: number } | null = null;
    let refused = 0;
    for (const [k, pause] of [0, 3500, 0, 0, 0].entries()) {
      const read = await api("/rollout");
      expect(read.status).toBe(200);
      await new Promise((r) => setTimeout(r, pause));
      const value = 4000 + k;
      const w = await api("/rollout", {
        method: "PUT",
        body: { document: { ...read.body.document, timeoutMs: value }, ifMatch: read.body.fingerprint, reason: "e2e" },
      });
      if (w.status === 409) {
        refused++;
        expect(w.body.current).toMatch(/^[0-9a-f]{16}$/);
        expect(w.body.current).not.toBe(read.body.fingerprint);
        expect(w.body.error).toMatch(/version|fingerprint|changed/i);
        expect((await stack.getRollout()).timeoutMs).not.toBe(value);
      } else {
        expect(w.status, JSON.stringify(w.body)).toBe(200);
        landed = { value, revision: w.body.revision };
        if (pause === 0 && k > 1) break;
      }
    }
    expect(landed).not.toBeNull();
    // The next plan step is the controller's write after the operator's: the change is still there.
    await waitFor(
      "a plan step after the operator's write",
      async () => (await api("/rollout")).body.revision > landed!.revision,
      30_000,
      300,
    );
    expect((await stack.getRollout()).timeoutMs).toBe(landed!.value);
    expect((await status()).config.doc.timeoutMs).toBe(landed!.value);

    // A raw put mid-plan: the controller adopts it as a new attempt and builds on it; two later
    // controller writes (plan steps) keep it.
    const before = (await api("/rollout")).body.revision;
    const current = await stack.getRollout();
    await stack.putRollout({ ...current, timeoutMs: 6543 });
    await waitFor(
      "two plan steps after the raw put",
      async () => (await api("/rollout")).body.revision > before + 1,
      30_000,
      300,
    );
    expect((await stack.getRollout()).timeoutMs).toBe(6543);
    expect(JSON.parse((await api("/rollout")).body.text).timeoutMs).toBe(6543);
    const events = await history();
    const adopted = events.find(
      (e) => (e.kind === "attempt" && /raw KV put/.test(JSON.stringify(e.data))) || e.kind === "operator-write-won",
    );
    expect(adopted, JSON.stringify(events.slice(0, 8))).toBeDefined();
    console.log(`lost write: ${refused} of the operator's API writes refused with 409, then retried`);
  } finally {
    await traffic.stop();
  }
});

/** One raw HTTP/1.1 request, so headers can repeat (two Cookie lines) exactly as sent. */
function rawRequest(p: string, lines: string[]): Promise<string> {
  const { hostname, port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => {
      sock.write(
        [`GET ${p} HTTP/1.1`, `host: ${hostname}:${port}`, ...lines, "connection: close", "", ""].join("\r\n"),
      );
    });
    let out = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (out += d));
    sock.on("end", () => resolve(out));
    sock.on("error", reject);
    sock.setTimeout(15_000, () => sock.destroy(new Error("no answer within 15 s")));
  });
}

it("edge hygiene: forged override cookies on two Cookie lines never reach the origin; an origin cannot set edgeshift headers or cookies; its Location comes back at the public URL; 11 wrong admin tokens from one address → 429, another address still gets in", async () => {
  await stack.putRollout({ percent: 0, release: "adv-hygiene" });
  await waitFor("everyone on blue", async () => (await crowd(20)).green === 0, 30_000, 300);

  // Two Cookie lines (the runtime joins them with ", "): the override cookie in the second.
  const marker = `/hygiene/cookies-${Date.now()}`;
  const raw = await rawRequest(marker, [
    `cf-connecting-ip: ${ATTACKER}`,
    "cookie: app=1",
    "cookie: edgeshift_override=green.9999999999.forged, edgeshift_vid=x; theirs=2",
    "x-edgeshift-slot: green",
  ]);
  expect(raw).toMatch(/^HTTP\/1\.1 200/);
  const got = ((await (await fetch(stack.blue.url + "/__origin/requests")).json()) as any[]).find(
    (r) => r.url === marker,
  );
  expect(got, "the request reached blue").toBeDefined();
  expect(got.headers.cookie).toMatch(/app=1/);
  expect(got.headers.cookie).toMatch(/theirs=2/);
  expect(got.headers.cookie).not.toMatch(/edgeshift_/);
  expect(got.headers["x-edgeshift-slot"]).toBe("blue");

  // The origin tries to speak for edgeshift and to pin the visitor's id.
  const first = await send("/", { ip: ATTACKER });
  const vid = (first.answer.headers["set-cookie"] ?? []).find((c) => c.startsWith("edgeshift_vid="))!.split(";")[0];
  const q = new URLSearchParams();
  q.append("h", "x-edgeshift-slot:green");
  q.append("h", "x-edgeshift-error:origin-timeout");
  q.append("h", "set-cookie:edgeshift_vid=evil; Path=/");
  q.append("h", "set-cookie:edgeshift_override=green; Path=/");
  q.append("h", "set-cookie:app=2; Path=/");
  const r = await send(`/respond?${q}`, { ip: ATTACKER, cookie: vid });
  expect(r.status).toBe(200);
  expect(r.answer.headers["x-edgeshift-slot"]).toBeUndefined();
  expect(r.answer.headers["x-edgeshift-error"]).toBeUndefined();
  expect(r.answer.headers["set-cookie"]).toEqual(["app=2; Path=/"]);

  // A redirect at the origin's own (internal) address comes back at the address the client used.
  const loc = new URLSearchParams({ status: "302", h: `location:${stack.blue.url}/landed?x=1` });
  const redirect = await send(`/respond?${loc}`, { ip: ATTACKER, cookie: vid });
  expect(redirect.status).toBe(302);
  expect(redirect.answer.headers.location).toBe(`${stack.url}/landed?x=1`);

  // Guessing the admin token from one address: throttled, even for the right token afterwards.
  const codes: number[] = [];
  for (let i = 0; i < 11; i++)
    codes.push((await api("/status", { ip: ATTACKER, token: `wrong-${i}-${"x".repeat(32)}` })).status);
  expect(codes.slice(0, 10)).toEqual(Array(10).fill(401));
  expect(codes[10]).toBe(429);
  const blocked = await api("/status", { ip: ATTACKER });
  expect(blocked.status).toBe(429);
  expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  expect((await api("/status", { ip: "198.51.100.7" })).status).toBe(200);
});
