// A real HTTP origin for the demo, the tests and the benchmarks: answers as "blue" or "green",
// echoes what it received, and can be told to fail (status, error rate, delay, refuse connections)
// through its control endpoint, so rollback is exercised against real network behaviour.
import http from "node:http";
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
}

const DEFAULT_MODE: OriginMode = { errorRate: 0, failStatus: 500, delayMs: 0 };

export async function startOrigin(name: string, port = 0, host = "127.0.0.1"): Promise<Origin> {
  let failCarry = 0;
  const webhooks: unknown[] = [];
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
      await closeServer(server);
    },
    async resume() {
      await listen(server, origin.port, host);
    },
    async close() {
      await closeServer(server);
    },
  };

  // The last requests received, for tests that must see what an origin got when its answer went
  // elsewhere (shadow mirrors). Bounded.
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://origin");
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
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ name, mode: origin.mode, hits: origin.hits }));
      return;
    }
    if (url.pathname === "/__origin/webhook") {
      // A webhook receiver for tests of the controller's notifications: POST stores the JSON body,
      // GET lists what was received, DELETE forgets it. Not counted in `hits`.
      if (req.method === "POST") webhooks.push(JSON.parse((await readBody(req)).toString() || "null"));
      if (req.method === "DELETE") webhooks.length = 0;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(webhooks));
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
    if (origin.mode.delayMs > 0) await new Promise((r) => setTimeout(r, origin.mode.delayMs));
    // Deterministic error share (every 1/errorRate-th answer fails) so tests and the demo are
    // repeatable; a random draw would make "2 % errors" a different number every run.
    failCarry += origin.mode.errorRate;
    if (failCarry >= 1) {
      failCarry -= 1;
      res.writeHead(origin.mode.failStatus, { "content-type": "text/plain", "x-origin": name }).end(`${name} failed on purpose\n`);
      return;
    }
    if (url.pathname === "/redirect") {
      res.writeHead(302, { location: "/landed", "x-origin": name }).end();
      return;
    }
    if (url.pathname === "/cookies") {
      res.writeHead(200, { "x-origin": name, "set-cookie": ["a=1; Path=/", "b=2; Path=/; HttpOnly"], "content-type": "text/plain" }).end("two cookies\n");
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
        if (++n === 5) clearInterval(t), res.end();
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

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
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
