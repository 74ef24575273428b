import { describe, expect, it } from "vitest";
import {
  MAX_LIFETIME_SECONDS,
  MAX_TOKEN_CHARS,
  mintOverride,
  parseTtl,
  verifyOverride,
} from "../../src/routing/override";

const SECRET = "test-override-secret";
const NOW = 1_800_000_000;

const b64url = (s: string | Uint8Array) =>
  Buffer.from(typeof s === "string" ? Buffer.from(s, "utf8") : s)
    .toString("base64")
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** Signs any body with the secret, the way a holder of the secret would: used to prove that claim checks stand on their own. */
async function signRaw(body: string, secret = SECRET, prefix = "v1"): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const b = b64url(body);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${prefix}.${b}`)));
  return `${prefix}.${b}.${b64url(mac)}`;
}

describe("mint and verify", () => {
  it("a minted token verifies to its claims until it expires", async () => {
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: 8 * 3600, sub: "alice" }, NOW);
    expect(t).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(await verifyOverride(t, SECRET, NOW)).toEqual({
      target: "canary",
      iat: NOW,
      exp: NOW + 8 * 3600,
      sub: "alice",
    });
    expect(await verifyOverride(t, SECRET, NOW + 8 * 3600 - 1)).not.toBeNull();
    expect(await verifyOverride(t, SECRET, NOW + 8 * 3600)).toBeNull();
  });

  it.each(["canary", "stable", "blue", "green"] as const)("target %s round-trips", async (target) => {
    const t = await mintOverride(SECRET, { target, exp: NOW + 60 }, NOW);
    expect((await verifyOverride(t, SECRET, NOW))?.target).toBe(target);
  });

  it("nbf: not valid before (60 s of clock skew allowed)", async () => {
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: 3600, nbf: NOW + 600 }, NOW);
    expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
    expect(await verifyOverride(t, SECRET, NOW + 539)).toBeNull();
    expect(await verifyOverride(t, SECRET, NOW + 540)).not.toBeNull();
  });

  it("a token minted in the future (iat beyond the skew) is not valid yet", async () => {
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: 3600 }, NOW + 3600);
    expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
    expect(await verifyOverride(t, SECRET, NOW + 3600 - 60)).not.toBeNull();
  });

  it("mint refuses what the Worker would refuse, naming the fix", async () => {
    await expect(mintOverride("short", { target: "canary", ttlSeconds: 60 }, NOW)).rejects.toThrow(
      /at least 16 characters.*openssl rand/,
    );
    await expect(mintOverride(SECRET, { target: "canary", ttlSeconds: MAX_LIFETIME_SECONDS + 1 }, NOW)).rejects.toThrow(
      /at most 30 days/,
    );
    await expect(mintOverride(SECRET, { target: "canary", ttlSeconds: 0 }, NOW)).rejects.toThrow(/already be expired/);
    await expect(mintOverride(SECRET, { target: "everyone" as never, ttlSeconds: 60 }, NOW)).rejects.toThrow(
      /target must be one of/,
    );
    await expect(mintOverride(SECRET, { target: "canary" }, NOW)).rejects.toThrow(/ttl/);
    await expect(
      mintOverride(SECRET, { target: "canary", ttlSeconds: 60, sub: "a\r\nx-evil: 1" }, NOW),
    ).rejects.toThrow(/sub/);
    // The longest allowed lifetime is accepted by both sides.
    const t = await mintOverride(SECRET, { target: "canary", ttlSeconds: MAX_LIFETIME_SECONDS }, NOW);
    expect(await verifyOverride(t, SECRET, NOW)).not.toBeNull();
  });

  it("works across many secrets (the key cache is bounded and keyed by secret)", async () => {
    const secrets = Array.from({ length: 10 }, (_, i) => `secret-number-${i}-padding`);
    const tokens = await Promise.all(secrets.map((s) => mintOverride(s, { target: "green", ttlSeconds: 60 }, NOW)));
    for (let i = 0; i < secrets.length; i++) {
      expect(await verifyOverride(tokens[i], secrets[i], NOW)).not.toBeNull();
      expect(await verifyOverride(tokens[i], secrets[(i + 1) % secrets.length], NOW)).toBeNull();
    }
  });
});

describe("forged and malformed tokens are ignored (null, never a throw)", () => {
  const good = () => mintOverride(SECRET, { target: "canary", ttlSeconds: 3600, sub: "alice" }, NOW);

  it("signed with another secret", async () => {
    const t = await mintOverride("some-other-secret-value", { target: "canary", ttlSeconds: 3600 }, NOW);
    expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
  });

  it("unsigned, empty or truncated signatures", async () => {
    const [v, body] = (await good()).split(".");
    for (const t of [
      `${v}.${body}`,
      `${v}.${body}.`,
      `${v}.${body}.AAAA`,
      `${v}.${body}.${"A".repeat(43)}`,
      `${v}.${body}.${"A".repeat(42)}`,
    ]) {
      expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
    }
  });

  it("claims edited after signing (target, exp, sub)", async () => {
    const [v, , mac] = (await good()).split(".");
    for (const claims of [
      { target: "green", iat: NOW, exp: NOW + 3600, sub: "alice" },
      { target: "canary", iat: NOW, exp: NOW + 99999, sub: "alice" },
      { target: "canary", iat: NOW, exp: NOW + 3600, sub: "mallory" },
      { target: "canary", iat: NOW, exp: NOW + 3600 },
    ]) {
      expect(await verifyOverride(`${v}.${b64url(JSON.stringify(claims))}.${mac}`, SECRET, NOW)).toBeNull();
    }
  });

  it("signature of one token on another token's claims", async () => {
    const a = (await good()).split(".");
    const b = (await mintOverride(SECRET, { target: "blue", ttlSeconds: 60 }, NOW)).split(".");
    expect(await verifyOverride(`v1.${b[1]}.${a[2]}`, SECRET, NOW)).toBeNull();
  });

  it("algorithm confusion: JWT shapes, alg none, other versions, the MAC of the body alone", async () => {
    const header = b64url(JSON.stringify({ alg: "none", typ: "JWT" }));
    const claims = b64url(JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 3600 }));
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const macOfBody = b64url(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(claims))));
    const hs256 = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const jwtMac = b64url(
      new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${hs256}.${claims}`))),
    );
    for (const t of [
      `${header}.${claims}.`,
      `${header}.${claims}`,
      `${hs256}.${claims}.${jwtMac}`, // a correctly signed HS256 JWT is still not our format
      `v1.${claims}.${macOfBody}`,
      `v0.${claims}.${macOfBody}`,
      `V1.${claims}.${macOfBody}`,
      await signRaw(JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 3600 }), SECRET, "v2"),
    ]) {
      expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
    }
  });

  it("non-canonical encodings of a valid token: padding, standard base64, whitespace, extra parts", async () => {
    const t = await good();
    const [v, body, mac] = t.split(".");
    const std = (s: string) => s.replace(/-/g, "+").replace(/_/g, "/");
    for (const f of [
      `${v}.${body}.${mac}=`,
      `${v}.${body}==.${mac}`,
      `${v}.${std(body)}.${std(mac)}`,
      `${t}.`,
      `${t}.x`,
      ` ${t}`,
      `${v}..${body}.${mac}`,
      `${v}.${body} .${mac}`,
    ]) {
      if (f === `${v}.${std(body)}.${std(mac)}` && std(body) === body && std(mac) === mac) continue;
      expect(await verifyOverride(f, SECRET, NOW)).toBeNull();
    }
    // A MAC whose last character carries non-zero padding bits decodes to the same bytes: still rejected.
    const last = mac[mac.length - 1];
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = alphabet[alphabet.indexOf(last) ^ 1];
    expect(await verifyOverride(`${v}.${body}.${mac.slice(0, -1)}${sibling}`, SECRET, NOW)).toBeNull();
  });

  it("oversized tokens are rejected before any crypto", async () => {
    const t = await signRaw(
      JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 3600, sub: "a" }) + " ".repeat(MAX_TOKEN_CHARS),
    );
    expect(t.length).toBeGreaterThan(MAX_TOKEN_CHARS);
    expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
    expect(await verifyOverride("v1." + "A".repeat(1_000_000) + ".AAAA", SECRET, NOW)).toBeNull();
  });

  it("garbage of every kind", async () => {
    for (const t of [
      "",
      ".",
      "..",
      "v1..",
      "v1.!!!.???",
      "v1.%00.%00",
      "null",
      "v1.e30.e30",
      "💥.💥.💥",
      "v1.\u0000.\u0000",
    ]) {
      expect(await verifyOverride(t, SECRET, NOW)).toBeNull();
    }
    expect(await verifyOverride(undefined as never, SECRET, NOW)).toBeNull();
    expect(await verifyOverride(await good(), "", NOW)).toBeNull();
    expect(await verifyOverride(await good(), undefined as never, NOW)).toBeNull();
  });

  // Correctly signed (as if by someone holding the secret, or a buggy minter): the claim checks still hold.
  it.each([
    ["not JSON", "{target:canary}"],
    ["a bare non-ASCII character", "\u00ff"],
    ["an array", JSON.stringify(["canary"])],
    ["a string", JSON.stringify("canary")],
    ["unknown target", JSON.stringify({ target: "everyone", iat: NOW, exp: NOW + 60 })],
    ["target in another case", JSON.stringify({ target: "Canary", iat: NOW, exp: NOW + 60 })],
    ["no exp", JSON.stringify({ target: "canary", iat: NOW })],
    ["no iat", JSON.stringify({ target: "canary", exp: NOW + 60 })],
    ["exp as a string", JSON.stringify({ target: "canary", iat: NOW, exp: String(NOW + 60) })],
    ["fractional exp", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 60.5 })],
    ["expired", JSON.stringify({ target: "canary", iat: NOW - 120, exp: NOW - 60 })],
    ["expiring now", JSON.stringify({ target: "canary", iat: NOW - 60, exp: NOW })],
    ["lifetime over 30 days", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + MAX_LIFETIME_SECONDS + 1 })],
    ["exp before iat", JSON.stringify({ target: "canary", iat: NOW + 10, exp: NOW + 5 })],
    ["unknown claim", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 60, role: "admin" })],
    ["alg claim", JSON.stringify({ alg: "none", target: "canary", iat: NOW, exp: NOW + 60 })],
    ["__proto__ claim", `{"target":"canary","iat":${NOW},"exp":${NOW + 60},"__proto__":{"x":1}}`],
    ["sub with a newline", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 60, sub: "a\nb" })],
    ["sub too long", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 60, sub: "a".repeat(65) })],
    ["sub not a string", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 60, sub: 7 })],
    ["nbf in the future", JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 3600, nbf: NOW + 600 })],
  ])("signed but %s", async (_what, body) => {
    expect(await verifyOverride(await signRaw(body), SECRET, NOW)).toBeNull();
  });

  it("a correctly signed hand-written token with valid claims is accepted (the checks above are not vacuous)", async () => {
    expect(
      await verifyOverride(await signRaw(JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 60 })), SECRET, NOW),
    ).toEqual({
      target: "canary",
      iat: NOW,
      exp: NOW + 60,
    });
  });
});

describe("the format is simple enough to mint without edgeshift (README recipe)", () => {
  it('node:crypto createHmac over "v1." + base64url(JSON) gives a token the Worker accepts', async () => {
    const { createHmac } = await import("node:crypto");
    const body = Buffer.from(
      JSON.stringify({ target: "canary", iat: NOW, exp: NOW + 8 * 3600, sub: "alice" }),
    ).toString("base64url");
    const mac = createHmac("sha256", SECRET)
      .update("v1." + body)
      .digest("base64url");
    expect(await verifyOverride(`v1.${body}.${mac}`, SECRET, NOW)).toEqual({
      target: "canary",
      iat: NOW,
      exp: NOW + 8 * 3600,
      sub: "alice",
    });
  });
});

it("parseTtl reads the CLI's durations", () => {
  expect(parseTtl("8h")).toBe(28800);
  expect(parseTtl("30m")).toBe(1800);
  expect(parseTtl("7d")).toBe(604800);
  expect(parseTtl("90")).toBe(90);
  expect(parseTtl("90s")).toBe(90);
  expect(parseTtl("8 hours")).toBeNull();
  expect(parseTtl("-1h")).toBeNull();
});
