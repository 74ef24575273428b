// The admin API's door: a bearer token checked by src/worker/credentials.ts, and the actor it
// proves. Every `/__edgeshift/api/*` route is behind it; a route reads who is acting with
// `actorOf(c)`, never from the request body.
//
// | situation                                        | answer                                                    |
// |--------------------------------------------------|-----------------------------------------------------------|
// | no ADMIN_TOKEN / ADMIN_TOKENS                    | 503 {error} saying how to set one                         |
// | a token too short, ADMIN_TOKENS malformed        | 503 {error} naming the entry and the fix (also logged)    |
// | no Authorization: Bearer                         | 401 + WWW-Authenticate (not counted as a guess)           |
// | this address failed too often (credentials.ts)   | 429 {error} + Retry-After, the token not even compared;   |
// |                                                  | explain-header failures are counted apart and never count |
// | the token matches none                           | 401 + WWW-Authenticate; the failure counted               |
// | it matches                                       | on to the route, actorOf(c) = the token's name            |
import type { Context, MiddlewareHandler } from "hono";
import type { Env } from "../env";
import { authenticate, credentialsOf } from "../worker/credentials";

export type AdminEnv = { Bindings: Env; Variables: { actor: string } };

export const requireAdmin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
  if (!m) {
    // No token is no guess: nothing is compared or counted.
    const creds = credentialsOf(c.env);
    if (creds.kind !== "ok") return unavailable(c, creds);
    return unauthorized(c, "missing credentials: send `Authorization: Bearer <ADMIN_TOKEN>`");
  }
  const r = await authenticate(m[1], c.env, c.req.header("cf-connecting-ip") ?? null, "admin");
  if (r.kind === "throttled") {
    c.header("retry-after", String(r.retryAfterS));
    return c.json(
      {
        error: `too many refused tokens from this address: try again in ${r.retryAfterS} s (check --token / EDGESHIFT_TOKEN)`,
      },
      429,
    );
  }
  if (r.kind === "refused")
    return unauthorized(
      c,
      "the bearer token was refused: it is none of this Worker's admin tokens (ADMIN_TOKEN, ADMIN_TOKENS)",
    );
  if (r.kind !== "ok") return unavailable(c, r);
  c.set("actor", r.actor);
  await next();
};

function unavailable(c: Context<AdminEnv>, r: { kind: "disabled" | "misconfigured"; message: string }) {
  return c.json({ error: `the admin API is ${r.kind === "disabled" ? "disabled" : "refused"}: ${r.message}` }, 503);
}

function unauthorized(c: Context<AdminEnv>, error: string) {
  c.header("www-authenticate", 'Bearer realm="edgeshift"');
  return c.json({ error }, 401);
}

/** Who is acting: the name of the admin token the request proved (ADMIN_TOKEN's is "admin"). */
export function actorOf(c: Context<AdminEnv>): string {
  return c.get("actor");
}
