// The upstream fetch: one origin, exact URL, bodies streamed, redirects unfollowed, a timeout on
// time-to-headers, and the outcome classified for telemetry. Failover policy lives here too.
//
// | origin does                          | outcome                     | counts as error |
// |--------------------------------------|-----------------------------|-----------------|
// | answers (any status, 3xx unfollowed) | status                      | status >= 500   |
// | no headers within the slot's timeout | "timeout"                   | yes             |
// | connection refused/reset, DNS, TLS   | "network"                   | yes             |
import type { Rollout, Slot } from "../model/rollout";

export interface FetchResult {
  response: Response | null;
  status: number | null;
  error: null | "network" | "timeout";
  /** Time to response headers (or to the failure), ms. */
  latencyMs: number;
  message: string | null;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** The slot's time-to-headers budget from `doc.timeoutMs` (one number, or one per slot). */
export function timeoutOf(doc: Rollout, slot: Slot): number {
  const t = doc.timeoutMs;
  if (typeof t === "number") return t;
  return (t as Partial<Record<Slot, number>>)[slot] ?? DEFAULT_TIMEOUT_MS;
}

/**
 * Fetch `url`. Never throws: failures come back classified. The timeout covers only the wait for
 * response headers; once they arrive the body streams for as long as it takes.
 *
 * Built from an init object, not from the client's Request (`new Request(url, request)`, headers
 * patched): in workerd that shape cost 30–45 % more CPU to build the fetch
 * (~11 % more per whole request under wrk), and workerd's memory
 * under sustained load grew the same with either shape (docs/benchmarks.md).
 */
export async function fetchOrigin(
  url: string,
  method: string,
  headers: Headers,
  body: ReadableStream | null,
  timeoutMs: number,
): Promise<FetchResult> {
  const ac = new AbortController();
  const timer = setTimeout(abort, timeoutMs, ac);
  const started = Date.now();
  try {
    // redirect "manual": a 3xx goes back to the client (a Location at an origin base is made public
    // in response-headers.ts).
    const response = await fetch(url, { method, headers, body, redirect: "manual", signal: ac.signal });
    return { response, status: response.status, error: null, latencyMs: Date.now() - started, message: null };
  } catch (e) {
    const latencyMs = Date.now() - started;
    // Only our timer aborts this signal.
    if (ac.signal.aborted)
      return {
        response: null,
        status: null,
        error: "timeout",
        latencyMs,
        message: `no response headers within ${timeoutMs} ms`,
      };
    return { response: null, status: null, error: "network", latencyMs, message: (e as Error)?.message ?? String(e) };
  } finally {
    clearTimeout(timer);
  }
}

// A module function, not a closure per request.
function abort(ac: AbortController): void {
  ac.abort();
}

export function failed(r: FetchResult): boolean {
  return r.error !== null || (r.status !== null && r.status >= 500);
}

/**
 * A failed canary answer may be replaced by stable's only for methods that are safe to replay
 * (RFC 9110 §9.2.2 idempotent and read-only: GET, HEAD, OPTIONS) and only when there is no body
 * to replay: a request stream can be read once.
 */
export function canFailover(method: string, body: ReadableStream | null): boolean {
  return body === null && (method === "GET" || method === "HEAD" || method === "OPTIONS");
}

/** Our answer when an origin gave none: the origin's fault, said plainly. */
export function originErrorResponse(r: FetchResult, slot: Slot, role: string): Response {
  const timeout = r.error === "timeout";
  const text = timeout
    ? `edgeshift: the ${slot} origin (${role}) did not answer within the timeout (${r.message}).\n`
    : `edgeshift: the ${slot} origin (${role}) could not be reached (${r.message}).\n`;
  return new Response(text, {
    status: timeout ? 504 : 502,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      "x-edgeshift-error": timeout ? "origin-timeout" : "origin-unreachable",
    },
  });
}
