import { describe, expect, it } from "vitest";
import { parseRollout } from "../../src/model/parse";
import { rolloutSchema, type RolloutInput } from "../../src/model/rollout";
import { CidrSet, parseCidr, parseIp } from "../../src/lib/cidr";
import { compileTargeting, locationAllowed, matchRule, type RequestFacts } from "../../src/routing/targeting";

const facts = (
  f: Partial<Omit<RequestFacts, "headers">> & { headers?: Record<string, string> } = {},
): RequestFacts => ({
  headers: new Headers(f.headers ?? {}),
  ip: f.ip ?? null,
  country: f.country ?? null,
  colo: f.colo ?? null,
});
const compile = (doc: RolloutInput) => compileTargeting(rolloutSchema.parse(doc));
const inSet = (ranges: string[], ip: string) => new CidrSet(ranges).has(parseIp(ip));

describe("IP parsing", () => {
  it.each([
    ["0.0.0.0", 0],
    ["255.255.255.255", 0xffffffff],
    ["203.0.113.7", ((203 << 24) >>> 0) + (113 << 8) + 7],
  ])("IPv4 %s", (s, n) => expect(parseIp(s)).toEqual({ v: 4, n }));

  it.each(["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.-4", "", " 1.2.3.4", "1.2.3.4/32", "a.b.c.d"])(
    "rejects IPv4 %j",
    (s) => expect(parseIp(s)).toBeNull(),
  );

  it.each([
    ["::", [0, 0, 0, 0]],
    ["::1", [0, 0, 0, 1]],
    ["2001:db8::", [0x20010db8, 0, 0, 0]],
    ["2001:DB8:0:0:0:0:0:ff", [0x20010db8, 0, 0, 0xff]],
    ["fe80::1:2", [0xfe800000, 0, 0, 0x10002]],
    ["64:ff9b::1.2.3.4", [0x0064ff9b, 0, 0, 0x01020304]],
  ])("IPv6 %s", (s, w) => expect(parseIp(s)).toEqual({ v: 6, w }));

  it.each([
    "1::2::3",
    ":::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "1::2:",
    ":1::2",
    "fe80::1%eth0",
    "::ffff:1.2.3.256",
    "g::1",
  ])("rejects IPv6 %j", (s) => expect(parseIp(s)).toBeNull());

  it("round-trips random addresses in full, compressed and dotted-tail spellings", () => {
    let x = 12345;
    const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xffff;
    for (let k = 0; k < 2000; k++) {
      const g = Array.from({ length: 8 }, () => (rnd() % 3 === 0 ? 0 : rnd()));
      if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) continue; // mapped: read as IPv4
      const w = [0, 1, 2, 3].map((i) => ((g[2 * i] << 16) | g[2 * i + 1]) >>> 0);
      const full = g.map((n) => n.toString(16)).join(":");
      expect(parseIp(full)).toEqual({ v: 6, w });
      // Node's URL parser compresses the longest run of zeros the RFC 5952 way.
      const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
      expect(parseIp(compressed), compressed).toEqual({ v: 6, w });
      const dotted =
        g
          .slice(0, 6)
          .map((n) => n.toString(16))
          .join(":") + `:${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
      expect(parseIp(dotted), dotted).toEqual({ v: 6, w });
    }
  });

  it("reads an IPv4-mapped IPv6 client address as IPv4", () => {
    expect(parseIp("::ffff:10.1.2.3")).toEqual({ v: 4, n: (10 << 24) + (1 << 16) + (2 << 8) + 3 });
    expect(parseIp("::ffff:a01:203")).toEqual(parseIp("10.1.2.3"));
  });
});

describe("CIDR matching", () => {
  it("IPv4 ranges and their edges", () => {
    expect(inSet(["10.0.0.0/8"], "10.0.0.0")).toBe(true);
    expect(inSet(["10.0.0.0/8"], "10.255.255.255")).toBe(true);
    expect(inSet(["10.0.0.0/8"], "11.0.0.0")).toBe(false);
    expect(inSet(["10.0.0.0/8"], "9.255.255.255")).toBe(false);
    expect(inSet(["192.168.1.0/31"], "192.168.1.1")).toBe(true);
    expect(inSet(["192.168.1.0/31"], "192.168.1.2")).toBe(false);
  });

  it("/0 matches every address of its family only", () => {
    expect(inSet(["0.0.0.0/0"], "255.255.255.255")).toBe(true);
    expect(inSet(["0.0.0.0/0"], "0.0.0.0")).toBe(true);
    expect(inSet(["0.0.0.0/0"], "2001:db8::1")).toBe(false);
    expect(inSet(["::/0"], "2001:db8::1")).toBe(true);
    expect(inSet(["::/0"], "1.2.3.4")).toBe(false);
  });

  it("/32 and a bare IPv4 address match exactly one address", () => {
    expect(inSet(["203.0.113.7/32"], "203.0.113.7")).toBe(true);
    expect(inSet(["203.0.113.7/32"], "203.0.113.8")).toBe(false);
    expect(inSet(["203.0.113.7"], "203.0.113.7")).toBe(true);
    expect(inSet(["203.0.113.7"], "203.0.113.6")).toBe(false);
  });

  it("/128 and a bare IPv6 address match exactly one address", () => {
    expect(inSet(["2001:db8::1/128"], "2001:db8::1")).toBe(true);
    expect(inSet(["2001:db8::1/128"], "2001:db8::2")).toBe(false);
    expect(inSet(["2001:db8::1"], "2001:0db8:0000::0001")).toBe(true);
  });

  it("IPv6 prefixes that cut inside a 32-bit word", () => {
    expect(inSet(["2001:db8::/32"], "2001:db8:ffff::1")).toBe(true);
    expect(inSet(["2001:db8::/32"], "2001:db9::1")).toBe(false);
    expect(inSet(["2001:db8:8000::/33"], "2001:db8:8000::")).toBe(true);
    expect(inSet(["2001:db8:8000::/33"], "2001:db8:7fff:ffff::")).toBe(false);
    expect(inSet(["fe80::/10"], "febf::1")).toBe(true);
    expect(inSet(["fe80::/10"], "fec0::1")).toBe(false);
    expect(inSet(["::1/127"], "::")).toBe(true);
    expect(inSet(["::1/127"], "::2")).toBe(false);
  });

  it("IPv4-mapped: a mapped client matches an IPv4 range, a mapped range matches an IPv4 client", () => {
    expect(inSet(["10.0.0.0/8"], "::ffff:10.9.9.9")).toBe(true);
    expect(inSet(["10.0.0.0/8"], "::ffff:11.9.9.9")).toBe(false);
    expect(inSet(["::ffff:10.0.0.0/104"], "10.200.0.1")).toBe(true);
    expect(inSet(["::ffff:10.0.0.0/104"], "11.0.0.1")).toBe(false);
    expect(inSet(["::ffff:0:0/96"], "8.8.8.8")).toBe(true);
  });

  it("host bits in a range are masked off", () => {
    expect(parseCidr("10.1.2.3/8")).toEqual({ ok: true, range: { v: 4, net: 10 << 24, mask: 0xff000000, bits: 8 } });
    expect(inSet(["10.1.2.3/8"], "10.200.0.1")).toBe(true);
    expect(inSet(["2001:db8::1/32"], "2001:db8:1::")).toBe(true);
  });

  it("a missing or unparseable client IP matches nothing", () => {
    expect(new CidrSet(["0.0.0.0/0", "::/0"]).has(parseIp(null))).toBe(false);
    expect(new CidrSet(["0.0.0.0/0", "::/0"]).has(parseIp("not-an-ip"))).toBe(false);
  });

  it.each([
    ["10.0.0.0/33", "at most /32"],
    ["2001:db8::/129", "at most /128"],
    ["999.0.0.0/8", "not an IPv4 address"],
    ["10.0.0.0/", "prefix length"],
    ["10.0.0.0/08", "prefix length"],
    ["2001:db8:::/32", "not an IPv6 address"],
  ])("rejects %j with a message that shows the fix", (s, what) => {
    const p = parseCidr(s);
    expect(p.ok).toBe(false);
    if (!p.ok) {
      expect(p.message).toContain(what);
      expect(p.message).toContain("203.0.113.0/24");
    }
  });
});

describe("the document rejects what could never match, naming field, value and fix", () => {
  it.each([
    ["10.0.0.0/33", "an IPv4 prefix is at most /32"],
    ["999.0.0.0/8", "not an IPv4 address"],
    ["2001:db8::/129", "an IPv6 prefix is at most /128"],
    ["office", "not an IPv4 address"],
  ])("cidr %j", (value, what) => {
    const r = parseRollout(JSON.stringify({ rules: [{ cidr: ["10.0.0.0/8", value] }] }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0].path).toBe("rules.0.cidr.1");
      expect(r.problems[0].message).toContain(what);
      expect(r.problems[0].message).toContain("such as 203.0.113.0/24");
      expect(r.problems[0].message).toContain(JSON.stringify(value));
    }
  });

  it("accepts addresses, ranges, IPv6 and IPv4-mapped ranges", () => {
    expect(
      parseRollout(
        JSON.stringify({
          rules: [{ cidr: ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32", "::1", "::ffff:10.0.0.0/104"] }],
        }),
      ).ok,
    ).toBe(true);
  });
});

describe("rules", () => {
  it("header rule: name case-insensitive, value exact", () => {
    const t = compile({ rules: [{ name: "staff", header: { name: "X-Employee", values: ["yes"] } }] });
    expect(matchRule(t, facts({ headers: { "x-employee": "yes" } }))).toEqual({
      index: 0,
      name: "staff",
      role: "canary",
    });
    expect(matchRule(t, facts({ headers: { "X-EMPLOYEE": "yes" } }))).not.toBeNull();
    expect(matchRule(t, facts({ headers: { "x-employee": "Yes" } }))).toBeNull();
    expect(matchRule(t, facts({ headers: { "x-employee": "yes, yes" } }))).toBeNull();
    expect(matchRule(t, facts({ headers: { "x-employee": "yess" } }))).toBeNull();
    expect(matchRule(t, facts())).toBeNull();
  });

  it("all conditions of one rule must match (AND), any value of one condition (OR)", () => {
    const t = compile({
      rules: [
        {
          country: ["nz", "AU"],
          colo: ["akl"],
          cidr: ["203.0.113.0/24"],
          header: { name: "x-beta", values: ["1", "true"] },
        },
      ],
    });
    const all = { country: "NZ", colo: "AKL", ip: "203.0.113.9", headers: { "x-beta": "true" } };
    expect(matchRule(t, facts(all))?.index).toBe(0);
    expect(matchRule(t, facts({ ...all, country: "AU" }))?.index).toBe(0);
    expect(matchRule(t, facts({ ...all, country: "US" }))).toBeNull();
    expect(matchRule(t, facts({ ...all, colo: "SYD" }))).toBeNull();
    expect(matchRule(t, facts({ ...all, ip: "198.51.100.1" }))).toBeNull();
    expect(matchRule(t, facts({ ...all, headers: {} }))).toBeNull();
    expect(matchRule(t, facts({ ...all, country: null }))).toBeNull();
  });

  it("first matching rule wins, in document order, and a rule may pin to stable", () => {
    const t = compile({
      rules: [
        { name: "blocked-office", slot: "stable", cidr: ["10.0.0.0/8"] },
        { name: "nz", country: ["NZ"] },
        { country: ["NZ", "AU"], slot: "stable" },
      ],
    });
    expect(matchRule(t, facts({ country: "NZ", ip: "10.1.1.1" }))).toEqual({
      index: 0,
      name: "blocked-office",
      role: "stable",
    });
    expect(matchRule(t, facts({ country: "NZ", ip: "8.8.8.8" }))).toEqual({ index: 1, name: "nz", role: "canary" });
    expect(matchRule(t, facts({ country: "AU" }))).toEqual({ index: 2, name: "#2", role: "stable" });
    expect(matchRule(t, facts({ country: "US" }))).toBeNull();
  });

  it("country and colo are compared case-insensitively", () => {
    const t = compile({ rules: [{ colo: ["lhr"] }] });
    expect(matchRule(t, facts({ colo: "LHR" }))).not.toBeNull();
    expect(matchRule(t, facts({ colo: "lhr" }))).not.toBeNull();
  });

  it("no rules: nothing matches", () => {
    expect(matchRule(compile({}), facts({ country: "NZ", headers: { "x-employee": "yes" } }))).toBeNull();
  });
});

describe("per-location staging", () => {
  it("unset: every location allowed, even without cf facts", () => {
    expect(locationAllowed(compile({}), facts())).toBe(true);
  });

  it("colos or countries: inside either list is allowed, outside and unknown are not", () => {
    const t = compile({ locations: { colos: ["akl"], countries: ["au"] } });
    expect(locationAllowed(t, facts({ colo: "AKL", country: "NZ" }))).toBe(true);
    expect(locationAllowed(t, facts({ colo: "SYD", country: "AU" }))).toBe(true);
    expect(locationAllowed(t, facts({ colo: "LHR", country: "GB" }))).toBe(false);
    expect(locationAllowed(t, facts())).toBe(false);
  });

  it("set with empty lists: no location is allowed (fail-safe)", () => {
    expect(locationAllowed(compile({ locations: {} }), facts({ colo: "AKL", country: "NZ" }))).toBe(false);
    expect(locationAllowed(compile({ locations: { colos: [] } }), facts({ colo: "AKL" }))).toBe(false);
  });
});
