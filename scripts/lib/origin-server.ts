// A real HTTP origin for the demo, the tests and the benchmarks: answers as "blue" or "green",
// echoes what it received (or, under /fixed/, answers one fixed body), and can be told to fail (status, error rate, delay, refuse connections)
// through its control endpoint, so rollback is exercised against real network behaviour. A test
// can add its own pages (`route`), for a browser that must load them through the proxy.
import http from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";

export interface OriginMode {
  /** Share (0–1) of answers that fail with `failStatus`. */
  errorRate: number;
  failStatus: number;
  /** Added before answering, in ms. */
  delayMs: number;
}

export interface Origin {
  name: string;
  port: number;
  url: string;
  mode: OriginMode;
  /** Requests received since start (control requests excluded). */
  hits: number;
  setMode(m: Partial<OriginMode>): void;
  /** Stop accepting connections (clients get ECONNREFUSED) until `resume()`. */
  refuse(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
  /**
   * Answer every request for exactly `pathname` with `handler` (after the failure modes, as every
   * ordinary answer): a test's own page, since a browser needs HTML and scripts, not an echo.
   */
  route(pathname: string, handler: RouteHandler): void;
}

export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const DEFAULT_MODE: OriginMode = { errorRate: 0, failStatus: 500, delayMs: 0 };
/** Answer of GET /fixed/…: 1 KiB, about the size of an echo of a browser's request. */
export const FIXED_BODY = JSON.stringify({ origin: "fixed", pad: "x".repeat(1000) });

export async function startOrigin(name: string, port = 0, host = "127.0.0.1"): Promise<Origin> {
  let failCarry = 0;
  /** Per signal: the share of /__convert/ answers owed the signal (deterministic, like failCarry). */
  const convertCarry = new Map<string, number>();
  /** The last Upgrade request received (GET /__origin/last-upgrade): what a proxy passed on. */
  let lastUpgrade: { url?: string; headers: http.IncomingHttpHeaders } | null = null;
  const routes = new Map<string, RouteHandler>();
  // Upgraded sockets leave the server's connection tracking, so closeAllConnections() misses them
  // and server.close() would wait on them for ever: they are destroyed by hand.
  const upgraded = new Set<import("node:stream").Duplex>();
  const origin: Origin = {
    name,
    port: 0,
    url: "",
    mode: { ...DEFAULT_MODE },
    hits: 0,
    setMode(m) {
      Object.assign(origin.mode, m);
      failCarry = 0;
    },
    async refuse() {
      await closeServer(server, upgraded);
    },
    async resume() {
      await listen(server, origin.port, host);
    },
    async close() {
      await closeServer(server, upgraded);
    },
    route(pathname, handler) {
      routes.set(pathname, handler);
    },
  };

  // The last requests received, for tests that must see what an origin got when its answer went
  // elsewhere (shadow mirrors). Bounded.
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://origin");
    if (url.pathname === "/__origin/last-upgrade") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(lastUpgrade));
      return;
    }
    if (url.pathname === "/__origin/mode") {
      if (req.method === "POST") {
        const body = await readBody(req);
        try {
          origin.setMode(JSON.parse(body.toString() || "{}"));
        } catch {
          res.writeHead(400).end("bad json");
          return;
        }
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ name, mode: origin.mode, hits: origin.hits }));
      return;
    }
    if (url.pathname === "/__origin/requests") {
      // GET: the last 100 requests received (method, url, headers), oldest first; DELETE forgets them.
      if (req.method === "DELETE") seen.length = 0;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(seen));
      return;
    }
    origin.hits++;
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    if (seen.length > 100) seen.shift();
    const body = await readBody(req);
    // Per-origin failure by path, for tests that must not touch the shared mode:
    // /__fail/<name|all>/<status | reset | delay-<ms>>/… — other origins answer normally (echo).
    const fail = /^\/__fail\/([a-z]+)\/(\d{3}|reset|delay-\d+)(?:\/|$)/.exec(url.pathname);
    if (fail && (fail[1] === name || fail[1] === "all")) {
      if (fail[2] === "reset") return void req.socket.destroy();
      if (fail[2].startsWith("delay-")) await new Promise((r) => setTimeout(r, Number(fail[2].slice(6))));
      else
        return void res
          .writeHead(Number(fail[2]), { "content-type": "text/plain", "x-origin": name })
          .end(`${name} ${fail[2]}\n`);
    }
    // A feature flag's code path that is broken: /__flagfail/<flag>/<status>/… fails for requests whose
    // x-edgeshift-flags says the flag is true (the visitors its rollout reached), on every origin.
    const flagFail = /^\/__flagfail\/([A-Za-z0-9._-]+)\/(\d{3})(?:\/|$)/.exec(url.pathname);
    if (flagFail && flagOn(req.headers["x-edgeshift-flags"], flagFail[1]))
      return void res
        .writeHead(Number(flagFail[2]), { "content-type": "text/plain", "x-origin": name })
        .end(`${name} ${flagFail[2]}: flag ${flagFail[1]} is on\n`);
    if (origin.mode.delayMs > 0) await new Promise((r) => setTimeout(r, origin.mode.delayMs));
    // Deterministic error share (every 1/errorRate-th answer fails) so tests and the demo are
    // repeatable; a random draw would make "2 % errors" a different number every run.
    failCarry += origin.mode.errorRate;
    if (failCarry >= 1) {
      failCarry -= 1;
      res
        .writeHead(origin.mode.failStatus, { "content-type": "text/plain", "x-origin": name })
        .end(`${name} failed on purpose\n`);
      return;
    }
    // An experiment's goal, reached at a rate this origin sets: /__convert/<signal>?blue=0.10&green=0.14
    // answers 200 and, on that share of its answers (every 1/rate-th, so a demo converges the same way
    // each run), lists <signal> in x-edgeshift-goal. `&flag=<key>&on=<rate>`: visitors whose
    // x-edgeshift-flags has the flag true convert at `on` instead.
    const convert = /^\/__convert\/([A-Za-z0-9._-]+)$/.exec(url.pathname);
    if (convert) {
      const q = url.searchParams;
      const flag = q.get("flag");
      const on = flag !== null && q.has("on") && flagOn(req.headers["x-edgeshift-flags"], flag);
      const rate = Number((on ? q.get("on") : q.get(name)) ?? 0) || 0;
      const key = `${convert[1]}:${on ? "on" : "off"}`;
      const carry = (convertCarry.get(key) ?? 0) + rate;
      const reached = carry >= 1;
      convertCarry.set(key, reached ? carry - 1 : carry);
      res.writeHead(200, {
        "content-type": "text/plain",
        "x-origin": name,
        "cache-control": "no-store",
        ...(reached ? { "x-edgeshift-goal": convert[1] } : {}),
      });
      res.end(`${name}: ${reached ? "converted" : "looked"}\n`);
      return;
    }
    const own = routes.get(url.pathname);
    if (own !== undefined) return own(req, res);
    if (url.pathname.startsWith("/fixed/")) {
      // The same body whatever the request carried: benchmarks compare proxies that add different
      // request headers, and an echo would charge the bigger answer (origin and client work) to one.
      res.writeHead(200, { "content-type": "application/json", "x-origin": name, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : FIXED_BODY);
      return;
    }
    if (url.pathname === "/redirect") {
      res.writeHead(302, { location: "/landed", "x-origin": name }).end();
      return;
    }
    if (url.pathname === "/respond") {
      // Answers with the headers the query names, for tests of what a proxy lets through from an
      // origin: /respond?status=302&h=location:http://…&h=set-cookie:a=1 (h repeatable, "name:value").
      const headers: Record<string, string | string[]> = { "x-origin": name, "content-type": "text/plain" };
      for (const h of url.searchParams.getAll("h")) {
        const i = h.indexOf(":");
        const k = h.slice(0, i).trim().toLowerCase();
        const v = h.slice(i + 1).trim();
        const had = headers[k];
        headers[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
      }
      res.writeHead(Number(url.searchParams.get("status")) || 200, headers).end(`${name} responded\n`);
      return;
    }
    if (url.pathname === "/cookies") {
      res
        .writeHead(200, {
          "x-origin": name,
          "set-cookie": ["a=1; Path=/", "b=2; Path=/; HttpOnly"],
          "content-type": "text/plain",
        })
        .end("two cookies\n");
      return;
    }
    if (url.pathname.startsWith("/status/")) {
      const status = Number(url.pathname.slice("/status/".length)) || 200;
      res.writeHead(status, { "x-origin": name, "content-type": "text/plain" }).end(`${name} ${status}\n`);
      return;
    }
    if (url.pathname === "/stream") {
      // Chunks spaced in time: a proxy that buffers whole bodies shows up as a late first byte.
      res.writeHead(200, { "x-origin": name, "content-type": "text/plain" });
      let n = 0;
      const t = setInterval(() => {
        res.write(`chunk ${n}\n`);
        if (++n === 5) (clearInterval(t), res.end());
      }, 50);
      return;
    }
    const echo = {
      origin: name,
      method: req.method,
      url: req.url,
      headers: req.headers,
      bodyBytes: body.length,
      body: body.length <= 4096 ? body.toString() : undefined,
    };
    res.writeHead(200, { "content-type": "application/json", "x-origin": name, "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : JSON.stringify(echo));
  });
  server.keepAliveTimeout = 5000;
  // Minimal WebSocket echo (RFC 6455): handshake, then each masked client text frame (≤ 100 bytes)
  // comes back unmasked, prefixed with the origin's name. Enough to prove Upgrade passes through.
  server.on("upgrade", (req, socket) => {
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    lastUpgrade = { url: req.url, headers: req.headers };
    const key = req.headers["sec-websocket-key"];
    if (String(req.headers.upgrade).toLowerCase() !== "websocket" || typeof key !== "string")
      return void socket.destroy();
    const accept = createHash("sha1")
      .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B65")
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nx-origin: ${name}\r\n\r\n`,
    );
    socket.on("data", (f: Buffer) => {
      const op = f[0] & 0x0f,
        len = f[1] & 0x7f;
      if (op === 0x8) return void socket.end(Buffer.from([0x88, 0]));
      if (op !== 0x1 || len > 100) return;
      const mask = f.subarray(2, 6),
        data = Buffer.from(f.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]));
      const out = Buffer.from(`${name}:${data.toString()}`);
      socket.write(Buffer.concat([Buffer.from([0x81, out.length]), out]));
    });
    socket.on("error", () => {});
  });

  await listen(server, port, host);
  origin.port = (server.address() as AddressInfo).port;
  origin.url = `http://${host}:${origin.port}`;
  return origin;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function closeServer(server: http.Server, upgraded: Set<import("node:stream").Duplex>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
    for (const s of upgraded) s.destroy();
    upgraded.clear();
  });
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Whether an x-edgeshift-flags header value says `flag` is true. */
function flagOn(header: string | string[] | undefined, flag: string): boolean {
  if (typeof header !== "string") return false;
  try {
    return (JSON.parse(header) as Record<string, unknown>)[flag] === true;
  } catch {
    return false;
  }
}

/** The text of a /__flagfail/ failure (written above): "<origin> <status>: flag <key> is on". */
const FLAG_FAILED = /^\S+ \d{3}: flag ([A-Za-z0-9._-]+) is on\n?$/;

/**
 * The feature flags an answer of this origin says its request carried (x-edgeshift-flags): all of
 * them from an echo; from a /__flagfail/ failure only the flag that failed it (it fails only with the
 * flag on). Null when the answer says nothing: no flags header, or an answer of another kind.
 */
export function flagsReceived(body: string): Record<string, unknown> | null {
  const failed = FLAG_FAILED.exec(body);
  if (failed) return { [failed[1]]: true };
  try {
    const header = (JSON.parse(body) as { headers?: Record<string, unknown> }).headers?.["x-edgeshift-flags"];
    return typeof header === "string" ? (JSON.parse(header) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
