// Tester override tokens: force a slot, and/or flag variations, for whoever holds one. Unforgeable (HMAC-SHA-256 with the
// OVERRIDE_SECRET Worker secret), short-lived, carried in a header or a cookie. WebCrypto only, so
// the same code mints tokens in Node 20 (the CLI) and verifies them in the Worker.
//
// Format:  v1.<base64url(JSON claims)>.<base64url(HMAC-SHA-256(secret, "v1." + base64url(JSON)))>
// Claims:  {"target"?:"canary"|"stable"|"blue"|"green","flags"?:{"<flag>":"<variation>"},"iat":<unix s>,
//           "exp":<unix s>,"nbf"?:<unix s>,"sub"?:"alice"}  (target, flags or both)
// There is no algorithm field to confuse: the version prefix fixes the algorithm.
//
// A token is ignored (verifyOverride → null, never a throw, the request is routed as if it had
// none) when any of these holds:
// | shape                                              | why it cannot force a slot                  |
// |----------------------------------------------------|---------------------------------------------|
// | OVERRIDE_SECRET unset or shorter than 16 chars     | overrides are off (the caller checks unset)  |
// | longer than MAX_TOKEN_CHARS                        | cheap rejection before any crypto            |
// | not three "."-separated parts, prefix not "v1"     | JWTs, "alg":"none", other versions           |
// | parts not strict base64url, MAC not 32 bytes       | truncated / padded / re-encoded tokens       |
// | MAC does not verify (crypto.subtle.verify, which   | unsigned, edited, other secret              |
// | compares in constant time)                         |                                             |
// | claims not a JSON object with exactly known fields | smuggled fields                             |
// | target not one of the four; neither target nor     |                                             |
// | flags; flags not ≤ MAX_FLAG_OVERRIDES names        |                                             |
// | now ≥ exp                                          | expired                                     |
// | now < nbf − 60 s, or iat > now + 60 s              | not yet valid (60 s of clock skew allowed)  |
// | exp − iat > MAX_LIFETIME_SECONDS (30 days)         | a leaked secret's tokens cannot live forever|
// | sub not 1–64 printable ASCII characters            | it is echoed in explain headers and logs    |
// The signature is checked before the claims are parsed, so unauthenticated JSON is never parsed.

import { fromBase64, toBase64 } from "../lib/base64";

export const OVERRIDE_HEADER = "x-edgeshift-override";
export const OVERRIDE_COOKIE = "edgeshift_override";

export type OverrideTarget = "canary" | "stable" | "blue" | "green";
export interface OverrideClaims {
  /** The slot forced; absent in a token that only sets flags. */
  target?: OverrideTarget;
  /** Flag key → variation served to the holder (src/flags/evaluate.ts); a name the flag lacks is ignored. */
  flags?: Record<string, string>;
  /** Unix seconds. */
  exp: number;
  /** Who it was minted for (shown in explain headers and logs). */
  sub?: string;
  /** Unix seconds the token was minted. */
  iat?: number;
  /** Unix seconds before which the token is not valid yet. */
  nbf?: number;
}

export const TOKEN_VERSION = "v1";
/** Longest token accepted: a maximal valid token (8 flags with 64-character names) is about 1,700 characters. */
export const MAX_TOKEN_CHARS = 2048;
/** Flags one token may set: a tester's handful, not a second flags document. */
export const MAX_FLAG_OVERRIDES = 8;
const FLAG_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Longest lifetime a token may have (exp − iat): 30 days. */
export const MAX_LIFETIME_SECONDS = 30 * 86400;
/** Tolerated clock difference between the minting machine and the edge. */
export const CLOCK_SKEW_SECONDS = 60;
export const MIN_SECRET_CHARS = 16;
const TARGETS: readonly string[] = ["canary", "stable", "blue", "green"];
const CLAIM_KEYS = new Set(["target", "flags", "exp", "iat", "nbf", "sub"]);
const SUB_RE = /^[\x20-\x7e]{1,64}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;

// One imported key per secret per isolate: importKey is the costly step, and a secret changes
// only on `wrangler secret put` (which starts new isolates anyway). Bounded for the CLI's sake.
/** WebCrypto's key type, named from the API itself so this module type-checks under Node's types too. */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keys = new Map<string, Promise<HmacKey>>();
function hmacKey(secret: string): Promise<HmacKey> {
  let k = keys.get(secret);
  if (!k) {
    if (keys.size >= 4) keys.clear();
    k = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, k);
    // A failed import must not be cached forever.
    k.catch(() => keys.delete(secret));
  }
  return k;
}

/** The claims of a valid, unexpired token; null for anything else (never throws). */
export async function verifyOverride(
  token: string,
  secret: string,
  nowSeconds: number,
): Promise<OverrideClaims | null> {
  try {
    if (typeof token !== "string" || typeof secret !== "string" || secret.length < MIN_SECRET_CHARS) return null;
    if (token.length > MAX_TOKEN_CHARS) return null;
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== TOKEN_VERSION) return null;
    const [, body, mac] = parts;
    if (!B64URL_RE.test(body) || !B64URL_RE.test(mac)) return null;
    const macBytes = fromBase64url(mac);
    if (macBytes === null || macBytes.length !== 32) return null;
    const key = await hmacKey(secret);
    const ok = await crypto.subtle.verify("HMAC", key, macBytes, new TextEncoder().encode(`${TOKEN_VERSION}.${body}`));
    if (!ok) return null;
    const json = fromBase64url(body);
    if (json === null) return null;
    return checkClaims(
      JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(json)),
      nowSeconds,
    );
  } catch {
    return null;
  }
}

function checkClaims(c: unknown, now: number): OverrideClaims | null {
  if (typeof c !== "object" || c === null || Array.isArray(c)) return null;
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!CLAIM_KEYS.has(k)) return null;
  const { target, flags, exp, iat, nbf, sub } = o;
  if (target !== undefined && (typeof target !== "string" || !TARGETS.includes(target))) return null;
  if (flags !== undefined && flagsProblem(flags) !== null) return null;
  if (target === undefined && flags === undefined) return null;
  if (!Number.isSafeInteger(exp) || !Number.isSafeInteger(iat)) return null;
  if (nbf !== undefined && !Number.isSafeInteger(nbf)) return null;
  if (sub !== undefined && (typeof sub !== "string" || !SUB_RE.test(sub))) return null;
  const e = exp as number,
    i = iat as number;
  if (now >= e) return null;
  if (i > now + CLOCK_SKEW_SECONDS) return null;
  if (nbf !== undefined && now < (nbf as number) - CLOCK_SKEW_SECONDS) return null;
  if (e <= i || e - i > MAX_LIFETIME_SECONDS) return null;
  const out: OverrideClaims = { exp: e, iat: i };
  if (target !== undefined) out.target = target as OverrideTarget;
  if (flags !== undefined) out.flags = { ...(flags as Record<string, string>) };
  if (nbf !== undefined) out.nbf = nbf as number;
  if (sub !== undefined) out.sub = sub as string;
  return out;
}

/** Why `flags` cannot be a token's flags claim, or null. */
function flagsProblem(flags: unknown): string | null {
  if (typeof flags !== "object" || flags === null || Array.isArray(flags))
    return 'flags must be an object of flag → variation, e.g. {"new-checkout": "on"}';
  const entries = Object.entries(flags);
  if (entries.length === 0 || entries.length > MAX_FLAG_OVERRIDES)
    return `a token sets 1–${MAX_FLAG_OVERRIDES} flags (got ${entries.length})`;
  for (const [k, v] of entries)
    if (!FLAG_NAME_RE.test(k) || typeof v !== "string" || !FLAG_NAME_RE.test(v))
      return `flag ${JSON.stringify(k)} → ${JSON.stringify(v)}: flag and variation names are 1–64 letters, digits, ".", "_" or "-"`;
  return null;
}

export interface MintRequest {
  target?: OverrideTarget;
  flags?: Record<string, string>;
  /** Lifetime in seconds (≤ 30 days). Give this or `exp`. */
  ttlSeconds?: number;
  /** Expiry, unix seconds. */
  exp?: number;
  sub?: string;
  nbf?: number;
}

/**
 * A signed token (for the CLI's `edgeshift token` and tests). Throws an Error naming the field,
 * the value and the fix when the request cannot produce a token the Worker would accept.
 */
export async function mintOverride(
  secret: string,
  claims: MintRequest,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<string> {
  if (typeof secret !== "string" || secret.length < MIN_SECRET_CHARS) {
    throw new Error(
      `OVERRIDE_SECRET must be at least ${MIN_SECRET_CHARS} characters (got ${secret ? secret.length : 0}); generate one with \`openssl rand -base64 32\` and give the same value to both Workers: \`wrangler secret put OVERRIDE_SECRET\` and \`wrangler secret put OVERRIDE_SECRET -c wrangler.control.toml\``,
    );
  }
  if (claims.target === undefined && claims.flags === undefined)
    throw new Error("a token needs a target (canary, stable, blue, green), flags (--flag key=variation), or both");
  if (claims.target !== undefined && !TARGETS.includes(claims.target))
    throw new Error(`target must be one of ${TARGETS.join(", ")} (got ${JSON.stringify(claims.target)})`);
  const flagProblem = claims.flags === undefined ? null : flagsProblem(claims.flags);
  if (flagProblem !== null) throw new Error(flagProblem);
  const iat = Math.floor(nowSeconds);
  const exp = claims.exp ?? (claims.ttlSeconds !== undefined ? iat + Math.floor(claims.ttlSeconds) : NaN);
  if (!Number.isSafeInteger(exp)) throw new Error("give a lifetime (ttl, e.g. 8h) or an expiry (exp, unix seconds)");
  if (exp <= iat)
    throw new Error(`the token would already be expired (exp ${exp} ≤ now ${iat}); give a positive ttl such as 8h`);
  if (exp - iat > MAX_LIFETIME_SECONDS) {
    throw new Error(
      `a token may live at most 30 days (${MAX_LIFETIME_SECONDS} s); got ${exp - iat} s — mint a shorter one (e.g. --ttl 7d)`,
    );
  }
  if (claims.sub !== undefined && !SUB_RE.test(claims.sub))
    throw new Error(`sub must be 1–64 printable ASCII characters (got ${JSON.stringify(claims.sub)})`);
  if (claims.nbf !== undefined && !Number.isSafeInteger(claims.nbf))
    throw new Error(`nbf must be unix seconds (got ${claims.nbf})`);
  const payload: OverrideClaims = { iat, exp };
  if (claims.target !== undefined) payload.target = claims.target;
  if (claims.flags !== undefined) payload.flags = claims.flags;
  if (claims.nbf !== undefined) payload.nbf = claims.nbf;
  if (claims.sub !== undefined) payload.sub = claims.sub;
  const body = toBase64url(new TextEncoder().encode(JSON.stringify(payload)));
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    new TextEncoder().encode(`${TOKEN_VERSION}.${body}`),
  );
  return `${TOKEN_VERSION}.${body}.${toBase64url(new Uint8Array(mac))}`;
}

/** "8h", "30m", "7d", "90s" or a bare number of seconds → seconds; null when unreadable. */
export function parseTtl(text: string): number | null {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) return null;
  const mult = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  return Number(m[1]) * mult;
}

function toBase64url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict: only canonical unpadded base64url (the caller checked the alphabet). */
function fromBase64url(s: string): Uint8Array | null {
  if (s.length % 4 === 1) return null;
  const out = fromBase64(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  // Reject non-canonical encodings (trailing bits set): one token, one spelling.
  if (toBase64url(out) !== s) return null;
  return out;
}
