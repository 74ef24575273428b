// Who may use the admin API and the explain header, and who they are: the configured tokens, the
// check of a client's token against them, and the brake on guessing. The admin API's middleware
// (src/admin/auth.ts) and the explain header (src/proxy/explain.ts) both go through
// `authenticate`, so both fail closed the same way.
//
// Tokens: ADMIN_TOKEN (its holder is the actor "admin") and/or ADMIN_TOKENS, named tokens as
// `alice:<token>,ci:<token>` or as JSON `{"alice":"<token>","ci":"<token>"}`. The name of the
// token that matched is the actor recorded with an operator's action; nothing a client writes in a
// body can change it.
//
// | situation                                             | authenticate() says                              |
// |-------------------------------------------------------|--------------------------------------------------|
// | neither secret set                                    | disabled (admin API 503; explain ignored)        |
// | a token shorter than MIN_TOKEN_CHARS, a malformed     | misconfigured, naming the entry and the fix, and  |
// | ADMIN_TOKENS, a reserved/duplicate name or token      | logged once per isolate (admin 503; explain off) |
// | the client's address failed FAILURES_ALLOWED times    | throttled: no compare at all (admin: 429 +       |
// | within FAILURE_WINDOW_S (or its IPv6 /48              | Retry-After; explain: served without the answer) |
// | FAILURES_ALLOWED_PER_48 times), for this purpose      |                                                  |
// | the token matches none (compared with every one,      | refused; the failure is counted                  |
// | each in constant time)                                |                                                  |
// | it matches one                                        | ok, with that token's name as the actor          |
//
// Counting failures: per purpose, admin API and explain header apart (a colleague behind the same
// NAT with a stale explain token must not lock the operator out of the admin API, nor an admin
// script's typo cost anyone their explain answers), and per client address (an IPv6 address by its
// /64, what one client controls), in the Rate Limiting binding AUTH_LIMITER when it is bound
// (wrangler.toml; counted per Cloudflare location, shared by the isolates there, approximate by
// design) and always in this isolate's own bounded FailureLimiter (the fallback when the binding is
// absent, and what refuses without a call once an isolate knows). IPv6 also counts per /48 in this
// isolate (FAILURES_ALLOWED_PER_48): a /48 holds 65,536 /64s, which would otherwise be 65,536 × 10
// guesses a minute and a flood of fresh keys that evicts other addresses' counts from the bounded
// map. A client spreading guesses over many networks is not stopped by this: what stops guessing is
// a token of 32+ random characters (`openssl rand -hex 32`).
import { sameSecret } from "../lib/secret";
import { FailureLimiter } from "../lib/failure-limiter";
import { parseIp } from "../lib/cidr";
import { EXPLAIN_HEADER } from "../proxy/explain";

export const MIN_TOKEN_CHARS = 32;
export const FAILURES_ALLOWED = 10;
/** Seconds; the Rate Limiting binding accepts 10 or 60 (wrangler.toml `simple.period`). */
export const FAILURE_WINDOW_S = 60;
/** An IPv6 /48's allowance in the same window: ten clients' worth, e.g. a site's several /64s. */
export const FAILURES_ALLOWED_PER_48 = 100;
/** What a token is checked for: each has its own failure counts. */
export type AuthPurpose = "admin" | "explain" | "flags";
/** The actor of ADMIN_TOKEN's holder. */
export const ADMIN_ACTOR = "admin";
/** Actors the controller writes for itself: a token named so would blur the audit trail. */
const RESERVED = new Set([ADMIN_ACTOR, "controller", "operator"]);
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
// Both Workers read these (the control's admin API, the edge's explain header: wrangler.toml), and a
// secret is per Worker, so each fix names the two commands; .dev.vars sits beside both configs.
const FIX =
  "make one with `openssl rand -hex 32` and give it to both Workers: `wrangler secret put ADMIN_TOKEN -c wrangler.control.toml` " +
  "(the admin API) and `wrangler secret put ADMIN_TOKEN` (the edge's explain header)";
const TOKENS_FIX =
  "; fix it with `wrangler secret put ADMIN_TOKENS -c wrangler.control.toml` (the admin API) and the same with " +
  "`wrangler secret put ADMIN_TOKENS` (the edge's explain header); locally: ADMIN_TOKENS=… in .dev.vars";

export interface Credential {
  name: string;
  token: string;
}
export type Credentials =
  | { kind: "ok"; list: Credential[] }
  | { kind: "disabled"; message: string }
  | { kind: "misconfigured"; message: string };

/** The Rate Limiting binding's shape (Workers' `RateLimit`), spelled out so Node can type-check this file. */
export interface RateLimitBinding {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export interface CredentialEnv {
  ADMIN_TOKEN?: string;
  ADMIN_TOKENS?: string;
  AUTH_LIMITER?: RateLimitBinding;
}

export type AuthResult =
  | { kind: "ok"; actor: string }
  | { kind: "disabled" | "misconfigured"; message: string }
  | { kind: "refused" }
  | { kind: "throttled"; retryAfterS: number };

/** The configured tokens, or why there are none usable. Pure. */
export function parseCredentials(adminToken: string | undefined, adminTokens: string | undefined): Credentials {
  const list: Credential[] = [];
  if (adminToken) {
    if (adminToken.length < MIN_TOKEN_CHARS)
      return misconfigured(
        `ADMIN_TOKEN is ${adminToken.length} characters; it must be at least ${MIN_TOKEN_CHARS}. Set a longer one: ${FIX} (locally: ADMIN_TOKEN=… in .dev.vars)`,
      );
    list.push({ name: ADMIN_ACTOR, token: adminToken });
  }
  if (adminTokens && adminTokens.trim() !== "") {
    const named = parseNamed(adminTokens.trim());
    if (typeof named === "string") return misconfigured(named + TOKENS_FIX);
    for (const c of named) {
      if (!NAME.test(c.name))
        return misconfigured(
          `ADMIN_TOKENS: the name ${JSON.stringify(c.name.slice(0, 70))} must be 1–64 letters, digits or . _ @ -, e.g. alice:<token>` +
            TOKENS_FIX,
        );
      if (RESERVED.has(c.name) || list.some((o) => o.name === c.name))
        return misconfigured(
          `ADMIN_TOKENS: the name "${c.name}" is ${RESERVED.has(c.name) ? "reserved" : "used twice"}; give each token its own name (ADMIN_TOKEN's holder is "admin")` +
            TOKENS_FIX,
        );
      if (c.token.length < MIN_TOKEN_CHARS)
        return misconfigured(
          `ADMIN_TOKENS: the token of "${c.name}" is ${c.token.length} characters; it must be at least ${MIN_TOKEN_CHARS} (make one with \`openssl rand -hex 32\`)` +
            TOKENS_FIX,
        );
      if (list.some((o) => o.token === c.token))
        return misconfigured(
          `ADMIN_TOKENS: the token of "${c.name}" is also another's; each name needs its own token` + TOKENS_FIX,
        );
      list.push(c);
    }
  }
  if (list.length === 0)
    return {
      kind: "disabled",
      message: `no ADMIN_TOKEN is configured: ${FIX} (locally: ADMIN_TOKEN=… in .dev.vars)`,
    };
  return { kind: "ok", list };
}

function misconfigured(message: string): Credentials {
  return { kind: "misconfigured", message };
}

/** `alice:<token>,ci:<token>` or `{"alice":"<token>"}` → entries, or what is wrong (no token echoed). */
function parseNamed(text: string): Credential[] | string {
  if (text.startsWith("{")) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return 'ADMIN_TOKENS is not valid JSON: write {"alice":"<token>","ci":"<token>"} or alice:<token>,ci:<token>';
    }
    if (raw === null || typeof raw !== "object" || Array.isArray(raw))
      return 'ADMIN_TOKENS must be a JSON object such as {"alice":"<token>"}';
    const out: Credential[] = [];
    for (const [name, token] of Object.entries(raw))
      if (typeof token !== "string") return `ADMIN_TOKENS: the token of "${name}" must be a string`;
      else out.push({ name, token });
    return out;
  }
  const out: Credential[] = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    const i = p.indexOf(":");
    if (i <= 0) return `ADMIN_TOKENS: entry ${out.length + 1} is not name:token; write alice:<token>,ci:<token>`;
    out.push({ name: p.slice(0, i).trim(), token: p.slice(i + 1).trim() });
  }
  return out;
}

// Parsed once per isolate per configuration; a misconfiguration is logged once, not per request.
let cachedFor: string | null = null;
let cached: Credentials = { kind: "disabled", message: "" };

export function credentialsOf(env: CredentialEnv): Credentials {
  const key = (env.ADMIN_TOKEN ?? "") + "\n" + (env.ADMIN_TOKENS ?? "");
  if (key !== cachedFor) {
    cached = parseCredentials(env.ADMIN_TOKEN, env.ADMIN_TOKENS);
    cachedFor = key;
    if (cached.kind === "misconfigured")
      console.error(
        JSON.stringify({ level: "error", event: "admin-credentials-misconfigured", message: cached.message }),
      );
  }
  return cached;
}

/**
 * The name of the credential `given` is, or null. Compared with every configured token, each in
 * constant time, whichever matches: neither which one nor how many shows in the time taken.
 */
export async function holderOf(given: string, list: readonly Credential[]): Promise<string | null> {
  const same = await Promise.all(list.map((c) => sameSecret(given, c.token)));
  let name: string | null = null;
  for (let i = 0; i < list.length; i++) if (same[i] && name === null) name = list[i].name;
  return name;
}

/** The throttling key of a client address: IPv4 as is, IPv6 by its /64. */
export function clientKeyOf(ip: string | null): string {
  const a = parseIp(ip);
  if (a === null) return ip ?? "unknown";
  if (a.v === 4) return ip!;
  return "v6:" + a.w[0].toString(16) + ":" + a.w[1].toString(16);
}

/** The coarser key of an IPv6 address, its /48 (a site); null for IPv4 and non-addresses. */
export function siteKeyOf(ip: string | null): string | null {
  const a = parseIp(ip);
  if (a === null || a.v === 4) return null;
  return "v6/48:" + a.w[0].toString(16) + ":" + (a.w[1] >>> 16).toString(16);
}

const isolateFailures = new FailureLimiter(FAILURES_ALLOWED, FAILURE_WINDOW_S * 1000);
const siteFailures = new FailureLimiter(FAILURES_ALLOWED_PER_48, FAILURE_WINDOW_S * 1000);

/**
 * Checks a client's token for `purpose`; counts and throttles failures (module head). `extra`: more
 * credentials that prove this purpose only (FLAGS_TOKEN for OFREP), compared and counted alike; with
 * them, a purpose works without any admin token configured.
 */
export async function authenticate(
  given: string,
  env: CredentialEnv,
  clientIp: string | null,
  purpose: AuthPurpose,
  extra: readonly Credential[] = [],
): Promise<AuthResult> {
  const admin = credentialsOf(env);
  if (admin.kind !== "ok" && extra.length === 0) return admin;
  const creds = { list: [...(admin.kind === "ok" ? admin.list : []), ...extra] };
  const key = purpose + ":" + clientKeyOf(clientIp);
  const site = siteKeyOf(clientIp);
  const siteKey = site === null ? null : purpose + ":" + site;
  const now = Date.now();
  const wait = Math.max(
    isolateFailures.retryAfterMs(key, now),
    siteKey === null ? 0 : siteFailures.retryAfterMs(siteKey, now),
  );
  if (wait > 0) return { kind: "throttled", retryAfterS: Math.ceil(wait / 1000) };
  const actor = await holderOf(given, creds.list);
  if (actor !== null) return { kind: "ok", actor };
  isolateFailures.fail(key, now);
  if (siteKey !== null) siteFailures.fail(siteKey, now);
  if (env.AUTH_LIMITER) {
    try {
      const { success } = await env.AUTH_LIMITER.limit({ key });
      if (!success) isolateFailures.block(key, now, FAILURE_WINDOW_S * 1000);
    } catch (e) {
      // The binding failing leaves this isolate's own count in force.
      console.error(
        JSON.stringify({ level: "warn", event: "auth-limiter-failed", message: (e as Error)?.message ?? String(e) }),
      );
    }
  }
  return { kind: "refused" };
}

/**
 * Whether the request asked for an explanation with a right token. A throttled address gets false,
 * like a wrong token: a debug header never refuses the page it rides on. Costs nothing on requests
 * without the header.
 */
export async function explainRequested(headers: Headers, env: CredentialEnv): Promise<boolean> {
  const given = headers.get(EXPLAIN_HEADER);
  if (given === null) return false;
  const r = await authenticate(given, env, headers.get("cf-connecting-ip"), "explain");
  return r.kind === "ok";
}

/** Forgets this isolate's failure counts (tests start from a clean slate). */
export function resetAuthFailures(): void {
  isolateFailures.clear();
  siteFailures.clear();
}
