// Who a request's outcome is attributed to (docs/verdict.md): a visitor and a network, each a
// 32-bit number. Pure; on the hot path, so one murmur3 over the sticky key and a hand-written IP
// scan (src/lib/cidr.ts), no crypto and no allocation beyond the parser's.
//
// | input                              | visitor / network                                        |
// |------------------------------------|----------------------------------------------------------|
// | sticky key (cookie id, header, ip) | murmur3(key, VISITOR_SEED)                               |
// | CF-Connecting-IP IPv4              | its /24                                                  |
// | CF-Connecting-IP IPv6              | its /48 (a site's allocation; a /64 is one household)    |
// | absent or not an address           | network 0 ("unknown": all such clients are one network,  |
// |                                    | so they can never make up a quorum of networks alone)    |
// Not secret and need not be: a client choosing its sticky key only chooses which visitor it is,
// which dropping a cookie gives it anyway; what bounds it is its network (src/health/ledger.ts).
import { fmix32 as fmix, murmur3 } from "../lib/hash";
import { parseIpv4, parseIpv6 } from "../lib/cidr";

/** Distinct from the bucketing seed, so a visitor's id says nothing about its bucket. */
const VISITOR_SEED = 0x76697369; // "visi"
export const UNKNOWN_NETWORK = 0;

export function visitorOf(stickyKey: string): number {
  return murmur3(stickyKey, VISITOR_SEED);
}

export function networkOf(ip: string | null): number {
  if (ip === null || ip === "") return UNKNOWN_NETWORK;
  if (ip.indexOf(":") < 0) {
    const n = parseIpv4(ip);
    return n === null ? UNKNOWN_NETWORK : nonZero(fmix(n >>> 8));
  }
  const w = parseIpv6(ip);
  // 0x6 marks the family so that an IPv6 /48 never shares a number with an IPv4 /24 by construction.
  return w === null ? UNKNOWN_NETWORK : nonZero(fmix(w[0] ^ fmix((w[1] >>> 16) ^ 0x60000)));
}

function nonZero(h: number): number {
  return h === UNKNOWN_NETWORK ? 1 : h;
}
