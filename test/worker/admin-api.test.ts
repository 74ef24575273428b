// The admin API as a client sees it: through the real Worker (SELF), real KV and the real
// controller instance "rollout". Auth, validation (400), actions that do not apply (409), the page.
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { adminApp } from "../../src/admin/app";
import { controllerStub } from "../../src/controller/rpc";

const BASE = "https://edge.example/__edgeshift";
const AUTH = { authorization: "Bearer test-admin-token-0123456789abcdef" };

function api(path: string, init: RequestInit = {}) {
  return SELF.fetch(BASE + path, { ...init, headers: { ...AUTH, ...(init.headers as Record<string, string>) } });
}
function post(action: string, body?: string) {
  return api(`/api/actions/${action}`, {
    method: "POST",
    body,
    headers: body ? { "content-type": "application/json" } : {},
  });
}

describe("auth", () => {
  it("healthz is public and says nothing more than ok", async () => {
    const r = await SELF.fetch(BASE + "/healthz");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok");
    expect(r.headers.get("cache-control")).toBe("no-store");
  });

  it("without credentials: 401 with WWW-Authenticate, and no data", async () => {
    const r = await SELF.fetch(BASE + "/api/status");
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBe('Bearer realm="edgeshift"');
    expect(r.headers.get("cache-control")).toBe("no-store");
    const j = await r.json<{ error: string }>();
    expect(j.error).toMatch(/Authorization: Bearer/);
    expect(JSON.stringify(j)).not.toMatch(/percent|canary/);
  });

  it.each([
    ["a wrong token", "Bearer test-admin-tokem"],
    ["a prefix of the token", "Bearer test-admin"],
    ["the token with a suffix", "Bearer test-admin-token-0123456789abcdef2"],
    ["another scheme", "Basic dGVzdC1hZG1pbi10b2tlbg=="],
    ["an empty bearer", "Bearer "],
  ])("%s → 401", async (_what, authorization) => {
    // An address of its own: wrong tokens count against the sender (test/worker/admin-auth.test.ts).
    const r = await SELF.fetch(BASE + "/api/status", { headers: { authorization, "cf-connecting-ip": "192.0.2.78" } });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
  });

  it("actions need the token too (nothing happens without it)", async () => {
    const before = await env.ROLLOUT_CONFIG.get("rollout");
    const r = await SELF.fetch(BASE + "/api/actions/abort", { method: "POST" });
    expect(r.status).toBe(401);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(before);
  });

  it("no ADMIN_TOKEN configured: 503 saying how to set one, even with a token", async () => {
    const ctx = createExecutionContext();
    const r = await adminApp.fetch(
      new Request(BASE + "/api/status", { headers: AUTH }),
      { ...env, ADMIN_TOKEN: undefined },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(r.status).toBe(503);
    expect((await r.json<{ error: string }>()).error).toMatch(
      /wrangler secret put ADMIN_TOKEN -c wrangler\.control\.toml/,
    );
  });
});

describe("reading", () => {
  it("status answers the controller's snapshot, not cacheable", async () => {
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 5, release: "v7" }));
    const r = await api("/api/status");
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const s = await r.json<any>();
    expect(s).toMatchObject({
      percent: 5,
      release: "v7",
      roles: { canary: "green", stable: "blue" },
      state: "running",
      plan: null,
    });
    expect(Array.isArray(s.events)).toBe(true);
  });

  it("history: newest first, limit honoured", async () => {
    const r = await api("/api/history?limit=1");
    expect(r.status).toBe(200);
    const { events } = await r.json<{ events: any[] }>();
    expect(events).toHaveLength(1);
    const all = (await (await api("/api/history")).json<{ events: any[] }>()).events;
    expect(all.length).toBeGreaterThanOrEqual(1);
    expect(all[0].id).toBe(events[0].id);
    for (let i = 1; i < all.length; i++) expect(all[i].id).toBeLessThan(all[i - 1].id);
  });

  it.each([
    ["limit=0", "limit", /at least 1/],
    ["limit=abc", "limit", /whole number/],
    ["limit=2.5", "limit", /whole number/],
    ["limit=5000", "limit", /at most 1000/],
    ["limt=5", "limt", /only query parameter is limit/],
  ])("history?%s → 400 naming %s", async (q, field, msg) => {
    const r = await api(`/api/history?${q}`);
    expect(r.status).toBe(400);
    const j = await r.json<{ error: string; field: string }>();
    expect(j.field).toBe(field);
    expect(j.error).toMatch(msg);
  });

  it("unknown admin routes are 404 JSON, never proxied", async () => {
    const r = await api("/api/nope");
    expect(r.status).toBe(404);
    expect((await r.json<{ error: string }>()).error).toMatch(/no such admin route/);
  });
});

describe("actions: validation and applicability", () => {
  it.each([
    ["explode", undefined, "action", /unknown action "explode": use one of pause, resume, promote, abort/],
    ["pause", "{not json", "body", /not JSON/],
    ["pause", "[1,2]", "body", /JSON object/],
    ["pause", '{"actor": 5}', "actor", /actor must be a string/],
    ["pause", '{"actor": ""}', "actor", /must not be empty/],
    ["pause", `{"reason": "${"x".repeat(501)}"}`, "reason", /at most 500/],
    ["pause", '{"who": "alice"}', "who", /unknown field "who": the body takes only note and reason/],
  ])("POST %s with %s → 400 naming %s", async (action, body, field, msg) => {
    const r = await post(action, body);
    expect(r.status).toBe(400);
    const j = await r.json<{ error: string; field: string }>();
    expect(j.field).toBe(field);
    expect(j.error).toMatch(msg);
  });

  it("pause / resume without a plan → 409 with the reason, nothing recorded", async () => {
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 5, release: "v8" }));
    const before = (await (await api("/api/history?limit=1")).json<{ events: any[] }>()).events[0]?.id;
    const p = await post("pause", '{"actor":"alice"}');
    expect(p.status).toBe(409);
    expect((await p.json<{ error: string }>()).error).toMatch(/no staged plan is running, nothing to pause/);
    const r = await post("resume");
    expect(r.status).toBe(409);
    expect((await r.json<{ error: string }>()).error).toMatch(/nothing to resume/);
    const after = (await (await api("/api/history?limit=1")).json<{ events: any[] }>()).events[0]?.id;
    // The write above is a new attempt (one event); the refused actions add none.
    expect(after).toBe(before + 1);
  });

  it("abort: percent 0 + rolledBack by the token's holder in KV, event with actor, note and reason; a second abort → 409", async () => {
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 30, release: "v9" }));
    const r = await post("abort", JSON.stringify({ actor: "alice", reason: "checkout looks wrong" }));
    expect(r.status).toBe(200);
    const j = await r.json<any>();
    expect(j.ok).toBe(true);
    expect(j.status).toMatchObject({
      state: "rolled-back",
      percent: 0,
      rolledBack: { reason: "checkout looks wrong" },
    });
    await controllerStub(env).settle();
    const kv = JSON.parse((await env.ROLLOUT_CONFIG.get("rollout"))!);
    expect(kv).toMatchObject({
      percent: 0,
      release: "v9",
      rolledBack: { by: "admin", reason: "checkout looks wrong", release: "v9" },
    });
    const ev = (await (await api("/api/history?limit=1")).json<{ events: any[] }>()).events[0];
    // The actor is who the token proves (ADMIN_TOKEN: "admin"); the body's "actor" is only a note.
    expect(ev).toMatchObject({
      kind: "abort",
      actor: "admin",
      reason: "checkout looks wrong",
      data: { note: "alice" },
    });

    const again = await post("abort");
    expect(again.status).toBe(409);
    expect((await again.json<{ error: string }>()).error).toMatch(/already rolled back/);
  });

  it("promote of a rolled-back canary → 409 (write a new attempt first)", async () => {
    const r = await post("promote", '{"actor":"bob"}');
    expect(r.status).toBe(409);
    expect((await r.json<{ error: string }>()).error).toMatch(/rolled back.*new attempt/);
  });
});

describe("actions on a running plan, over HTTP", () => {
  it("pause → 200 paused (recorded with the token's actor, the note and reason); resume → 200; promote → roles switched in KV", async () => {
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ steps: [10, 50, 100], stepSeconds: 600, release: "v10" }));
    const p = await post("pause", JSON.stringify({ actor: "erin", reason: "holding for the launch" }));
    expect(p.status).toBe(200);
    const pj = await p.json<any>();
    expect(pj).toMatchObject({
      ok: true,
      status: {
        state: "paused",
        percent: 10,
        plan: { paused: true, waitingFor: "paused by admin: holding for the launch" },
      },
    });
    expect((await post("pause")).status).toBe(409);

    const r = await post("resume", JSON.stringify({ actor: "erin" }));
    expect(r.status).toBe(200);
    expect((await r.json<any>()).status).toMatchObject({ state: "running", plan: { paused: false, index: 0 } });

    const pr = await post("promote", JSON.stringify({ note: "frank", reason: "ship it" }));
    expect(pr.status).toBe(200);
    expect((await pr.json<any>()).status).toMatchObject({
      roles: { canary: "blue", stable: "green" },
      percent: 0,
      plan: null,
      state: "promoted",
    });
    await controllerStub(env).settle();
    const kv = JSON.parse((await env.ROLLOUT_CONFIG.get("rollout"))!);
    expect(kv).toMatchObject({ canary: "blue", percent: 0, stepSeconds: 600 });
    expect(kv.steps).toBeUndefined();
    const events = (await (await api("/api/history?limit=4")).json<{ events: any[] }>()).events;
    expect(events.map((e) => [e.kind, e.actor, e.data?.note])).toEqual([
      ["promote", "admin", "frank"],
      ["resume", "admin", "erin"],
      ["pause", "admin", "erin"],
      ["plan-start", "operator", undefined],
    ]);
  });
});

describe("the page and failures", () => {
  it("GET /__edgeshift/ and /__edgeshift serve the page: HTML, no data, no-store", async () => {
    for (const path of ["/", ""]) {
      const r = await SELF.fetch(BASE + path);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^text\/html/);
      expect(r.headers.get("cache-control")).toBe("no-store");
      const html = await r.text();
      expect(html).toMatch(/<html/i);
      expect(html).toContain("/__edgeshift/api");
      expect(html).not.toContain("test-admin-token-0123456789abcdef");
    }
  });

  it("a failing controller → 503 JSON with the cause, not an exception", async () => {
    // The runtime cannot be told to break its Durable Object, so this one binding is replaced by
    // one whose calls fail the way an unreachable object does.
    const broken = {
      idFromName: () => ({}),
      get: () =>
        new Proxy(
          {},
          { get: () => () => Promise.reject(new Error("Durable Object reset because its code was updated")) },
        ),
    } as unknown as typeof env.CONTROLLER;
    const ctx = createExecutionContext();
    const r = await adminApp.fetch(
      new Request(BASE + "/api/status", { headers: AUTH }),
      { ...env, CONTROLLER: broken },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(r.status).toBe(503);
    expect((await r.json<{ error: string }>()).error).toMatch(
      /controller \(Durable Object\) is unavailable: Durable Object reset.*Traffic is unaffected/,
    );
  });
});

// The API takes a bearer token, never a cookie, so a page on another site cannot ride a logged-in
// browser (no CSRF), and it sends no CORS headers, so a script on another site cannot read it.
describe("cross-site use", () => {
  it("a preflight from another site is not granted, and answers carry no Access-Control-* header", async () => {
    const pre = await SELF.fetch(BASE + "/api/actions/abort", {
      method: "OPTIONS",
      headers: {
        origin: "https://evil.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    await pre.arrayBuffer();
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(pre.headers.get("access-control-allow-headers")).toBeNull();
    const r = await api("/api/status", { headers: { origin: "https://evil.example" } });
    await r.arrayBuffer();
    expect(r.status).toBe(200);
    expect([...r.headers.keys()].filter((k) => k.startsWith("access-control-"))).toEqual([]);
  });

  it("a cookie is no credential: a request carrying only cookies is refused", async () => {
    const r = await SELF.fetch(BASE + "/api/status", {
      headers: {
        cookie: "edgeshift_admin=test-admin-token-0123456789abcdef; token=test-admin-token-0123456789abcdef",
      },
    });
    expect(r.status).toBe(401);
  });
});
