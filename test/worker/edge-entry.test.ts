// The edge Worker's entry (src/index.ts) on its own: `/__edgeshift*` goes to the CONTROL service
// binding as it came, everything else to the proxy, and a missing or failing control Worker costs
// an operator a 503 that says why, never a proxied request. The real binding between two scripts is
// proven against `wrangler dev` (test/e2e/split.test.ts).
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import edge from "../../src/index";
import type { Env } from "../../src/env";
import { useRollout } from "./helpers";

async function call(e: Env, url: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const r = await edge.fetch(new Request(url, init), e, ctx);
  await waitOnExecutionContext(ctx);
  return r;
}

describe("the edge Worker's entry", () => {
  it("hands /__edgeshift* to CONTROL untouched (method, path, query, headers, body) and never proxies it", async () => {
    const seen: Request[] = [];
    const control = {
      fetch: async (r: Request) => {
        seen.push(r);
        return new Response(`control saw ${await r.text()}`, { status: 201 });
      },
    } as unknown as Fetcher;
    const r = await call({ ...env, CONTROL: control }, "https://app.example/__edgeshift/api/actions/pause?x=1", {
      method: "POST",
      headers: { authorization: "Bearer t", "cf-connecting-ip": "203.0.113.9" },
      body: '{"reason":"why"}',
    });
    expect(r.status).toBe(201);
    expect(await r.text()).toBe('control saw {"reason":"why"}');
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe("POST");
    expect(seen[0].url).toBe("https://app.example/__edgeshift/api/actions/pause?x=1");
    expect(seen[0].headers.get("authorization")).toBe("Bearer t");
    expect(seen[0].headers.get("cf-connecting-ip")).toBe("203.0.113.9");
  });

  it("without CONTROL: 503 naming the binding and the fix; with a failing one: 503 with what failed", async () => {
    const missing = await call({ ...env, CONTROL: undefined }, "https://app.example/__edgeshift/healthz");
    expect(missing.status).toBe(503);
    expect(missing.headers.get("cache-control")).toBe("no-store");
    expect((await missing.json<{ error: string }>()).error).toMatch(
      /CONTROL service binding is missing: add `services = \[\{ binding = "CONTROL", service = "edgeshift-control" \}\]`/,
    );
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const failing = { fetch: () => Promise.reject(new Error("script not found")) } as unknown as Fetcher;
      const r = await call({ ...env, CONTROL: failing }, "https://app.example/__edgeshift/api/status");
      expect(r.status).toBe(503);
      expect((await r.json<{ error: string }>()).error).toMatch(
        /control Worker \(edgeshift-control\) did not answer: script not found/,
      );
      expect(logged).toHaveBeenCalledWith(expect.stringContaining('"event":"control-unavailable"'));
    } finally {
      logged.mockRestore();
    }
  });

  it("proxies everything else, /__edgeshiftx included, without asking CONTROL", async () => {
    await useRollout({ percent: 0 });
    const control = { fetch: vi.fn() } as unknown as Fetcher;
    const r = await call({ ...env, CONTROL: control }, "https://app.example/__edgeshiftx");
    expect(r.status).toBe(200);
    expect(((await r.json()) as { origin?: string }).origin).toBe("blue");
    expect((control as unknown as { fetch: ReturnType<typeof vi.fn> }).fetch).not.toHaveBeenCalled();
  });
});
