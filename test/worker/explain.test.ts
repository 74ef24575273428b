import { describe, expect, it } from "vitest";
import { echo, get, useRollout } from "./helpers";

describe("x-edgeshift-explain", () => {
  it("explains the decision to a caller holding ADMIN_TOKEN, and never forwards the token", async () => {
    await useRollout({ percent: 100, release: "v2.4.0" });
    const { r, j } = await echo("/", { headers: { "x-edgeshift-explain": "test-admin-token-0123456789abcdef" } });
    expect(r.headers.get("x-edgeshift-explain")).toMatch(
      /^slot=green; role=canary; reason=bucket; bucket=\d+; threshold=10000; release=v2.4.0; source=kv$/,
    );
    expect(j.headers["x-edgeshift-explain"]).toBeUndefined();
  });

  it("says rolled-back when the canary was pulled", async () => {
    await useRollout({ percent: 40, rolledBack: { at: "2026-11-25T08:00:00Z", reason: "errors" } });
    const r = await get("/", { headers: { "x-edgeshift-explain": "test-admin-token-0123456789abcdef" } });
    expect(r.headers.get("x-edgeshift-explain")).toMatch(
      /^slot=blue; role=stable; reason=rolled-back; bucket=\d+; threshold=4000; release=; source=kv$/,
    );
  });

  it("is absent without the right token", async () => {
    await useRollout({ percent: 100 });
    for (const h of [
      {} as Record<string, string>,
      { "x-edgeshift-explain": "wrong" },
      { "x-edgeshift-explain": "test-admin-token-0123456789abcdefX" },
      { "x-edgeshift-explain": "TEST-ADMIN-TOKEN-0123456789ABCDEF" },
      { "x-edgeshift-explain": "" },
    ]) {
      // An address of its own: wrong tokens count against the sender (test/worker/admin-auth.test.ts).
      const r = await get("/", { headers: { ...h, "cf-connecting-ip": "192.0.2.77" } });
      expect(r.headers.get("x-edgeshift-explain")).toBeNull();
      await r.arrayBuffer();
    }
  });
});
