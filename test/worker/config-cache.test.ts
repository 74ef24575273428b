// The isolate's copy of the KV document: TTL, background refresh, last good on bad input.
import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { expireConfigCache, getConfigState } from "../../src/worker/config-cache";
import { echo, useRollout } from "./helpers";

const slot = async () => (await echo("/", { headers: { "x-user-id": "fixed" } })).j.origin as string;

describe("config cache", () => {
  it("a cold isolate reads KV once and routes by it at once", async () => {
    await useRollout({ percent: 100 });
    expect(await slot()).toBe("green");
    const s = getConfigState();
    expect(s.doc.percent).toBe(100);
    expect(s.fetchedAt).not.toBeNull();
    expect(s.lastError).toBeNull();
  });

  it("a warm isolate reads no KV within the TTL, then refreshes in the background", async () => {
    await useRollout({ percent: 100 });
    expect(await slot()).toBe("green");
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 0 }));
    // Within the TTL: the cached copy routes; KV is not read on the request path.
    expect(await slot()).toBe("green");
    expect(getConfigState().doc.percent).toBe(100);
    // TTL over: the next request still gets the cached copy and starts one refresh (waitUntil)...
    expireConfigCache();
    await echo("/");
    await vi.waitFor(() => expect(getConfigState().doc.percent).toBe(0));
    // ...and later requests route by the new document.
    expect(await slot()).toBe("blue");
  });

  it("an invalid document keeps the last good config, says why, and logs once per bad version", async () => {
    await useRollout({ percent: 100, release: "good" });
    expect(await slot()).toBe("green");
    const goodFp = getConfigState().fingerprint;
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await env.ROLLOUT_CONFIG.put("rollout", '{"precent": 0, "canary": "red"}');
      for (let i = 0; i < 3; i++) {
        expireConfigCache();
        await echo("/");
        await vi.waitFor(() => expect(getConfigState().lastError).not.toBeNull());
      }
      expect(await slot()).toBe("green");
      const s = getConfigState();
      expect(s.fingerprint).toBe(goodFp);
      expect(s.doc.release).toBe("good");
      expect(s.lastError!.summary).toContain('unknown field "precent" (did you mean "percent"?)');
      expect(s.lastError!.problems.map((p) => p.path)).toEqual(
        expect.arrayContaining(["", "canary"].filter((p) => p !== "")),
      );
      const logged = errors.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"config-invalid"'));
      expect(logged.length).toBe(1);
      const entry = JSON.parse(logged[0]);
      expect(entry).toMatchObject({ level: "error", event: "config-invalid", key: "rollout", keeping: goodFp });
      expect(entry.problems.length).toBeGreaterThan(0);
      expect(entry.fix).toContain("wrangler kv key put --binding ROLLOUT_CONFIG rollout '<json>' --remote");

      // Reverting to the very same good text clears the error too.
      await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 100, release: "good" }));
      expireConfigCache();
      await echo("/");
      await vi.waitFor(() => expect(getConfigState().lastError).toBeNull());
      expect(getConfigState().fingerprint).toBe(goodFp);

      // A fixed document clears the error and routes at once after the next refresh.
      await env.ROLLOUT_CONFIG.put("rollout", '{"percent": 0}');
      expireConfigCache();
      await echo("/");
      await vi.waitFor(() => expect(getConfigState().lastError).toBeNull());
      expect(await slot()).toBe("blue");
    } finally {
      errors.mockRestore();
    }
  });

  it("an invalid document in a cold isolate means all stable, with the error in the state", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await useRollout("{not json");
      expect(await slot()).toBe("blue");
      expect(getConfigState().fingerprint).toBe("none");
      expect(getConfigState().lastError!.summary).toMatch(/not valid JSON/);
    } finally {
      errors.mockRestore();
    }
  });
});
