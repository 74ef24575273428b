import { describe, expect, it } from "vitest";
import {
  cookieValue,
  mintVisitor,
  pooledRandom,
  stripOwnCookies,
  visitorIdOf,
  visitorSetCookie,
  VISITOR_COOKIE,
} from "../../src/routing/visitor";

describe("visitor id", () => {
  it("mints 128 random bits as 22 base64url characters plus a check segment that validates", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const v = mintVisitor();
      expect(v.value).toMatch(/^[A-Za-z0-9_-]{22}\.[0-9a-f]{8}$/);
      expect(visitorIdOf(v.value)).toBe(v.id);
      seen.add(v.id);
    }
    expect(seen.size).toBe(1000);
  });

  it("draws ids from a pool of the CSPRNG's bytes: never the same bytes twice across refills, uniform, any size", () => {
    const seen = new Set<string>();
    const counts = new Array<number>(256).fill(0);
    // 2,000 × 16 bytes: the 4,096-byte pool refills 7 times.
    for (let i = 0; i < 2000; i++) {
      const b = pooledRandom(new Uint8Array(16));
      seen.add(Buffer.from(b).toString("hex"));
      for (const x of b) counts[x]++;
    }
    expect(seen.size).toBe(2000);
    // 32,000 bytes over 256 values: 125 each expected; a stuck or zeroed source would put thousands on one.
    expect(Math.max(...counts)).toBeLessThan(200);
    expect(Math.min(...counts)).toBeGreaterThan(60);
    // Larger than the pool: straight from the CSPRNG.
    const big = pooledRandom(new Uint8Array(10_000));
    expect(new Set(big).size).toBeGreaterThan(200);
  });

  it("uses every input byte (two different random sources give different ids)", () => {
    const a = mintVisitor((b) => b.fill(0));
    const z = mintVisitor((b) => (b.fill(0), (b[15] = 1), b));
    expect(a.id).not.toBe(z.id);
  });

  it("treats missing, garbled, oversized and forged values as a new visitor (null), without throwing", () => {
    const good = mintVisitor().value;
    const bad = [
      null,
      "",
      "abc",
      good.slice(0, -1),
      good + "0",
      good.replace(".", "-"),
      good.slice(0, 5) + (good[5] === "A" ? "B" : "A") + good.slice(6), // id edited: check no longer matches
      good.slice(0, 23) + "00000000",
      good.slice(0, 23) + "ZZZZZZZZ",
      "x".repeat(5000),
      "%00%00%00%00%00%00%00%00%00%00%0",
    ];
    for (const v of bad) expect(visitorIdOf(v), String(v)).toBeNull();
  });
});

describe("Set-Cookie", () => {
  it("is Path=/, HttpOnly, SameSite=Lax, 400 days; Secure only over https", () => {
    expect(visitorSetCookie("v", false)).toBe("edgeshift_vid=v; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax");
    expect(visitorSetCookie("v", true)).toBe(
      "edgeshift_vid=v; Path=/; Max-Age=34560000; HttpOnly; SameSite=Lax; Secure",
    );
  });
});

describe("cookieValue", () => {
  it("finds a cookie by exact name at a pair boundary", () => {
    expect(cookieValue("a=1; edgeshift_vid=X; b=2", VISITOR_COOKIE)).toBe("X");
    expect(cookieValue("edgeshift_vid=X", VISITOR_COOKIE)).toBe("X");
    expect(cookieValue("a=1;edgeshift_vid=X", VISITOR_COOKIE)).toBe("X");
    expect(cookieValue('edgeshift_vid="X"', VISITOR_COOKIE)).toBe("X");
    expect(cookieValue("xedgeshift_vid=Y; edgeshift_vid=X", VISITOR_COOKIE)).toBe("X");
    expect(cookieValue("edgeshift_vidx=Y", VISITOR_COOKIE)).toBeNull();
    expect(cookieValue("a=edgeshift_vid=Y", VISITOR_COOKIE)).toBeNull();
    expect(cookieValue(null, VISITOR_COOKIE)).toBeNull();
    expect(cookieValue("session=abc; other=1", "session")).toBe("abc");
  });
  it('reads a cookie from a second Cookie line the runtime joined with ", "', () => {
    expect(cookieValue("a=1, edgeshift_vid=X", VISITOR_COOKIE)).toBe("X");
    expect(cookieValue("edgeshift_vid=X, a=1", VISITOR_COOKIE)).toBe("X");
    expect(cookieValue("a=1; b=2, edgeshift_override=T; c=3", "edgeshift_override")).toBe("T");
  });
});

describe("stripOwnCookies", () => {
  it("returns the very same string when there is nothing of ours", () => {
    const h = "a=1; b=2";
    expect(stripOwnCookies(h)).toBe(h);
  });
  it("removes every edgeshift_ cookie and keeps the app's in order", () => {
    expect(stripOwnCookies("a=1; edgeshift_vid=X; b=2; edgeshift_override=T")).toBe("a=1; b=2");
    expect(stripOwnCookies("edgeshift_vid=X")).toBeNull();
  });
  it('removes ours from Cookie lines joined with ", " too, keeping the app\'s bytes', () => {
    expect(stripOwnCookies("a=1, edgeshift_override=T")).toBe("a=1");
    expect(stripOwnCookies("edgeshift_override=T, a=1")).toBe("a=1");
    expect(stripOwnCookies("a=1; edgeshift_vid=X, edgeshift_override=T; b=2")).toBe("a=1; b=2");
    expect(stripOwnCookies("a=1,edgeshift_override=T,b=2")).toBe("a=1,b=2");
    expect(stripOwnCookies("a=x,y; edgeshift_vid=X")).toBe("a=x,y");
    expect(stripOwnCookies("edgeshift_vid=X,\tedgeshift_override=T")).toBeNull();
  });
});
