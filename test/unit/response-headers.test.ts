import { describe, expect, it } from "vitest";
import { fixOriginHeaders, originHeadersNeedFix, publicPathOf } from "../../src/proxy/response-headers";

const bases = { blue: "http://10.0.0.5:8101", green: "https://green.internal/app" };

describe("publicPathOf", () => {
  it("maps a URL at either origin base to its path, query and fragment", () => {
    expect(publicPathOf("http://10.0.0.5:8101/a?b=1#c", bases)).toBe("/a?b=1#c");
    expect(publicPathOf("http://10.0.0.5:8101", bases)).toBe("/");
    expect(publicPathOf("http://10.0.0.5:8101?x", bases)).toBe("/?x");
    expect(publicPathOf("HTTP://10.0.0.5:8101/A", bases)).toBe("/A");
    expect(publicPathOf("//10.0.0.5:8101/s", bases)).toBe("/s");
    // A base with a path: the upstream URL is base + path, so the public path is what follows it.
    expect(publicPathOf("https://green.internal/app/x", bases)).toBe("/x");
  });
  it("leaves every other URL alone", () => {
    for (const u of [
      "/rel",
      "http://10.0.0.5:81010/a",
      "http://10.0.0.50:8101/",
      "https://green.internal/apple",
      "https://other/",
    ])
      expect(publicPathOf(u, bases), u).toBeNull();
    expect(publicPathOf("/x", { blue: "", green: "" })).toBeNull();
  });
});

describe("fixOriginHeaders", () => {
  it("drops x-edgeshift-* and our Set-Cookies, rewrites Location, keeps the rest", () => {
    const h = new Headers([
      ["x-edgeshift-role", "canary"],
      ["x-app", "1"],
      ["set-cookie", "a=1"],
      ["set-cookie", " edgeshift_vid=x"],
      ["set-cookie", "EDGESHIFT_other=y"],
      ["location", "http://10.0.0.5:8101/next"],
    ]);
    expect(originHeadersNeedFix(h, bases)).toBe(true);
    fixOriginHeaders(h, bases, "https://app.example/start?q");
    expect([...h]).toEqual([
      ["location", "https://app.example/next"],
      ["set-cookie", "a=1"],
      ["set-cookie", "EDGESHIFT_other=y"],
      ["x-app", "1"],
    ]);
    expect(originHeadersNeedFix(h, bases)).toBe(false);
  });
  it("says nothing needs fixing for an ordinary response", () => {
    const h = new Headers({ "content-type": "text/html", location: "/x", "set-cookie": "s=1" });
    expect(originHeadersNeedFix(h, bases)).toBe(false);
  });
});
