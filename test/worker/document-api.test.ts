// GET|PUT /__edgeshift/api/rollout as a client sees it: through the real Worker (SELF), real KV and
// the deployment's controller. The rules behind it are in test/worker/operator-write.test.ts.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fingerprintOf } from "../../src/model/fingerprint";

const URL_ = "https://edge.example/__edgeshift/api/rollout";
const AUTH = { authorization: "Bearer test-admin-token-0123456789abcdef" };

async function read(): Promise<{ r: Response; j: any }> {
  const r = await SELF.fetch(URL_, { headers: AUTH });
  return { r, j: await r.json() };
}
async function put(body: unknown, headers: Record<string, string> = {}): Promise<{ r: Response; j: any }> {
  const r = await SELF.fetch(URL_, {
    method: "PUT",
    headers: { ...AUTH, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { r, j: await r.json() };
}

describe("GET|PUT /__edgeshift/api/rollout", () => {
  it("reads the version in force with its ETag; a write on it lands in KV and answers the new version", async () => {
    const doc = { percent: 5, release: "v7" };
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify(doc));
    const { r, j } = await read();
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const fp = fingerprintOf(JSON.stringify(doc));
    expect(r.headers.get("etag")).toBe(`"${fp}"`);
    expect(j).toMatchObject({ fingerprint: fp, text: JSON.stringify(doc), document: doc });

    const w = await put(
      { document: { ...doc, percent: 25 }, note: "alice", reason: "raise" },
      { "if-match": `"${fp}"` },
    );
    expect(w.r.status).toBe(200);
    const written = JSON.stringify({ ...doc, percent: 25 }, null, 2);
    expect(w.j).toMatchObject({
      ok: true,
      changed: true,
      previous: fp,
      fingerprint: fingerprintOf(written),
      kv: "written",
    });
    expect(w.r.headers.get("etag")).toBe(`"${fingerprintOf(written)}"`);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(written);
    expect((await read()).j.fingerprint).toBe(fingerprintOf(written));
    // Recorded as the token's holder (ADMIN_TOKEN's name is "admin"); the body's text is a note.
    const h = await SELF.fetch("https://edge.example/__edgeshift/api/history?limit=5", { headers: AUTH });
    const attempt = (await h.json<{ events: any[] }>()).events.find((e) => e.kind === "attempt");
    expect(attempt).toMatchObject({ actor: "admin", data: { note: "alice", reason: "raise" } });
  });

  it("a write based on an older version: 409 with the version in force; KV unchanged", async () => {
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 5 }));
    const { j } = await read();
    // Someone else writes first (here: a raw put, as `wrangler kv key put` would).
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 50 }));
    const w = await put({ document: { percent: 10 }, ifMatch: j.fingerprint });
    expect(w.r.status).toBe(409);
    expect(w.j.current).toBe(fingerprintOf(JSON.stringify({ percent: 50 })));
    expect(w.j.error).toMatch(/changed since version .* was read.*Nothing was written/);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(JSON.stringify({ percent: 50 }));
  });

  it.each([
    ["no base version", { document: { percent: 1 } }, {}, 428, "ifMatch", /must name the version it is based on/],
    ["an invalid document", { document: { percent: 250 } }, "current", 400, "document.percent", /nothing written/],
    ["a document that is not an object", { document: [1], ifMatch: "none" }, {}, 400, "document", /JSON object/],
    ["an unknown field", { document: {}, ifMatch: "none", force: true }, {}, 400, "force", /unknown field "force"/],
    ["a malformed ifMatch", { document: {}, ifMatch: "latest" }, {}, 400, "ifMatch", /fingerprint as GET returns it/],
    ["If-Match and ifMatch disagree", { document: {}, ifMatch: "none" }, "other", 400, "ifMatch", /disagree/],
  ])("%s → %i naming the field", async (_what, body, header, status, field, message) => {
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 5 }));
    const before = await env.ROLLOUT_CONFIG.get("rollout");
    const fp = (await read()).j.fingerprint;
    const withBase = header === "current" ? { ...body, ifMatch: fp } : body;
    const headers: Record<string, string> = header === "other" ? { "if-match": `"${fp}"` } : {};
    const w = await put(withBase, headers);
    expect(w.r.status).toBe(status);
    expect(w.j.field).toBe(field);
    expect(w.j.error).toMatch(message);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(before);
  });

  it("needs the token, like the rest of the API", async () => {
    const r = await SELF.fetch(URL_, { method: "PUT", body: JSON.stringify({ document: {}, ifMatch: "none" }) });
    expect(r.status).toBe(401);
  });
});
