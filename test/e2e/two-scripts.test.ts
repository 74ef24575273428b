// The two scripts as deployed, under the real `wrangler dev` with both configs in one session
// (scripts/lib/dev-stack.ts): the edge Worker (wrangler.toml) answers every request and hands
// `/__edgeshift*` to the control Worker (wrangler.control.toml) through its CONTROL service binding;
// its isolates reach the control Worker's Durable Objects by script_name; and the one KV namespace,
// written only with the real `wrangler kv key put --local`, is the one both read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";

let stack: DevStack;
beforeAll(async () => {
  stack = await startDevStack({ configTtlSeconds: 2 });
});
afterAll(async () => {
  await stack?.stop();
});

const admin = (path: string, init: RequestInit = {}) =>
  fetch(stack.url + "/__edgeshift" + path, {
    ...init,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(init.headers as Record<string, string>) },
  });

describe("edgeshift as two Workers", () => {
  it("wrangler dev runs both: the edge with CONTROL and both Durable Objects bound from edgeshift-control", () => {
    const text = stack.logs.join("\n");
    expect(text).toMatch(/env\.CONTROL \(edgeshift-control\)/);
    expect(text).toMatch(/env\.CONTROLLER \(RolloutController, defined in edgeshift-control\)/);
    expect(text).toMatch(/env\.AGGREGATOR \(ReportAggregator, defined in edgeshift-control\)/);
  });

  it("/__edgeshift* is answered through the service binding: method, body and token arrive, the controller answers", async () => {
    expect(await (await fetch(stack.url + "/__edgeshift/healthz")).text()).toBe("ok");
    const page = await fetch(stack.url + "/__edgeshift/");
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/edgeshift/);
    // A POST with a body: nothing to resume, so the controller itself says why (409), with the body read.
    const resume = await admin("/api/actions/resume", { method: "POST", body: '{"reason":"e2e"}' });
    expect(resume.status).toBe(409);
    const bad = await admin("/api/actions/resume", { method: "POST", body: '{"nope":1}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field: string }).field).toBe("nope");
    expect((await admin("/api/status", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    // Never proxied: the origins saw none of these.
    expect(stack.blue.hits + stack.green.hits).toBe(0);
  });

  it("a KV write reaches both: the edge routes by it, its reports reach the control Worker's controller", async () => {
    await stack.putRollout({ percent: 100, release: "two-scripts", rollback: { minRequests: 5 } });
    await waitFor("the edge to route by the document", async () => {
      const j = (await (await fetch(stack.url + "/two-scripts")).json()) as { origin: string };
      return j.origin === "green";
    });
    const s = await waitFor(
      "the controller to count the edge's reports",
      async () => {
        await Promise.all(
          Array.from({ length: 5 }, (_, i) => fetch(stack.url + `/r${i}`).then((r) => r.arrayBuffer())),
        );
        const s = (await (await admin("/api/status")).json()) as {
          release: string;
          percent: number;
          reports: { received: number };
        };
        return s.reports.received > 0 ? s : null;
      },
      30_000,
      500,
    );
    expect(s).toMatchObject({ release: "two-scripts", percent: 100 });
  });

  it("OFREP is served by the control Worker from the same KV, with the request's cf (country) and a visitor id minted there", async () => {
    // Miniflare's cf without the network is country "US": the rule matches only if `request.cf`
    // crossed the service binding with the request.
    await stack.putFlags({
      flags: {
        "two-scripts": {
          browser: true,
          variations: { off: false, on: true },
          default: "off",
          rules: [{ name: "us", variation: "on", country: ["US"] }],
        },
      },
    });
    const r = await waitFor("the flag in OFREP", async () => {
      const r = await fetch(stack.url + "/__edgeshift/ofrep/v1/evaluate/flags/two-scripts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ context: {} }),
      });
      return r.status === 200 ? r : null;
    });
    expect(await r.json()).toMatchObject({ key: "two-scripts", value: true, reason: "TARGETING_MATCH" });
    expect(r.headers.get("set-cookie")).toMatch(/edgeshift_vid=/);
  });
});
