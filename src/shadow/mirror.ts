// PLACEHOLDER (owned by the plans/targeting work): mirrors a share of stable's GET/HEAD requests
// to the canary in ctx.waitUntil and compares the answers. The user's answer never waits for it.
import type { Env } from "../env";
import type { Routed } from "../telemetry/recorder";

/**
 * Called after stable's answer is known, for GET/HEAD requests routed to stable. Returns the
 * response to give the user: the same one, or one whose body is teed for hashing.
 */
export function maybeMirror(_req: Request, stableResponse: Response, _routed: Routed, _env: Env, _ctx: ExecutionContext): Response {
  return stableResponse;
}
