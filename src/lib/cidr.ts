// IP addresses and CIDR ranges, IPv4 and IPv6, parsed once per document version into numbers so
// matching a request is a few integer comparisons. Pure (no Workers imports): shared by the
// Worker, the schema's error messages and the CLI.
//
// Decisions:
// | input                                   | result                                                    |
// |-----------------------------------------|-----------------------------------------------------------|
// | "203.0.113.7" (no prefix)               | that one address (/32, or /128 for IPv6)                  |
// | "10.1.2.3/8" (host bits set)            | accepted and masked to 10.0.0.0/8, as routers do          |
// | "::ffff:10.0.0.0/104" (IPv4-mapped)     | the IPv4 range 10.0.0.0/8                                 |
// | client IP "::ffff:10.1.2.3"             | matched as the IPv4 address 10.1.2.3                      |
// | leading zeros "010.0.0.1", zone "%eth0" | rejected: ambiguous (octal in some tools) / meaningless   |
// | anything unparseable                    | rejected with a message that shows a valid example        |

import { hexValue } from "./hex";

/** An address family and its value: IPv4 as one uint32, IPv6 as four uint32 words (big-endian). */
export type IpAddress = { v: 4; n: number } | { v: 6; w: [number, number, number, number] };

/** A range: the network address (host bits cleared) and the prefix length. */
export type CidrRange =
  { v: 4; net: number; mask: number; bits: number } | { v: 6; net: [number, number, number, number]; bits: number };

// Hand-written scanners, not split/regex: the client address is parsed on every request that
// reaches a CIDR rule (scripts/bench-targeting.ts: ~10× faster for IPv6 than the split version).
export function parseIpv4(s: string): number | null {
  const len = s.length;
  if (len < 7 || len > 15) return null;
  let n = 0,
    part = 0,
    digits = 0,
    parts = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? s.charCodeAt(i) : 46;
    if (c === 46 /* . */) {
      if (digits === 0 || ++parts > 4) return null;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // Leading zeros are rejected: some tools read "010" as octal 8.
      if (digits > 0 && part === 0) return null;
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return null;
    } else return null;
  }
  return parts === 4 ? n >>> 0 : null;
}

/** Eight 16-bit groups with at most one "::", optionally ending in dotted IPv4 (RFC 4291 §2.2). */
export function parseIpv6(s: string): [number, number, number, number] | null {
  const len = s.length;
  if (len < 2 || len > 45) return null;
  const g: number[] = [];
  let dbl = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58 /* : */) {
    if (s.charCodeAt(1) !== 58) return null;
    dbl = 0;
    i = 2;
  }
  while (i < len) {
    const start = i;
    let v = 0,
      n = 0;
    for (; i < len; i++) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      if (++n > 4) return null;
      v = v * 16 + h;
    }
    if (i < len && s.charCodeAt(i) === 46 /* . */) {
      const v4 = parseIpv4(s.slice(start));
      if (v4 === null) return null;
      g.push(v4 >>> 16, v4 & 0xffff);
      break;
    }
    if (n === 0) return null;
    g.push(v);
    if (i === len) break;
    if (s.charCodeAt(i) !== 58) return null;
    i++;
    if (i < len && s.charCodeAt(i) === 58) {
      if (dbl >= 0) return null;
      dbl = g.length;
      i++;
    } else if (i === len) return null;
  }
  if (dbl < 0 ? g.length !== 8 : g.length > 7) return null;
  if (dbl >= 0) g.splice(dbl, 0, ...new Array<number>(8 - g.length).fill(0));
  return [
    ((g[0] << 16) | g[1]) >>> 0,
    ((g[2] << 16) | g[3]) >>> 0,
    ((g[4] << 16) | g[5]) >>> 0,
    ((g[6] << 16) | g[7]) >>> 0,
  ];
}

/** An IPv6 address in ::ffff:0:0/96 carries an IPv4 address (RFC 4291 §2.5.5.2). */
function mappedV4(w: [number, number, number, number]): number | null {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff ? w[3] : null;
}

/** The client address as a number; IPv4-mapped IPv6 becomes IPv4. Null when it is not an IP. */
export function parseIp(s: string | null): IpAddress | null {
  if (s === null || s.length > 45) return null;
  if (s.indexOf(":") < 0) {
    const n = parseIpv4(s);
    return n === null ? null : { v: 4, n };
  }
  const w = parseIpv6(s);
  if (w === null) return null;
  const m = mappedV4(w);
  return m === null ? { v: 6, w } : { v: 4, n: m };
}

const V4_MASK = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** A parsed range, or a message that says what is wrong and shows the fix (the caller names the value). */
export function parseCidr(text: string): { ok: true; range: CidrRange } | { ok: false; message: string } {
  const s = text.trim();
  const slash = s.indexOf("/");
  const addr = slash < 0 ? s : s.slice(0, slash);
  const prefix = slash < 0 ? null : s.slice(slash + 1);
  const example =
    "use an address such as 203.0.113.7 or 2001:db8::1, or a range such as 203.0.113.0/24 or 2001:db8::/32";
  if (prefix !== null && !/^(0|[1-9][0-9]{0,2})$/.test(prefix)) {
    return {
      ok: false,
      message: `the prefix length after "/" must be a whole number (0–32 for IPv4, 0–128 for IPv6); ${example}`,
    };
  }
  if (addr.indexOf(":") < 0) {
    const n = parseIpv4(addr);
    if (n === null)
      return { ok: false, message: `not an IPv4 address (four numbers 0–255 without leading zeros); ${example}` };
    const bits = prefix === null ? 32 : Number(prefix);
    if (bits > 32) return { ok: false, message: `an IPv4 prefix is at most /32; ${example}` };
    const mask = V4_MASK(bits);
    return { ok: true, range: { v: 4, net: (n & mask) >>> 0, mask, bits } };
  }
  const w = parseIpv6(addr);
  if (w === null)
    return { ok: false, message: `not an IPv6 address (hex groups separated by ":", at most one "::"); ${example}` };
  const bits = prefix === null ? 128 : Number(prefix);
  if (bits > 128) return { ok: false, message: `an IPv6 prefix is at most /128; ${example}` };
  // A range inside ::ffff:0:0/96 is an IPv4 range written the IPv6 way; client IPs are mapped the same way.
  const m = mappedV4(w);
  if (m !== null && bits >= 96) {
    const b4 = bits - 96;
    const mask = V4_MASK(b4);
    return { ok: true, range: { v: 4, net: (m & mask) >>> 0, mask, bits: b4 } };
  }
  const net = w.map((word, i) => {
    const left = bits - 32 * i;
    return left >= 32 ? word : left <= 0 ? 0 : (word & V4_MASK(left)) >>> 0;
  }) as [number, number, number, number];
  return { ok: true, range: { v: 6, net, bits } };
}

export function inRange(ip: IpAddress, r: CidrRange): boolean {
  if (ip.v === 4) return r.v === 4 && (ip.n & r.mask) >>> 0 === r.net;
  if (r.v !== 6) return false;
  for (let i = 0; i < 4; i++) {
    const left = r.bits - 32 * i;
    if (left <= 0) return true;
    const word = left >= 32 ? ip.w[i] : (ip.w[i] & V4_MASK(left)) >>> 0;
    if (word !== r.net[i]) return false;
  }
  return true;
}

/** A set of ranges compiled once; `has` is a linear scan (rules hold a handful of ranges). */
export class CidrSet {
  private readonly v4: { net: number; mask: number }[] = [];
  private readonly v6: CidrRange[] = [];
  /** Entries that did not parse (the schema rejects them; kept for a defensive compile). */
  readonly invalid: string[] = [];

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const p = parseCidr(e);
      if (!p.ok) this.invalid.push(e);
      else if (p.range.v === 4) this.v4.push({ net: p.range.net, mask: p.range.mask });
      else this.v6.push(p.range);
    }
  }

  has(ip: IpAddress | null): boolean {
    if (ip === null) return false;
    if (ip.v === 4) {
      for (const r of this.v4) if ((ip.n & r.mask) >>> 0 === r.net) return true;
      return false;
    }
    for (const r of this.v6) if (inRange(ip, r)) return true;
    return false;
  }
}
