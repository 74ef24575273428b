// Admin credentials in Node: parsing ADMIN_TOKEN / ADMIN_TOKENS, the compare over every token, the
// per-isolate brake. The admin API's answers (503, 401, 429, the actor) are tested in workerd:
// test/worker/admin-auth.test.ts.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  authenticate,
  clientKeyOf,
  siteKeyOf,
  FAILURES_ALLOWED_PER_48,
  FAILURES_ALLOWED,
  holderOf,
  parseCredentials,
  resetAuthFailures,
} from "../../src/worker/credentials";

const A = "a".repeat(32);
const B = "b".repeat(40);

describe("parseCredentials", () => {
  it("ADMIN_TOKEN's holder is admin; named tokens in either spelling", () => {
    expect(parseCredentials(A, undefined)).toEqual({ kind: "ok", list: [{ name: "admin", token: A }] });
    const listed = parseCredentials(undefined, `alice:${A}, ci:${B}`);
    const json = parseCredentials(undefined, JSON.stringify({ alice: A, ci: B }));
    for (const c of [listed, json])
      expect(c).toEqual({
        kind: "ok",
        list: [
          { name: "alice", token: A },
          { name: "ci", token: B },
        ],
      });
    expect(parseCredentials(A, `ci:${B}`)).toMatchObject({ kind: "ok", list: [{ name: "admin" }, { name: "ci" }] });
  });

  it("disabled with neither; refuses a short token naming the fix, never echoing a token", () => {
    expect(parseCredentials(undefined, undefined)).toMatchObject({ kind: "disabled" });
    expect(parseCredentials("", " ")).toMatchObject({ kind: "disabled" });
    const short = parseCredentials("test-admin-token", undefined);
    expect(short).toMatchObject({ kind: "misconfigured" });
    const m = (short as { message: string }).message;
    expect(m).toMatch(/ADMIN_TOKEN is 16 characters; it must be at least 32/);
    // Each Worker has its own secrets: the fix names the control Worker (admin API) and the edge (explain).
    expect(m).toContain("`openssl rand -hex 32`");
    expect(m).toContain("`wrangler secret put ADMIN_TOKEN -c wrangler.control.toml` (the admin API)");
    expect(m).toContain("`wrangler secret put ADMIN_TOKEN` (the edge's explain header)");
    expect(m).not.toMatch(/test-admin-token/);
  });

  it.each([
    [`alice:short`, /token of "alice" is 5 characters/],
    [`alice ${A}`, /entry 1 is not name:token/],
    [`:${A}`, /entry 1 is not name:token/],
    [`al ice:${A}`, /name "al ice" must be/],
    [`admin:${A}`, /"admin" is reserved/],
    [`controller:${A}`, /"controller" is reserved/],
    [`alice:${A},alice:${B}`, /"alice" is used twice/],
    [`alice:${A},bob:${A}`, /token of "bob" is also another's/],
    [`{"alice":`, /not valid JSON/],
    [`{"alice":1}`, /token of "alice" must be a string/],
  ])("ADMIN_TOKENS %s → misconfigured", (text, message) => {
    const c = parseCredentials(undefined, text);
    expect(c.kind).toBe("misconfigured");
    expect((c as { message: string }).message).toMatch(message);
    expect((c as { message: string }).message).not.toContain(A);
  });
});

describe("holderOf", () => {
  const list = [
    { name: "alice", token: A },
    { name: "ci", token: B },
  ];
  it("names the token that matched, whichever it is; null for anything else", async () => {
    expect(await holderOf(A, list)).toBe("alice");
    expect(await holderOf(B, list)).toBe("ci");
    for (const wrong of ["", A.slice(1), A + "a", B.toUpperCase(), "alice"])
      expect(await holderOf(wrong, list)).toBeNull();
  });
});

describe("clientKeyOf", () => {
  it("an IPv4 address as is, an IPv6 one by its /64", () => {
    expect(clientKeyOf("198.51.100.7")).toBe("198.51.100.7");
    expect(clientKeyOf("2001:db8:1:2:aaaa::1")).toBe(clientKeyOf("2001:db8:1:2:bbbb::9"));
    expect(clientKeyOf("2001:db8:1:2::1")).not.toBe(clientKeyOf("2001:db8:1:3::1"));
    expect(clientKeyOf(null)).toBe("unknown");
  });
});

describe("siteKeyOf", () => {
  it("an IPv6 address by its /48; none for IPv4 or a non-address", () => {
    expect(siteKeyOf("2001:db8:1:2::1")).toBe(siteKeyOf("2001:db8:1:ffff::9"));
    expect(siteKeyOf("2001:db8:1::1")).not.toBe(siteKeyOf("2001:db8:2::1"));
    expect(siteKeyOf("2001:db8:1::1")).not.toBe(clientKeyOf("2001:db8:1::1"));
    expect(siteKeyOf("198.51.100.7")).toBeNull();
    expect(siteKeyOf("::ffff:198.51.100.7")).toBeNull();
    expect(siteKeyOf(null)).toBeNull();
  });
});

describe("authenticate (this isolate's brake, no binding)", () => {
  afterEach(() => {
    resetAuthFailures();
    vi.useRealTimers();
  });

  it(`after ${FAILURES_ALLOWED} wrong tokens from one address it refuses without comparing, until the window ends`, async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const env = { ADMIN_TOKEN: A };
    for (let i = 0; i < FAILURES_ALLOWED; i++)
      expect(await authenticate("guess" + i, env, "203.0.113.9", "admin")).toEqual({ kind: "refused" });
    // The right token too: nothing is compared for a throttled address.
    expect(await authenticate(A, env, "203.0.113.9", "admin")).toEqual({ kind: "throttled", retryAfterS: 60 });
    expect(await authenticate(A, env, "203.0.113.10", "admin")).toEqual({ kind: "ok", actor: "admin" });
    vi.setSystemTime(1_000_000 + 60_000);
    expect(await authenticate(A, env, "203.0.113.9", "admin")).toEqual({ kind: "ok", actor: "admin" });
  });

  it("admin and explain failures are counted apart: neither locks the other out", async () => {
    // Until issue 9's review one counter served both: a stale explain token behind the operator's
    // NAT got the operator 429s from the admin API.
    vi.useFakeTimers({ now: 1_000_000 });
    const env = { ADMIN_TOKEN: A };
    for (let i = 0; i < FAILURES_ALLOWED + 3; i++) await authenticate("stale" + i, env, "203.0.113.20", "explain");
    expect((await authenticate(A, env, "203.0.113.20", "explain")).kind).toBe("throttled");
    expect(await authenticate(A, env, "203.0.113.20", "admin")).toEqual({ kind: "ok", actor: "admin" });
    for (let i = 0; i < FAILURES_ALLOWED; i++) await authenticate("typo" + i, env, "203.0.113.21", "admin");
    expect((await authenticate(A, env, "203.0.113.21", "admin")).kind).toBe("throttled");
    expect(await authenticate(A, env, "203.0.113.21", "explain")).toEqual({ kind: "ok", actor: "admin" });
  });

  it(`an IPv6 /48 is throttled after ${FAILURES_ALLOWED_PER_48} failures however many /64s it spreads them over`, async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const env = { ADMIN_TOKEN: A };
    // Each guess from a fresh /64 of 2001:db8:7::/48: no /64 ever reaches its own limit.
    for (let i = 0; i < FAILURES_ALLOWED_PER_48; i++)
      expect(await authenticate("g" + i, env, `2001:db8:7:${i.toString(16)}::1`, "admin")).toEqual({ kind: "refused" });
    expect(await authenticate(A, env, "2001:db8:7:ffff::1", "admin")).toEqual({ kind: "throttled", retryAfterS: 60 });
    // Another /48, and the other purpose, are unaffected; the window's end lets the /48 in again.
    expect(await authenticate(A, env, "2001:db8:8::1", "admin")).toEqual({ kind: "ok", actor: "admin" });
    expect(await authenticate(A, env, "2001:db8:7:ffff::1", "explain")).toEqual({ kind: "ok", actor: "admin" });
    vi.setSystemTime(1_000_000 + 60_000);
    expect(await authenticate(A, env, "2001:db8:7:ffff::1", "admin")).toEqual({ kind: "ok", actor: "admin" });
  });

  it("a misconfiguration is reported before anything is compared or counted", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      for (let i = 0; i < FAILURES_ALLOWED + 2; i++)
        expect((await authenticate("x", { ADMIN_TOKEN: "short" }, "203.0.113.11", "admin")).kind).toBe("misconfigured");
    } finally {
      errors.mockRestore();
    }
  });
});
