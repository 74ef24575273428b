// The Worker as a reverse proxy, against the real origins (test/worker/global-setup.ts).
import { beforeEach, describe, expect, inject, it, vi } from "vitest";
import { recorder } from "../../src/worker/telemetry";
import { telemetryFaults } from "../../src/worker/handler";
import { echo, get, setCookies, useRollout, visitorCookieOf } from "./helpers";

beforeEach(async () => {
  await useRollout({ percent: 0 });
});

describe("faithful proxying", () => {
  it("forwards method, path and query exactly as received, odd encodings included", async () => {
    for (const p of ["/a%2Fb?x=%20&y=1&y=2", "/caf%C3%A9/%7Euser?q=a+b%2Bc&&empty=", "/p;matrix=1/x?", "/"]) {
      const { j } = await echo(p);
      expect(j.url).toBe(p);
    }
    const { j } = await echo("/m", { method: "DELETE" });
    expect(j.method).toBe("DELETE");
  });

  it("streams the request body to the origin and the response body back", async () => {
    const big = "x".repeat(3 * 1024 * 1024);
    const { j } = await echo("/upload?n=1", { method: "POST", body: big, headers: { "content-type": "text/plain" } });
    expect(j.method).toBe("POST");
    expect(j.bodyBytes).toBe(big.length);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("part1-"));
        c.enqueue(new TextEncoder().encode("part2"));
        c.close();
      },
    });
    const s = await echo("/upload", { method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect(s.j.body).toBe("part1-part2");
    // The origin writes 5 chunks 50 ms apart: a buffering proxy would hand over all of them at once.
    const r = await get("/stream");
    const reader = r.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toBe("chunk 0\n");
    let rest = "";
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += new TextDecoder().decode(c.value);
    expect(rest).toBe("chunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  });

  it("passes status codes and redirects through, unfollowed", async () => {
    expect((await get("/status/418")).status).toBe(418);
    expect((await get("/status/404")).status).toBe(404);
    const r = await get("/redirect", { redirect: "manual" });
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe("/landed");
  });

  it("keeps every Set-Cookie of the origin beside the visitor cookie", async () => {
    const r = await get("/cookies");
    const cookies = setCookies(r);
    expect(cookies).toContain("a=1; Path=/");
    expect(cookies).toContain("b=2; Path=/; HttpOnly");
    expect(cookies.filter((c) => c.startsWith("edgeshift_vid=")).length).toBe(1);
    expect(await r.text()).toBe("two cookies\n");
  });

  it("drops hop-by-hop headers (RFC 9110 §7.6.1) and sets X-Forwarded-*", async () => {
    const { j } = await echo("/h", {
      headers: {
        connection: "keep-alive",
        "keep-alive": "timeout=9",
        te: "trailers",
        "proxy-authorization": "Basic eA==",
        "cf-connecting-ip": "198.51.100.23",
        "x-app": "kept",
      },
    });
    for (const h of ["keep-alive", "te", "proxy-authorization"]) expect(j.headers[h], h).toBeUndefined();
    expect(j.headers["x-app"]).toBe("kept");
    expect(j.headers["x-forwarded-for"]).toBe("198.51.100.23");
    expect(j.headers["x-forwarded-proto"]).toBe("https");
    expect(j.headers["x-forwarded-host"]).toBe("app.example");
    const plain = await echo("/h", {}, "http://plain.example");
    expect(plain.j.headers["x-forwarded-proto"]).toBe("http");
  });

  it("strips client-sent x-edgeshift-* headers and our cookies; tells the origin the real cohort", async () => {
    await useRollout({ percent: 0, release: "v9" });
    const { j } = await echo("/h", {
      headers: {
        "x-edgeshift-slot": "green",
        "x-edgeshift-role": "canary",
        "x-edgeshift-explain": "guess",
        "x-edgeshift-whatever": "1",
        cookie: "sid=abc; edgeshift_vid=zzz; edgeshift_override=forged",
      },
    });
    expect(j.origin).toBe("blue");
    expect(j.headers["x-edgeshift-slot"]).toBe("blue");
    expect(j.headers["x-edgeshift-role"]).toBe("stable");
    expect(j.headers["x-edgeshift-release"]).toBe("v9");
    expect(Number(j.headers["x-edgeshift-bucket"])).toBeGreaterThanOrEqual(0);
    expect(j.headers["x-edgeshift-explain"]).toBeUndefined();
    expect(j.headers["x-edgeshift-whatever"]).toBeUndefined();
    expect(j.headers.cookie).toBe("sid=abc");
  });

  it("is no open proxy: the upstream is always BLUE/GREEN_ORIGIN + the request's path", async () => {
    const hostTrick = await echo("/x?y=1", { headers: { host: "evil.example" } }, "http://evil.example");
    expect(hostTrick.j.origin).toBe("blue");
    expect(hostTrick.j.url).toBe("/x?y=1");
    // An absolute URL or a scheme-relative path is only ever a path on our origin.
    for (const p of ["/http://evil.example/steal", "//evil.example/steal", "/@evil.example"]) {
      const { j } = await echo(p);
      expect(j.origin).toBe("blue");
      expect(j.url).toBe(p);
    }
    const viaIp = await echo("/x", {}, "http://127.0.0.1:1");
    expect(viaIp.j.origin).toBe("blue");
  });
  // Local workerd (vitest pool and wrangler dev alike) rejects the origin's Sec-WebSocket-Accept even
  // for the canonical `fetch(url, request)` pass-through, so the full echo cannot be run locally.
  // What is ours to get right is checked here: the Upgrade request reaches the chosen origin with
  // its path, query and headers intact, and the cohort added.
  it("passes a WebSocket Upgrade request on to the origin with its headers intact", async () => {
    const r = await get("/ws/room?id=7", {
      headers: { upgrade: "websocket", "sec-websocket-protocol": "chat", "x-app": "1", "x-edgeshift-slot": "green" },
    });
    await r.arrayBuffer().catch(() => {});
    const seen = (await (await fetch(inject("blueUrl") + "/__origin/last-upgrade")).json()) as any;
    expect(seen.url).toBe("/ws/room?id=7");
    expect(seen.headers.upgrade).toBe("websocket");
    expect(seen.headers.connection.toLowerCase()).toContain("upgrade");
    expect(seen.headers["sec-websocket-protocol"]).toBe("chat");
    expect(seen.headers["x-app"]).toBe("1");
    expect(seen.headers["x-edgeshift-slot"]).toBe("blue");
  });
});

describe("visitor cookie", () => {
  it("is set once on the first response with the documented attributes, Secure only on https", async () => {
    const r = await get("/");
    await r.arrayBuffer();
    const c = setCookies(r).find((s) => s.startsWith("edgeshift_vid="))!;
    expect(c).toMatch(
      /^edgeshift_vid=[A-Za-z0-9_-]{22}\.[0-9a-f]{8}; Path=\/; Max-Age=34560000; HttpOnly; SameSite=Lax; Secure$/,
    );
    const again = await get("/", { headers: { cookie: `edgeshift_vid=${visitorCookieOf(r)}` } });
    await again.arrayBuffer();
    expect(visitorCookieOf(again)).toBeNull();
    const http = await get("/", {}, "http://app.example");
    await http.arrayBuffer();
    expect(setCookies(http).find((s) => s.startsWith("edgeshift_vid="))).not.toMatch(/Secure/);
  });

  it("treats a garbled, oversized or forged cookie as a new visitor, without error", async () => {
    const r = await get("/");
    await r.arrayBuffer();
    const good = visitorCookieOf(r)!;
    const forged = good.slice(0, 3) + (good[3] === "a" ? "b" : "a") + good.slice(4);
    for (const v of ["garbage", "x".repeat(4000), forged, good.slice(0, 23) + "00000000", "%ZZ"]) {
      const res = await get("/", { headers: { cookie: `edgeshift_vid=${v}` } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const fresh = visitorCookieOf(res);
      expect(fresh).not.toBeNull();
      expect(fresh).not.toBe(v);
    }
  });
});

describe("failover and origin failures (canary = green at 100 %)", () => {
  const explain = { "x-edgeshift-explain": "test-admin-token-0123456789abcdef" };
  beforeEach(async () => {
    await useRollout({ percent: 100, timeoutMs: { green: 300, blue: 5000 } });
  });

  it("a GET the canary answers with 5xx is answered by stable; the origin is told it is stable", async () => {
    const { r, j } = await echo("/__fail/green/500/page?x=1", { headers: explain });
    expect(r.status).toBe(200);
    expect(j.origin).toBe("blue");
    expect(j.url).toBe("/__fail/green/500/page?x=1");
    expect(j.headers["x-edgeshift-slot"]).toBe("blue");
    expect(j.headers["x-edgeshift-role"]).toBe("stable");
    expect(r.headers.get("x-edgeshift-explain")).toMatch(
      /slot=blue; role=canary; reason=bucket;.*failover=green->blue status=500/,
    );
  });

  it("HEAD and OPTIONS fail over too; a refused/reset connection and a timeout count as failures", async () => {
    expect((await get("/__fail/green/503/", { method: "HEAD" })).headers.get("x-origin")).toBe("blue");
    expect((await get("/__fail/green/502/", { method: "OPTIONS" })).headers.get("x-origin")).toBe("blue");
    const reset = await echo("/__fail/green/reset/", { headers: explain });
    expect(reset.j.origin).toBe("blue");
    expect(reset.r.headers.get("x-edgeshift-explain")).toContain("failover=green->blue network");
    const slow = await echo("/__fail/green/delay-2000/", { headers: explain });
    expect(slow.j.origin).toBe("blue");
    expect(slow.r.headers.get("x-edgeshift-explain")).toContain("failover=green->blue timeout");
  });

  it("4xx is the client's answer, not a failure: no failover", async () => {
    const r = await get("/__fail/green/404/");
    expect(r.status).toBe(404);
    expect(r.headers.get("x-origin")).toBe("green");
  });

  it("never replays a POST: the canary's 5xx reaches the user as it is", async () => {
    const r = await get("/__fail/green/500/", { method: "POST", body: "order=1" });
    expect(r.status).toBe(500);
    expect(r.headers.get("x-origin")).toBe("green");
    await r.arrayBuffer();
  });

  it("answers 502 / 504 with a plain body and x-edgeshift-error when no failover applies", async () => {
    const reset = await get("/__fail/green/reset/", { method: "POST", body: "x" });
    expect(reset.status).toBe(502);
    expect(reset.headers.get("x-edgeshift-error")).toBe("origin-unreachable");
    expect(await reset.text()).toMatch(/green origin \(canary\) could not be reached/);
    const slow = await get("/__fail/green/delay-2000/", { method: "PUT", body: "x" });
    expect(slow.status).toBe(504);
    expect(slow.headers.get("x-edgeshift-error")).toBe("origin-timeout");
    const both = await get("/__fail/all/reset/");
    expect(both.status).toBe(502);
    expect(await both.text()).toMatch(/blue origin \(stable\) could not be reached/);
  });

  it("the timeout covers time to headers only: a slow body still streams through", async () => {
    const r = await get("/stream");
    expect(r.headers.get("x-origin")).toBe("green");
    expect(await r.text()).toBe("chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  });
});

describe("edgeshift's own paths", () => {
  it("answers /__edgeshift/healthz itself and never proxies /__edgeshift/*, but does proxy look-alikes", async () => {
    const h = await get("/__edgeshift/healthz");
    expect(h.status).toBe(200);
    expect(await h.text()).toBe("ok");
    const other = await get("/__edgeshift/no-such-thing");
    expect(other.headers.get("x-origin")).toBeNull();
    await other.arrayBuffer();
    expect((await echo("/__edgeshiftx/y")).j.url).toBe("/__edgeshiftx/y");
  });
});

describe("an exception of edgeshift's own", () => {
  type Seen = { method: string; url: string; headers: Record<string, string> };
  const seenAt = async (origin: "blueUrl" | "greenUrl", url: string) =>
    ((await (await fetch(inject(origin) + "/__origin/requests")).json()) as Seen[]).filter((s) => s.url === url);

  it("before anything was sent: logged, and the request passes through to stable (never a 5xx of ours)", async () => {
    await useRollout({ percent: 100 });
    const view = recorder.view;
    // The first thing route() reads after the config: a throw here is an error before any fetch.
    Object.defineProperty(recorder, "view", {
      configurable: true,
      get() {
        throw new Error("bug in our own code");
      },
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const { r, j } = await echo("/before-bug?q=1", { headers: { "x-edgeshift-slot": "green" } });
      expect(r.status).toBe(200);
      expect(j.origin).toBe("blue");
      expect(j.url).toBe("/before-bug?q=1");
      expect(j.headers["x-edgeshift-slot"]).toBeUndefined();
      expect(logged.mock.calls.some((c) => String(c[0]).includes('"proxy-internal-error"'))).toBe(true);
      // The pass-through cleans the origin's answer as the normal path does.
      const spoof = await get(
        "/respond?h=" +
          encodeURIComponent("x-edgeshift-explain: forged") +
          "&h=" +
          encodeURIComponent("set-cookie: edgeshift_vid=planted"),
      );
      expect(spoof.status).toBe(200);
      expect(spoof.headers.get("x-edgeshift-explain")).toBeNull();
      expect(setCookies(spoof)).toEqual([]);
      await spoof.arrayBuffer();
    } finally {
      Object.defineProperty(recorder, "view", { configurable: true, writable: true, value: view });
      logged.mockRestore();
    }
  });

  it("telemetry that throws after the origin answered: the origin's answer is delivered, the POST reached it once, the fault counted and logged once", async () => {
    // Until issue 9's review this pinned a 502 for a throwing recorder: a bug in counting was an
    // outage of every request. Changed on purpose: the answer goes through.
    await useRollout({ percent: 100 });
    const url = `/after-bug-${crypto.randomUUID()}?q=1`;
    const boom = vi.spyOn(recorder, "record").mockImplementation(() => {
      throw new Error("bug in our own code");
    });
    const flush = vi.spyOn(recorder, "maybeFlush").mockImplementation(() => {
      throw new Error("bug in the flush");
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const before = telemetryFaults.count;
    try {
      const { r, j } = await echo(url, { method: "POST", body: "order=42", headers: { "content-type": "text/plain" } });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-edgeshift-error")).toBeNull();
      expect(j.method).toBe("POST");
      expect(j.body).toBe("order=42");
      expect(setCookies(r).filter((c) => c.startsWith("edgeshift_vid=")).length).toBe(1);
      expect((await seenAt("greenUrl", url)).map((s) => s.method)).toEqual(["POST"]);
      expect(await seenAt("blueUrl", url)).toEqual([]);
      // A second request within the minute: counted, not logged again.
      expect((await get(url)).status).toBe(200);
      expect(telemetryFaults.count - before).toBe(4);
      const faults = logged.mock.calls.filter((c) => String(c[0]).includes('"telemetry-fault"'));
      expect(faults.length).toBeLessThanOrEqual(1);
      expect(logged.mock.calls.some((c) => String(c[0]).includes("proxy-internal-error"))).toBe(false);
    } finally {
      boom.mockRestore();
      flush.mockRestore();
      logged.mockRestore();
    }
  });

  it("a fault building the response once the request reached the origin: 502 internal-after-send, and a POST reaches an origin exactly once", async () => {
    await useRollout({ percent: 100 });
    const url = `/after-bug-${crypto.randomUUID()}?q=1`;
    // The visitor cookie is appended in the response re-wrap, after the origin answered: a throw
    // there leaves a half-built response that must not go out, nor the request go out again.
    const append = Headers.prototype.append;
    const boom = vi.spyOn(Headers.prototype, "append").mockImplementation(function (this: Headers, n, v) {
      if (n === "set-cookie" && String(v).startsWith("edgeshift_vid=")) throw new Error("bug in our own code");
      return append.call(this, n, v);
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const r = await get(url, { method: "POST", body: "order=42", headers: { "content-type": "text/plain" } });
      expect(r.status).toBe(502);
      expect(r.headers.get("x-edgeshift-error")).toBe("internal-after-send");
      expect(await r.text()).toMatch(/not sent again/);
      const green = await seenAt("greenUrl", url);
      const blue = await seenAt("blueUrl", url);
      expect(green.map((s) => s.method)).toEqual(["POST"]);
      expect(blue).toEqual([]);
      expect(logged.mock.calls.some((c) => String(c[0]).includes('"sent":true'))).toBe(true);
    } finally {
      boom.mockRestore();
      logged.mockRestore();
    }
  });
});
