// Shared by the workerd tests (not a test file): put a rollout document and start from a cold
// isolate cache, so each test routes by exactly the document it wrote.
import { env, SELF } from "cloudflare:test";
import { resetConfigCache } from "../../src/worker/config-cache";

export async function useRollout(doc: unknown | null): Promise<void> {
  if (doc === null) await env.ROLLOUT_CONFIG.delete("rollout");
  else await env.ROLLOUT_CONFIG.put("rollout", typeof doc === "string" ? doc : JSON.stringify(doc));
  resetConfigCache();
}

export async function get(path: string, init: RequestInit = {}, base = "https://app.example"): Promise<Response> {
  return SELF.fetch(base + path, init);
}

export async function echo(path: string, init: RequestInit = {}, base?: string): Promise<{ r: Response; j: any }> {
  const r = await get(path, init, base);
  const text = await r.text();
  let j: any = null;
  try {
    j = JSON.parse(text);
  } catch {}
  return { r, j };
}

/** Every Set-Cookie of a response, each on its own (workers-types lacks getSetCookie's type). */
export function setCookies(r: Response): string[] {
  return (r.headers as unknown as { getSetCookie(): string[] }).getSetCookie();
}

/** The `edgeshift_vid` cookie value a response set, or null. */
export function visitorCookieOf(r: Response): string | null {
  for (const c of setCookies(r)) {
    const m = /^edgeshift_vid=([^;]*)/.exec(c);
    if (m) return m[1];
  }
  return null;
}

let crowd = 0;
/**
 * Request options for a request from a new client on its own network (a distinct CF-Connecting-IP
 * /24, no cookie: a new visitor). The controller only rolls back on failures from several visitors
 * on several networks (docs/verdict.md); tests that want a rollback send from a crowd, deliberately.
 */
export function fromCrowd(init: RequestInit = {}): RequestInit {
  const n = ++crowd;
  const headers = new Headers(init.headers);
  headers.set("cf-connecting-ip", `10.${(n >> 8) & 255}.${n & 255}.7`);
  return { ...init, headers };
}
