// `edgeshift set` / `start` write through the controller when its URL and token are configured: the
// write carries the version read, and a 409 (the document changed meanwhile) is a clear message and
// exit 1. A small real HTTP server stands in for the Worker's admin API (the Worker's side is tested
// in test/worker/document-api.test.ts).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/edgeshift";
import { EXIT } from "../../cli/args";
import { LOCAL_KV_WARNING, RAW_KV_WARNING, storeFrom } from "../../cli/doc-store";
import { captureIo as io, usageMessage } from "./cli-io";

const READ = {
  fingerprint: "aaaaaaaaaaaaaaaa",
  text: JSON.stringify({ percent: 5, release: "v2" }),
  attempt: 3,
  revision: 2,
};
let url = "";
let server: http.Server;
let answer: { status: number; body: unknown } = { status: 200, body: {} };
const puts: { auth: string | undefined; body: any }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      if (req.url !== "/__edgeshift/api/rollout") return res.writeHead(404).end("{}");
      if (req.method === "GET") return res.end(JSON.stringify(READ));
      puts.push({ auth: req.headers.authorization, body: JSON.parse(text) });
      res.writeHead(answer.status).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe("set and start through the controller", () => {
  it("set sends the change with the version it read and the actor", async () => {
    answer = { status: 200, body: { ok: true, changed: true, fingerprint: "cccccccccccccccc", kv: "written" } };
    puts.length = 0;
    const t = io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "tok", USER: "alice" });
    const code = await main(["set", "25", "--reason", "more"], t.x);
    expect(t.err).toEqual([]);
    expect(code).toBe(EXIT.OK);
    expect(puts).toEqual([
      {
        auth: "Bearer tok",
        body: { document: { percent: 25, release: "v2" }, ifMatch: READ.fingerprint, note: "alice", reason: "more" },
      },
    ]);
    expect(t.out[0]).toBe(
      `split 5 % → 25 %: green (canary) 25 % · blue (stable) 75 % — written to the controller at ${url}`,
    );
  });

  it("set says when a percent was rounded to the split's resolution", async () => {
    answer = { status: 200, body: { ok: true, changed: true, fingerprint: "cccccccccccccccc", kv: "written" } };
    puts.length = 0;
    const t = io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "tok" });
    expect(await main(["set", "5.555"], t.x)).toBe(EXIT.OK);
    expect((puts[0] as { body: { document: { percent: number } } }).body.document.percent).toBe(5.56);
    expect(t.err).toEqual(["note: 5.555 % is set as 5.56 %: the split's resolution is 0.01 % (10,000 buckets)"]);
  });

  it("start sends approval steps as the document writes them, and says what the plan will do", async () => {
    answer = { status: 200, body: { ok: true, changed: true, fingerprint: "cccccccccccccccc", kv: "written" } };
    puts.length = 0;
    const t = io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "tok", USER: "alice" });
    const code = await main(["start", "--steps", "5,50:approve=8h:rollback,100", "--step-seconds", "60"], t.x);
    expect(t.err).toEqual([]);
    expect(code).toBe(EXIT.OK);
    expect((puts[0] as { body: { document: unknown } }).body.document).toMatchObject({
      percent: 5,
      stepSeconds: 60,
      steps: [5, { percent: 50, approve: true, approveTimeoutSeconds: 28800, onTimeout: "rollback" }, 100],
    });
    expect(t.out[0]).toContain(
      "plan 5 % for 60s → 50 % for 60s, then approval within 8h (then rollback) → 100 % for 60s started",
    );
  });

  it.each([
    ["set", ["set", "25"]],
    ["start", ["start", "--steps", "10,50,100"]],
  ])("%s: a 409 says the document changed since it was read, names both versions, and exits 1", async (_n, argv) => {
    answer = {
      status: 409,
      body: { error: "the document changed since version aaaaaaaaaaaaaaaa was read", current: "bbbbbbbbbbbbbbbb" },
    };
    const t = io();
    const code = await main([...argv, "--url", url, "--token", "tok"], t.x);
    expect(code).toBe(EXIT.FAILED);
    expect(t.out).toEqual([]);
    expect(t.err).toHaveLength(1);
    expect(t.err[0]).toMatch(
      new RegExp(
        `^edgeshift ${argv[0]}: the document changed since you read it: you based this change on version aaaaaaaaaaaaaaaa, and version bbbbbbbbbbbbbbbb is in force now .*Nothing was written; re-run the command`,
      ),
    );
  });

  it("a refused token: the API's words once, then what to check", async () => {
    answer = {
      status: 401,
      body: {
        error: "the bearer token was refused: it is none of this Worker's admin tokens (ADMIN_TOKEN, ADMIN_TOKENS)",
      },
    };
    const t = io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "wrong" });
    expect(await main(["set", "25"], t.x)).toBe(EXIT.FAILED);
    const said = t.err.join("");
    expect(said.match(/refused/g)).toHaveLength(1);
    expect(said).toContain("— check --token / EDGESHIFT_TOKEN against the Worker's ADMIN_TOKEN (or ADMIN_TOKENS)");
  });

  it("other refusals keep the API's own message", async () => {
    answer = {
      status: 400,
      body: { error: "nothing written; the document is invalid: percent: too big", field: "document.percent" },
    };
    const t = io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "tok" });
    expect(await main(["set", "25"], t.x)).toBe(EXIT.FAILED);
    expect(t.err[0]).toContain("400: nothing written; the document is invalid: percent: too big");
  });
});

describe("where the document is written", () => {
  it("the controller when both its URL and token are configured, else raw KV with the warning", () => {
    const who = { note: "alice" };
    expect(storeFrom({ url, token: "t" }, io().x, who)).toMatchObject({ warning: null, store: { via: "controller" } });
    expect(storeFrom({}, io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "t" }).x, who).store.via).toBe("controller");
    const token = storeFrom({ token: "t", local: true }, io().x, who);
    expect(token).toMatchObject({ warning: RAW_KV_WARNING, store: { via: "kv" } });
    expect(token.store.describe).toMatch(/^local KV/);
    expect(RAW_KV_WARNING).toMatch(/no compare-and-swap.*--url and --token/);
  });

  it("half a controller target is refused, not taken for raw KV (which would write the account's KV unchecked)", () => {
    const who = { note: "alice" };
    expect(usageMessage(() => storeFrom({ url }, io().x, who))).toMatch(
      /a Worker URL \(--url\) but no admin token: give --token \(or EDGESHIFT_TOKEN\)/,
    );
    expect(usageMessage(() => storeFrom({}, io({ EDGESHIFT_TOKEN: "t" }).x, who))).toMatch(
      /an admin token \(EDGESHIFT_TOKEN\) but no Worker URL: give --url/,
    );
    // Chosen on purpose: --local is KV, whatever the environment holds.
    expect(storeFrom({ local: true }, io({ EDGESHIFT_URL: url }).x, who).store.via).toBe("kv");
    const both = io({ EDGESHIFT_URL: url, EDGESHIFT_TOKEN: "t" }).x;
    expect(storeFrom({ local: true, "persist-to": "/tmp/x" }, both, who)).toMatchObject({
      store: { via: "kv", describe: "local KV in /tmp/x" },
      warning: LOCAL_KV_WARNING,
    });
  });

  it("set with a URL and no token exits 2 and writes nothing", async () => {
    puts.length = 0;
    const t = io();
    expect(await main(["set", "25", "--url", url], t.x)).toBe(EXIT.USAGE);
    expect(t.err.join("")).toContain("no admin token");
    expect(puts).toEqual([]);
  });
});
