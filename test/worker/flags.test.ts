// Feature flags through the real Worker: the `flags` KV document read like `rollout` (its own key,
// last good kept), each visitor's flags sent to the origin in x-edgeshift-flags, and no way for a
// client to set that header or pick a variation without a signed token.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { mintOverride } from "../../src/routing/override";
import { expireConfigCache, getFlagsState } from "../../src/worker/config-cache";
import { echo, useRollout, visitorCookieOf } from "./helpers";

const SECRET = "test-override-secret";
const run = Math.random().toString(36).slice(2, 8);

async function useFlags(doc: unknown | null): Promise<void> {
  if (doc === null) await env.ROLLOUT_CONFIG.delete("flags");
  else await env.ROLLOUT_CONFIG.put("flags", typeof doc === "string" ? doc : JSON.stringify(doc));
  // useRollout resets both caches.
  await useRollout({ percent: 0, release: `flags-${run}` });
}

/** The flags the origin saw for one request, or null without the header. */
async function originFlags(init: RequestInit = {}, path = "/f"): Promise<{ flags: any; r: Response }> {
  const { j, r } = await echo(path, init);
  const h = j.headers["x-edgeshift-flags"];
  return { flags: h === undefined ? null : JSON.parse(h), r };
}
const asVisitor = (vid: string, extra: Record<string, string> = {}): RequestInit => ({
  headers: { cookie: `edgeshift_vid=${vid}`, ...extra },
});

afterAll(async () => {
  await env.ROLLOUT_CONFIG.delete("flags");
});

describe("flags reach the origin", () => {
  beforeEach(async () => {
    await useFlags({
      flags: {
        "new-checkout": { rollout: { percent: 50 } },
        theme: {
          variations: { light: "light", dark: "dark" },
          default: "light",
          rules: [{ name: "staff", variation: "dark", header: { name: "x-staff", values: ["1"] } }],
        },
        "server-only": { origin: false, default: "on" },
      },
    });
  });

  it("as one JSON header, the same for a returning visitor, with the cookie the new visitor got", async () => {
    const first = await originFlags();
    expect(Object.keys(first.flags).sort()).toEqual(["new-checkout", "theme"]);
    expect(first.flags.theme).toBe("light");
    const vid = visitorCookieOf(first.r)!;
    expect(vid).toBeTruthy();
    for (let i = 0; i < 3; i++) expect((await originFlags(asVisitor(vid))).flags).toEqual(first.flags);
  });

  it("the rollout splits visitors by their sticky key; a rule wins for whoever matches it", async () => {
    const seen = new Set<boolean>();
    for (let i = 0; i < 24; i++) seen.add((await originFlags()).flags["new-checkout"]);
    expect([...seen].sort()).toEqual([false, true]);
    expect((await originFlags({ headers: { "x-staff": "1" } })).flags.theme).toBe("dark");
  });

  it("a client's own x-edgeshift-flags never reaches the origin", async () => {
    const { flags } = await originFlags({ headers: { "x-edgeshift-flags": '{"theme":"dark","admin":true}' } });
    expect(flags.theme).toBe("light");
    expect(flags.admin).toBeUndefined();
    await useFlags(null);
    const { j } = await echo("/f", { headers: { "x-edgeshift-flags": '{"theme":"dark"}' } });
    expect(j.headers["x-edgeshift-flags"]).toBeUndefined();
  });

  it("a signed token picks a variation; an unsigned claim does not, and a flags-only token leaves the slot alone", async () => {
    const token = await mintOverride(SECRET, { flags: { theme: "dark" }, ttlSeconds: 600, sub: "tester" });
    const { flags, r } = await originFlags({ headers: { "x-edgeshift-override": token } });
    expect(flags.theme).toBe("dark");
    const { j } = await echo("/f", { headers: { "x-edgeshift-override": token } });
    expect(j.headers["x-edgeshift-slot"]).toBe("blue");
    expect(r.status).toBe(200);
    const forged = token.slice(0, -2) + (token.endsWith("A") ? "BB" : "AA");
    expect((await originFlags({ headers: { "x-edgeshift-override": forged } })).flags.theme).toBe("light");
  });
});

describe("the flags document as KV serves it", () => {
  it("no key: no header; a flag switched off serves its off variation", async () => {
    await useFlags(null);
    expect((await originFlags()).flags).toBeNull();
    await useFlags({ flags: { f: { on: false, rollout: { percent: 100 } } } });
    expect((await originFlags()).flags).toEqual({ f: false });
  });

  it("an invalid version keeps the last good flags and says why", async () => {
    await useFlags({ flags: { f: { default: "on" } } });
    expect((await originFlags()).flags).toEqual({ f: true });
    await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ flags: { f: { default: "onn" } } }));
    expireConfigCache();
    await originFlags(); // starts the refresh
    await new Promise((r) => setTimeout(r, 50));
    expect((await originFlags()).flags).toEqual({ f: true });
    const state = getFlagsState();
    expect(state.lastError?.summary).toContain('default "onn" is not one of this flag\'s variations');
  });

  it("flags are re-read less often than the rollout (FLAGS_TTL_SECONDS, 15 s by default: every KV read is billed)", async () => {
    await useFlags({ flags: { f: { default: "on" } } });
    expect((await originFlags()).flags).toEqual({ f: true });
    await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ flags: { f: { default: "off" } } }));
    await env.ROLLOUT_CONFIG.put("rollout", JSON.stringify({ percent: 0, release: `ttl-${run}` }));
    // Past the rollout's 3 s: the rollout is read again, the flags are not yet.
    await new Promise((r) => setTimeout(r, 3200));
    await vi.waitFor(
      async () => {
        const { j } = await echo("/ttl");
        expect(j.headers["x-edgeshift-release"]).toBe(`ttl-${run}`);
      },
      { timeout: 5000, interval: 100 },
    );
    expect((await originFlags()).flags).toEqual({ f: true });
  });

  it("a missing flags key is read again only after FLAGS_MISSING_TTL_SECONDS: a deployment without flags pays little for them", async () => {
    await useFlags(null);
    // The real KV, its reads of `flags` counted (a pass-through, not a fake).
    let reads = 0;
    const kv = env.ROLLOUT_CONFIG;
    const counted = {
      get: (key: string, opts: never) => {
        if (key === "flags") reads++;
        return kv.get(key, opts);
      },
    } as unknown as KVNamespace;
    const visit = async (e: Env) => {
      const ctx = createExecutionContext();
      const r = await worker.fetch(new Request("https://app.example/ttl-missing"), e, ctx);
      await r.arrayBuffer();
      await waitOnExecutionContext(ctx);
    };
    const short = {
      ...(env as Env),
      ROLLOUT_CONFIG: counted,
      FLAGS_TTL_SECONDS: "0.1",
      FLAGS_MISSING_TTL_SECONDS: "60",
    };
    for (let i = 0; i < 6; i++) (await visit(short), await new Promise((r) => setTimeout(r, 150)));
    expect(reads).toBe(1);
    // A key that exists is read every FLAGS_TTL_SECONDS.
    await useFlags({ flags: { f: { default: "on" } } });
    reads = 0;
    for (let i = 0; i < 6; i++) (await visit(short), await new Promise((r) => setTimeout(r, 150)));
    expect(reads).toBeGreaterThanOrEqual(3);
  });

  it("a rolled-back canary does not stop the flags", async () => {
    await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ flags: { f: { default: "on" } } }));
    await useRollout({
      percent: 0,
      release: `flags-rb-${run}`,
      rolledBack: { at: new Date().toISOString(), reason: "test" },
    });
    expect((await originFlags()).flags).toEqual({ f: true });
  });
});
