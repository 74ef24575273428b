// The visitor cookie `edgeshift_vid`: a random visitor id (never the slot), so percent changes and
// rollbacks apply to returning visitors at once. Pure apart from crypto.getRandomValues, which runs
// only when new visitors are minted (once per 256 of them: `pooledRandom`).
//
// Value: 22 base64url characters (128 random bits) "." 8 hex digits of murmur3(id, CHECK_SEED).
//
// Threat model (what the check segment is, and is not):
// - It lets garbled, truncated or hand-edited values be recognised cheaply (one murmur3, no
//   WebCrypto on the hot path) and treated as a new visitor. It is keyed with a public constant, so
//   it is NOT a signature: anyone who reads this file can make a well-formed id.
// - That is fine because no value a client controls selects a slot. The id only feeds the hash,
//   so a client that chooses its own id gains exactly what clearing its cookies gives it: another
//   draw from the same distribution. Clearing cookies always re-rolls; sticky assignment holds only
//   while the browser keeps the cookie (use `stickyBy: "header:<name>"` for logged-in users).
// - The sanctioned way to pick a slot is the signed override token (src/routing/override.ts).
// - A rolled-back canary is never reached whatever the id (decide.ts checks `rolledBack` first).
//
// Fail-safe: missing, garbled, oversized or forged-and-invalid → new visitor, new cookie, no error.
import { murmur3 } from "../lib/hash";
import { hexValue } from "../lib/hex";

export const VISITOR_COOKIE = "edgeshift_vid";
/** 400 days: the longest lifetime browsers honour (RFC 6265bis §5.5, "Max-Age" cap). */
export const VISITOR_MAX_AGE = 34_560_000;
/** Every cookie whose name starts with this is edgeshift's own and never reaches the origin. */
export const OWN_COOKIE_PREFIX = "edgeshift_";

const ID_LEN = 22;
const VALUE_LEN = ID_LEN + 1 + 8;
const CHECK_SEED = 0x6564_6765; // "edge"
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const ATTRS = `; Path=/; Max-Age=${VISITOR_MAX_AGE}; HttpOnly; SameSite=Lax`;
const ATTRS_SECURE = ATTRS + "; Secure";

/** The visitor id in a cookie value, or null if the value is not one we issued (any reason). */
export function visitorIdOf(value: string | null): string | null {
  if (value === null || value.length !== VALUE_LEN || value.charCodeAt(ID_LEN) !== 46 /* . */) return null;
  for (let i = 0; i < ID_LEN; i++) if (!isB64url(value.charCodeAt(i))) return null;
  let check = 0;
  for (let i = ID_LEN + 1; i < VALUE_LEN; i++) {
    // Lowercase only: the value we mint is lowercase, and one cookie should have one spelling.
    const c = value.charCodeAt(i);
    const d = c >= 65 && c <= 70 ? -1 : hexValue(c);
    if (d < 0) return null;
    check = check * 16 + d;
  }
  const id = value.slice(0, ID_LEN);
  return murmur3(id, CHECK_SEED) === check ? id : null;
}

/**
 * Random bytes for ids, drawn from the runtime's CSPRNG POOL_BYTES at a time: one runtime call per
 * 256 new visitors instead of one each. Each byte is handed out once and then zeroed. Filled on
 * first use, not at load: Workers allow no random numbers in the global scope. Measured (bench-proxy,
 * BENCH_PIN=1, interleaved, two runs each): new visitors' CPU per request 1.198–1.231× the bare
 * Worker with the pool, 1.254–1.282× without; returning visitors, which it does not touch,
 * 1.165–1.189× and 1.170–1.237× (the noise): a few percent at most.
 */
const POOL_BYTES = 4096;
let pool: Uint8Array | null = null;
let poolAt = POOL_BYTES;

export function pooledRandom(a: Uint8Array): Uint8Array {
  if (a.length > POOL_BYTES) return crypto.getRandomValues(a);
  if (pool === null || poolAt + a.length > POOL_BYTES) {
    pool = crypto.getRandomValues(pool ?? new Uint8Array(POOL_BYTES));
    poolAt = 0;
  }
  const end = poolAt + a.length;
  a.set(pool.subarray(poolAt, end));
  pool.fill(0, poolAt, end);
  poolAt = end;
  return a;
}

/** A fresh cookie value (id + check). `random` is injectable for tests. */
export function mintVisitor(random: (a: Uint8Array) => Uint8Array = pooledRandom): {
  id: string;
  value: string;
} {
  const bytes = random(new Uint8Array(16));
  let id = "";
  // 16 bytes = 128 bits; 22 six-bit characters carry 132, the last two bits are zero.
  for (let i = 0, bits = 0, acc = 0; id.length < ID_LEN;) {
    if (bits < 6) {
      acc = (acc << 8) | (i < 16 ? bytes[i] : 0);
      i++;
      bits += 8;
    }
    bits -= 6;
    id += B64URL[(acc >>> bits) & 63];
    acc &= (1 << bits) - 1;
  }
  return { id, value: id + "." + murmur3(id, CHECK_SEED).toString(16).padStart(8, "0") };
}

/** The Set-Cookie header value for a new visitor. `Secure` only when the request came over https. */
export function visitorSetCookie(value: string, https: boolean): string {
  return VISITOR_COOKIE + "=" + value + (https ? ATTRS_SECURE : ATTRS);
}

/**
 * Where one cookie pair ends and the next begins: ";" (RFC 6265 §4.2: pairs joined by "; ") and
 * also ",": a client that sends two Cookie lines gets them joined by the Workers runtime with ", "
 * (RFC 9110 §5.3), and RFC 6265's cookie-octet excludes "," so no well-formed value contains one.
 * Reading and stripping use the same boundaries: what is read as ours is what is stripped.
 */
function isPairBoundary(c: number): boolean {
  return c === 59 /* ; */ || c === 44; /* , */
}

/**
 * The value of cookie `name` in a Cookie header (pairs split at ";" or ","), or null. Scans in
 * place: no split, no allocation beyond the returned value.
 */
export function cookieValue(header: string | null, name: string): string | null {
  if (header === null) return null;
  for (let from = 0; ;) {
    const i = header.indexOf(name, from);
    if (i < 0) return null;
    const eq = i + name.length;
    let j = i - 1;
    while (j >= 0 && (header.charCodeAt(j) === 32 || header.charCodeAt(j) === 9)) j--;
    if ((j < 0 || isPairBoundary(header.charCodeAt(j))) && header.charCodeAt(eq) === 61) {
      let end = eq + 1;
      while (end < header.length && !isPairBoundary(header.charCodeAt(end))) end++;
      while (end > eq + 1 && header.charCodeAt(end - 1) === 32) end--;
      let start = eq + 1;
      // RFC 6265 allows a DQUOTE-wrapped value.
      if (end - start >= 2 && header.charCodeAt(start) === 34 && header.charCodeAt(end - 1) === 34) (start++, end--);
      return header.slice(start, end);
    }
    from = i + 1;
  }
}

/**
 * The Cookie header to send to the origin: every edgeshift cookie removed, wherever it sits (pairs
 * split at ";" or ","). The app's pairs keep their bytes and separators. Returns the same string
 * (no allocation) when there are none of ours, null when nothing is left.
 */
export function stripOwnCookies(header: string): string | null {
  if (header.indexOf(OWN_COOKIE_PREFIX) < 0) return header;
  let out = "";
  // Each piece runs from just after a boundary to the next one; a kept piece keeps the boundary
  // that preceded it (except the first kept one), so "a=1,2" stays "a=1,2".
  for (let start = 0, sep = -1; start <= header.length;) {
    let end = start;
    while (end < header.length && !isPairBoundary(header.charCodeAt(end))) end++;
    const piece = header.slice(start, end);
    const p = piece.trim();
    if (p !== "" && !p.startsWith(OWN_COOKIE_PREFIX))
      out = out === "" ? p : out + (sep === 44 ? "," : ";") + (piece.charCodeAt(0) === 32 ? piece.trimEnd() : p);
    sep = header.charCodeAt(end);
    start = end + 1;
  }
  return out === "" ? null : out;
}

function isB64url(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}
