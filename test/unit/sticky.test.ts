import { describe, expect, it } from "vitest";
import { compileSticky, stickyKeyOf, MAX_KEY_LENGTH } from "../../src/routing/sticky";
import { mintVisitor } from "../../src/routing/visitor";

const known = mintVisitor();
const h = (init: Record<string, string>) => new Headers(init);

describe("stickyBy", () => {
  it("compiles every form", () => {
    expect(compileSticky("cookie")).toEqual({ kind: "visitor" });
    expect(compileSticky("header:X-User-Id")).toEqual({ kind: "header", name: "x-user-id" });
    expect(compileSticky("cookie:session")).toEqual({ kind: "cookie", name: "session" });
    expect(compileSticky("ip")).toEqual({ kind: "ip" });
  });

  it('"cookie": a returning visitor keeps its id and gets no new cookie', () => {
    const k = stickyKeyOf(compileSticky("cookie"), h({ cookie: `a=1; edgeshift_vid=${known.value}` }));
    expect(k).toEqual({ key: known.id, source: "visitor", newVisitorValue: null });
  });

  it('"cookie": a new visitor gets a freshly minted id to set', () => {
    const k = stickyKeyOf(compileSticky("cookie"), h({}));
    expect(k.source).toBe("visitor");
    expect(k.newVisitorValue).toMatch(/^[A-Za-z0-9_-]{22}\.[0-9a-f]{8}$/);
    expect(k.newVisitorValue!.startsWith(k.key)).toBe(true);
  });

  it("header, cookie and ip keys are used as they are, with no visitor cookie", () => {
    expect(stickyKeyOf(compileSticky("header:x-user-id"), h({ "x-user-id": "u-42" }))).toEqual({
      key: "u-42",
      source: "header",
      newVisitorValue: null,
    });
    expect(stickyKeyOf(compileSticky("cookie:session"), h({ cookie: "session=s1" }))).toEqual({
      key: "s1",
      source: "cookie",
      newVisitorValue: null,
    });
    expect(stickyKeyOf(compileSticky("ip"), h({ "cf-connecting-ip": "203.0.113.9" }))).toEqual({
      key: "203.0.113.9",
      source: "ip",
      newVisitorValue: null,
    });
  });

  it("falls back to the visitor cookie when the key is missing, empty or oversized", () => {
    const withVisitor = { cookie: `edgeshift_vid=${known.value}` };
    expect(stickyKeyOf(compileSticky("header:x-user-id"), h(withVisitor)).key).toBe(known.id);
    expect(stickyKeyOf(compileSticky("header:x-user-id"), h({ ...withVisitor, "x-user-id": "" })).key).toBe(known.id);
    expect(
      stickyKeyOf(compileSticky("header:x-user-id"), h({ ...withVisitor, "x-user-id": "u".repeat(MAX_KEY_LENGTH + 1) }))
        .key,
    ).toBe(known.id);
    expect(stickyKeyOf(compileSticky("ip"), h(withVisitor)).key).toBe(known.id);
    const fresh = stickyKeyOf(compileSticky("cookie:session"), h({}));
    expect(fresh.source).toBe("visitor");
    expect(fresh.newVisitorValue).not.toBeNull();
  });
});
