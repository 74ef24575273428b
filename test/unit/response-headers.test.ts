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
  it("compares host and port, not text: the other scheme, a default port, case, a trailing dot, userinfo", () => {
    // Each of these leaked the internal address before issue 9's review (exact text compare).
    const tls = { blue: "https://blue.internal", green: "http://10.0.0.5:8101" };
    for (const [u, want] of [
      ["http://blue.internal/login?next=1", "/login?next=1"], // a TLS-terminating origin
      ["https://blue.internal:443/a", "/a"],
      ["http://blue.internal:80/a", "/a"],
      ["HTTPS://BLUE.Internal/a", "/a"],
      ["https://blue.internal./a", "/a"],
      ["https://blue.internal.:443", "/"],
      ["//BLUE.internal./s#f", "/s#f"],
      ["https://user:pw@blue.internal/a", "/a"],
      ["https://10.0.0.5:8101/x", "/x"],
      ["http://10.0.0.5.:8101?q", "/?q"],
    ])
      expect(publicPathOf(u, tls), u).toBe(want);
    expect(publicPathOf("https://[2001:db8::1]:443/v6", { blue: "http://[2001:DB8::1]", green: "" })).toBe("/v6");
    for (const u of [
      "https://blue.internal:8443/a", // another port is another service
      "http://10.0.0.5/x",
      "http://10.0.0.5:81010/x",
      "https://blue.internal.evil/a",
      "https://blue.internal@evil.example/a",
      "ftp://blue.internal/a",
      "https://blue.internal:x/a",
      "https://[2001:db8::2]/a",
    ])
      expect(publicPathOf(u, tls), u).toBeNull();
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
