// Edge hygiene against the real origins: what of edgeshift's own reaches the origin from the
// client, and what of the origin's reaches the client in edgeshift's name.
import { beforeEach, describe, expect, inject, it } from "vitest";
import { echo, get, setCookies, useRollout } from "./helpers";

beforeEach(async () => {
  await useRollout({ percent: 0 });
});

describe("edgeshift's cookies never reach the origin", () => {
  it('however the Cookie lines are joined: "; " by fetch\'s Headers, ", " by the HTTP layer', async () => {
    // Two Cookie lines over the wire reach the Worker as one value joined with ", " (seen under
    // `wrangler dev`); built here as that value, since SELF.fetch skips the HTTP layer.
    const { j } = await echo("/two-cookie-lines", {
      headers: { cookie: "session=abc, edgeshift_override=v1.forged.sig; theme=dark, edgeshift_vid=X" },
    });
    expect(j.headers.cookie).toBe("session=abc; theme=dark");
    // Headers built with two entries join a Cookie with "; " in workerd.
    const two = await echo("/two-cookie-entries", {
      headers: [
        ["cookie", "session=abc; edgeshift_vid=X"],
        ["cookie", "edgeshift_override=v1.forged.sig; theme=dark"],
      ],
    });
    expect(two.j.headers.cookie).toBe("session=abc; theme=dark");
    const only = await echo("/only-ours", {
      headers: [
        ["cookie", "edgeshift_vid=X"],
        ["cookie", "edgeshift_override=T"],
      ],
    });
    expect(only.j.headers.cookie).toBeUndefined();
  });
});

describe("the origin cannot speak in edgeshift's name", () => {
  const respond = (...h: string[]) => "/respond?" + h.map((x) => "h=" + encodeURIComponent(x)).join("&");

  it("drops x-edgeshift-* response headers and Set-Cookie for edgeshift_* cookies; keeps the app's and ours", async () => {
    const r = await get(
      respond(
        "x-edgeshift-explain: slot=green; role=canary; reason=override",
        "x-edgeshift-error: spoofed",
        "x-app: kept",
        "set-cookie: edgeshift_vid=AAAAAAAAAAAAAAAAAAAAAA.00000000; Path=/",
        "set-cookie: edgeshift_override=v1.planted.sig; Path=/",
        "set-cookie: session=abc; Path=/; HttpOnly",
      ),
      { headers: { "x-edgeshift-explain": "test-admin-token-0123456789abcdef" } },
    );
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeshift-error")).toBeNull();
    expect(r.headers.get("x-app")).toBe("kept");
    // Ours, added after the origin's were dropped: the real explanation and a fresh visitor cookie.
    expect(r.headers.get("x-edgeshift-explain")).toMatch(/^slot=blue; role=stable; reason=bucket;/);
    const cookies = setCookies(r);
    expect(cookies).toContain("session=abc; Path=/; HttpOnly");
    expect(cookies.filter((c) => c.startsWith("edgeshift_override="))).toEqual([]);
    expect(cookies.filter((c) => c.startsWith("edgeshift_vid="))).toHaveLength(1);
    expect(cookies.find((c) => c.startsWith("edgeshift_vid="))).not.toMatch(/^edgeshift_vid=A{22}\./);
    expect(await r.text()).toBe("blue responded\n");
  });

  it("drops them also when edgeshift has nothing of its own to add (returning visitor, no explain)", async () => {
    const first = await get("/");
    const vid = setCookies(first)
      .find((c) => c.startsWith("edgeshift_vid="))!
      .split(";")[0];
    await first.arrayBuffer();
    const r = await get(respond("x-edgeshift-slot: green", "set-cookie: edgeshift_vid=planted; Path=/"), {
      headers: { cookie: vid },
    });
    expect(r.headers.get("x-edgeshift-slot")).toBeNull();
    expect(setCookies(r)).toEqual([]);
    await r.arrayBuffer();
  });
});

describe("the origins' own addresses stay internal", () => {
  it("rewrites a Location / Content-Location at BLUE_ORIGIN or GREEN_ORIGIN to the URL the client used", async () => {
    const blue = inject("blueUrl");
    const green = inject("greenUrl");
    const loc = (path: string, init: RequestInit = {}, base?: string) =>
      get(path, { redirect: "manual", ...init }, base).then(async (r) => {
        await r.arrayBuffer();
        return r;
      });
    const q = (location: string, extra = "") =>
      `/respond?status=302&h=${encodeURIComponent("location: " + location)}${extra}`;

    let r = await loc(q(`${blue}/landed?x=1&y=%2F#top`));
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe("https://app.example/landed?x=1&y=%2F#top");
    r = await loc(q(`${green}/other`), {}, "http://plain.example:8080");
    expect(r.headers.get("location")).toBe("http://plain.example:8080/other");
    r = await loc(q(blue.replace("http:", "") + "?only=query"));
    expect(r.headers.get("location")).toBe("https://app.example/?only=query");
    r = await loc(q(blue.toUpperCase()));
    expect(r.headers.get("location")).toBe("https://app.example/");
    r = await loc(
      q(`${blue}/x`, "&h=" + encodeURIComponent(`content-location: ${blue}/doc.json`)).replace(
        "status=302",
        "status=200",
      ),
    );
    expect(r.headers.get("content-location")).toBe("https://app.example/doc.json");
    // Anything else is the app's: relative paths, other hosts, a longer port that merely starts alike.
    for (const other of ["/landed", "https://elsewhere.example/x", `${blue}0/x`]) {
      r = await loc(q(other));
      expect(r.headers.get("location")).toBe(other);
    }
  });
});

describe("what the runtime does to a request before edgeshift sees it", () => {
  it("headers a client names in Connection reach the origin: edgeshift cannot be told to drop one", async () => {
    // Behind the runtime's HTTP layer the Worker never sees Connection (under `wrangler dev` a raw
    // `Connection: close, x-hop` arrives as `x-hop: 1` alone); SELF.fetch shows it, and edgeshift
    // must act the same either way. Naming its own headers must not strip them either.
    const { j } = await echo("/connection-named", {
      headers: {
        connection: "x-hop, x-forwarded-for, cf-connecting-ip, x-forwarded-host",
        "x-hop": "1",
        "cf-connecting-ip": "203.0.113.50",
      },
    });
    expect(j.headers["x-hop"]).toBe("1");
    expect(j.headers.connection).toBeUndefined();
    expect(j.headers["x-forwarded-for"]).toBe("203.0.113.50");
    expect(j.headers["x-forwarded-host"]).toBe("app.example");
    expect(j.headers["x-edgeshift-slot"]).toBe("blue");
  });

  it("the path reaches the origin as the URL standard parses it: dot segments resolved, nothing else", async () => {
    // The runtime parses the request target with the WHATWG URL parser before the Worker runs;
    // `wrangler dev` with raw request lines gave the origin exactly these paths too.
    const cases: [string, string][] = [
      ["/a/%2e%2e/b", "/b"],
      ["/a/%2E%2E/b", "/b"],
      ["/a/.%2e/b", "/b"],
      ["/a/../b", "/b"],
      ["/a/./b", "/a/b"],
      ["/a/%2e/b", "/a/b"],
      ["/a/b/%2e%2e", "/a/"],
      ["/a/%2f/../b", "/a/b"],
      ["/a\\b", "/a/b"],
      ["/a//b", "/a//b"],
      ["/a%2Fb", "/a%2Fb"],
      ["/a/%2e%2e%2fb", "/a/%2e%2e%2fb"],
      ["/a b", "/a%20b"],
      ["/%7e/caf%C3%A9", "/%7e/caf%C3%A9"],
      ["/a/b?x=/../y&z=%2e%2e", "/a/b?x=/../y&z=%2e%2e"],
    ];
    const got: [string, string][] = [];
    for (const [sent] of cases) got.push([sent, (await echo(sent)).j.url]);
    expect(got).toEqual(cases);
  });
});
