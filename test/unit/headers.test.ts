import { describe, expect, it } from "vitest";
import {
  isWebSocketUpgrade,
  originBase,
  pathAndQuery,
  setCohortHeaders,
  upstreamHeaders,
} from "../../src/proxy/headers";

const cohort = { slot: "green", role: "canary", bucket: 42, release: "v2" };

describe("upstreamHeaders", () => {
  it("drops RFC 9110 §7.6.1 hop-by-hop fields; those named in Connection pass (the runtime hides Connection from the Worker)", () => {
    const h = upstreamHeaders(
      new Headers({
        connection: "keep-alive, X-Private",
        "x-private": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        "transfer-encoding": "chunked",
        upgrade: "h2c",
        "proxy-connection": "x",
        "proxy-authorization": "Basic x",
        accept: "text/html",
      }),
      "https://a.example/",
      cohort,
    );
    for (const n of [
      "connection",
      "keep-alive",
      "te",
      "transfer-encoding",
      "upgrade",
      "proxy-connection",
      "proxy-authorization",
    ])
      expect(h.has(n), n).toBe(false);
    expect(h.get("accept")).toBe("text/html");
    expect(h.get("x-private")).toBe("1");
  });

  it("keeps Upgrade and Connection for a WebSocket handshake", () => {
    const inc = new Headers({
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-key": "k",
      "sec-websocket-version": "13",
      "sec-websocket-protocol": "chat",
    });
    expect(isWebSocketUpgrade(inc)).toBe(true);
    const h = upstreamHeaders(inc, "http://a/", cohort);
    expect(h.get("upgrade")).toBe("websocket");
    expect(h.get("connection")).toBe("upgrade");
    // The runtime opens its own WebSocket to the origin: its key, not the client's; the app's subprotocol passes.
    expect(h.has("sec-websocket-key")).toBe(false);
    expect(h.get("sec-websocket-protocol")).toBe("chat");
  });

  it("removes every client-sent x-edgeshift-* field and sets the cohort", () => {
    const h = upstreamHeaders(
      new Headers({
        "x-edgeshift-slot": "green",
        "x-edgeshift-explain": "secret",
        "x-edgeshift-override": "t",
        "x-edgeshift-anything": "1",
      }),
      "http://a/",
      { ...cohort, slot: "blue", role: "stable", release: undefined },
    );
    expect(h.get("x-edgeshift-slot")).toBe("blue");
    expect(h.get("x-edgeshift-role")).toBe("stable");
    expect(h.get("x-edgeshift-bucket")).toBe("42");
    expect(h.has("x-edgeshift-release")).toBe(false);
    for (const n of ["x-edgeshift-explain", "x-edgeshift-override", "x-edgeshift-anything"])
      expect(h.has(n)).toBe(false);
    expect(upstreamHeaders(new Headers(), "http://a/", cohort).get("x-edgeshift-release")).toBe("v2");
  });

  it("strips our cookies and keeps the app's", () => {
    expect(
      upstreamHeaders(
        new Headers({ cookie: "sid=1; edgeshift_vid=abc; edgeshift_override=t" }),
        "http://a/",
        cohort,
      ).get("cookie"),
    ).toBe("sid=1");
    expect(upstreamHeaders(new Headers({ cookie: "edgeshift_vid=abc" }), "http://a/", cohort).has("cookie")).toBe(
      false,
    );
  });

  it("sets X-Forwarded-For/-Proto/-Host", () => {
    const h = upstreamHeaders(
      new Headers({ "cf-connecting-ip": "203.0.113.7", host: "shop.example" }),
      "https://shop.example/x",
      cohort,
    );
    expect(h.get("x-forwarded-for")).toBe("203.0.113.7");
    expect(h.get("x-forwarded-proto")).toBe("https");
    expect(h.get("x-forwarded-host")).toBe("shop.example");
    const chained = upstreamHeaders(
      new Headers({ "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.1" }),
      "http://b.example/",
      cohort,
    );
    expect(chained.get("x-forwarded-for")).toBe("198.51.100.1, 203.0.113.7");
    expect(chained.get("x-forwarded-proto")).toBe("http");
    expect(chained.get("x-forwarded-host")).toBe("b.example");
    // Cloudflare may already have put the client in X-Forwarded-For: not twice.
    expect(
      upstreamHeaders(
        new Headers({ "cf-connecting-ip": "203.0.113.7", "x-forwarded-for": "203.0.113.7" }),
        "http://b/",
        cohort,
      ).get("x-forwarded-for"),
    ).toBe("203.0.113.7");
  });

  it("a client naming headers in Connection cannot make edgeshift drop them, nor keep its real address out of X-Forwarded-For", () => {
    const h = upstreamHeaders(
      new Headers({
        connection: "cf-connecting-ip, x-forwarded-for",
        "cf-connecting-ip": "203.0.113.7",
        "x-forwarded-for": "1.2.3.4",
        host: "shop.example",
      }),
      "https://shop.example/",
      cohort,
    );
    expect(h.get("x-forwarded-for")).toBe("1.2.3.4, 203.0.113.7");
    expect(h.get("cf-connecting-ip")).toBe("203.0.113.7");
  });
});

describe("setCohortHeaders", () => {
  it("on failover re-labels slot and role and keeps the bucket and release already set", () => {
    const h = upstreamHeaders(new Headers(), "http://a/", cohort);
    setCohortHeaders(h, { slot: "blue", role: "stable" });
    expect(Object.fromEntries([...h].filter(([n]) => n.startsWith("x-edgeshift-")))).toEqual({
      "x-edgeshift-slot": "blue",
      "x-edgeshift-role": "stable",
      "x-edgeshift-bucket": "42",
      "x-edgeshift-release": "v2",
    });
  });
});

describe("pathAndQuery", () => {
  it("slices path and query exactly as received", () => {
    expect(pathAndQuery("https://a.example/a%2Fb?x=%20&y=1&y=2")).toBe("/a%2Fb?x=%20&y=1&y=2");
    expect(pathAndQuery("http://a.example:8080/")).toBe("/");
    expect(pathAndQuery("http://a.example")).toBe("/");
    expect(pathAndQuery("http://a.example?q=1")).toBe("/?q=1");
    expect(pathAndQuery("http://a.example/p?q=a+b%2B#frag")).toBe("/p?q=a+b%2B");
    expect(pathAndQuery("http://user:pw@evil.example/x//y?")).toBe("/x//y?");
  });
  it("joins with an origin base without doubling the slash", () => {
    expect(originBase("http://127.0.0.1:8101/") + pathAndQuery("http://x/y")).toBe("http://127.0.0.1:8101/y");
    expect(originBase("https://app.example/base") + pathAndQuery("http://x/y?z")).toBe("https://app.example/base/y?z");
  });
});
