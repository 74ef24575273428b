// A local receiver for the controller's notifications, standing in for Slack, Teams, Discord,
// PagerDuty and a JSON endpoint in tests and the demo: every POST is recorded with its path,
// headers and raw body (a signature is over the exact bytes), and answered as scripted.
//
//   POST   /<anything>               recorded; answered with the next scripted answer for that
//                                     path, else 200 (PagerDuty's paths: 202, as PagerDuty does)
//   GET    /<anything>               the JSON bodies received at that path, oldest first
//   DELETE /<anything>               forgets what that path received
//   GET    /__hooks                  what was received, oldest first
//   DELETE /__hooks                  forgets it and the scripts
//   PUT    /__hooks/script?path=/p   the next answers for /p, e.g. [{"status": 503}, {"status": 429,
//                                     "retryAfter": "1"}]; then back to the default
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

export interface ScriptedAnswer {
  status: number;
  retryAfter?: string;
  body?: string;
}

export interface HookReceiver {
  url: string;
  received: Received[];
  script(path: string, answers: ScriptedAnswer[]): void;
  clear(): void;
  close(): Promise<void>;
}

export async function startHookReceiver(port = 0): Promise<HookReceiver> {
  const received: Received[] = [];
  const scripts = new Map<string, ScriptedAnswer[]>();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const json = (status: number, v: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(v));
    if (url.pathname === "/__hooks") {
      if (req.method === "DELETE") receiver.clear();
      return json(200, received);
    }
    if (url.pathname === "/__hooks/script" && req.method === "PUT") {
      receiver.script(url.searchParams.get("path") ?? "/", JSON.parse(body || "[]") as ScriptedAnswer[]);
      return json(200, { ok: true });
    }
    if (req.method === "GET" || req.method === "DELETE") {
      if (req.method === "DELETE")
        for (let i = received.length - 1; i >= 0; i--) if (received[i].path === url.pathname) received.splice(i, 1);
      return json(
        200,
        received.filter((r) => r.path === url.pathname).map((r) => JSON.parse(r.body || "null") as unknown),
      );
    }
    if (req.method !== "POST") return json(405, { error: "POST, GET or DELETE" });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : (v ?? "");
    received.push({ path: url.pathname, headers, body, at: Date.now() });
    if (received.length > 1000) received.shift();
    const next = scripts.get(url.pathname)?.shift();
    if (next) {
      res
        .writeHead(next.status, next.retryAfter ? { "retry-after": next.retryAfter } : {})
        .end(next.body ?? `scripted ${next.status}`);
      return;
    }
    if (url.pathname.endsWith("/v2/enqueue") || url.pathname.endsWith("/v2/change/enqueue"))
      return json(202, { status: "success", message: "Event processed" });
    res.writeHead(200).end("ok");
  });
  await new Promise<void>((ok) => server.listen(port, "127.0.0.1", ok));
  const receiver: HookReceiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    script(path, answers) {
      scripts.set(path, [...answers]);
    },
    clear() {
      received.length = 0;
      scripts.clear();
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
  return receiver;
}
