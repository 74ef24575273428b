// Request headers as the origin sees them. Pure (Headers is a web standard, not a binding).
//
// - Hop-by-hop fields are dropped, per RFC 9110 §7.6.1 (Connection, Proxy-Connection, Keep-Alive,
//   TE, Transfer-Encoding, Upgrade), plus Proxy-Authorization and Proxy-Authenticate (RFC 2616
//   §13.5.1: meant for this hop, i.e. us). Fields a client *names* in Connection are not: the
//   runtime's HTTP layer consumes Connection (and Keep-Alive, TE) before the Worker runs, so the
//   Worker cannot know them (checked under `wrangler dev`: a raw `Connection: close, x-hop` arrives
//   as no Connection and `x-hop: 1`). Honouring Connection only where it happens to be visible (a
//   direct workerd call) would make the two behave differently, and would let a client make
//   edgeshift drop a header of the client's choosing. The listed fields reach the origin. Exception: a WebSocket
//   handshake keeps `Upgrade` and `Connection: upgrade`, which is how the Workers runtime opens a
//   WebSocket to the origin (RFC 6455 §4.1). The runtime terminates the client's WebSocket and opens
//   its own to the origin, so the per-connection handshake fields (Sec-WebSocket-Key, -Version,
//   -Extensions) are its to generate; ours would make the origin's Sec-WebSocket-Accept mismatch.
//   Sec-WebSocket-Protocol (the app's subprotocol) is passed on.
// - Every incoming `x-edgeshift-*` field is removed: a client must not be able to tell the origin
//   which cohort it is in, nor pass an explain token or override token through to the app.
// - edgeshift's own cookies (`edgeshift_*`) are removed from Cookie, pairs split at ";" and at ","
//   (two Cookie lines reach the Worker joined with ", "); nothing of them is the app's.
// - X-Forwarded-For gets the client address (CF-Connecting-IP) appended; X-Forwarded-Proto and
//   X-Forwarded-Host say what the client used.
// - The cohort is added: x-edgeshift-slot, x-edgeshift-role, x-edgeshift-bucket, x-edgeshift-release.
// Responses: the Workers runtime frames its own connection to the client and drops the origin's
// Connection / Keep-Alive / Transfer-Encoding itself (checked on the wire under `wrangler dev`);
// what the origin may not say in edgeshift's name is taken out in response-headers.ts.
import { stripOwnCookies } from "../routing/visitor";

export const OWN_HEADER_PREFIX = "x-edgeshift-";

const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);
const WEBSOCKET_HANDSHAKE = new Set(["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"]);

/** The cohort headers the origin gets; apps gate features on them (README "What the origin sees"). */
export const SLOT_HEADER = "x-edgeshift-slot";
export const ROLE_HEADER = "x-edgeshift-role";
export const BUCKET_HEADER = "x-edgeshift-bucket";
export const RELEASE_HEADER = "x-edgeshift-release";

export interface Cohort {
  slot: string;
  role: string;
  /** Absent where there is no bucket to tell (a shadow mirror) or it is already set (failover). */
  bucket?: number;
  release?: string | undefined;
}

/** Sets the cohort headers; an absent bucket or release leaves that header as it is. */
export function setCohortHeaders(h: Headers, cohort: Cohort): void {
  h.set(SLOT_HEADER, cohort.slot);
  h.set(ROLE_HEADER, cohort.role);
  if (cohort.bucket !== undefined) h.set(BUCKET_HEADER, String(cohort.bucket));
  if (cohort.release !== undefined) h.set(RELEASE_HEADER, cohort.release);
}

/** True for a WebSocket opening handshake (the only Upgrade the Workers runtime proxies). */
export function isWebSocketUpgrade(h: Headers): boolean {
  const u = h.get("upgrade");
  return u !== null && u.toLowerCase() === "websocket";
}

/**
 * The origin's request headers: a copy of the client's, patched. Copying and then deleting and
 * setting the few fields that differ costs less than building a new set field by field (workerd
 * CPU per call: ~6.7 against ~11 µs on an idle machine; 13–16 against 15–19 µs on a loaded one).
 */
export function upstreamHeaders(incoming: Headers, requestUrl: string, cohort: Cohort | null): Headers {
  const h = new Headers(incoming);
  const websocket = isWebSocketUpgrade(h);
  // Deleted after the walk: a Headers must not change under its own iterator.
  let drop: string[] | null = null;
  for (const name of h.keys()) {
    // Names from Headers iteration are already lowercase.
    if (HOP_BY_HOP.has(name)) {
      if (websocket && (name === "upgrade" || name === "connection")) continue;
    } else if (!(websocket && WEBSOCKET_HANDSHAKE.has(name)) && !name.startsWith(OWN_HEADER_PREFIX)) continue;
    (drop ??= []).push(name);
  }
  if (drop !== null) for (const name of drop) h.delete(name);
  if (websocket) h.set("connection", "upgrade");
  const cookie = h.get("cookie");
  if (cookie !== null) {
    const c = stripOwnCookies(cookie);
    if (c === null) h.delete("cookie");
    else if (c !== cookie) h.set("cookie", c);
  }
  // From the client's own headers, not the patched copy: its real address must never be left out
  // of X-Forwarded-For (origins trust its rightmost entry).
  const ip = incoming.get("cf-connecting-ip");
  if (ip !== null) {
    const xff = incoming.get("x-forwarded-for");
    h.set("x-forwarded-for", xff === null || xff === "" ? ip : lastListItem(xff) === ip ? xff : xff + ", " + ip);
  }
  h.set("x-forwarded-proto", requestUrl.charCodeAt(4) === 115 /* https: */ ? "https" : "http");
  const host = incoming.get("host") ?? hostOf(requestUrl);
  if (host) h.set("x-forwarded-host", host);
  if (cohort !== null) setCohortHeaders(h, cohort);
  return h;
}

function lastListItem(list: string): string {
  const i = list.lastIndexOf(",");
  return (i < 0 ? list : list.slice(i + 1)).trim();
}

function hostOf(url: string): string {
  const s = url.indexOf("://");
  if (s < 0) return "";
  const e = url.indexOf("/", s + 3);
  return url.slice(s + 3, e < 0 ? undefined : e);
}

/** The path and query of a URL exactly as received: sliced from the string, never re-serialised. */
export function pathAndQuery(url: string): string {
  const s = url.indexOf("://");
  const start = s < 0 ? 0 : s + 3;
  let p = start;
  // First "/", "?" or "#" after the authority ends it.
  for (; p < url.length; p++) {
    const c = url.charCodeAt(p);
    if (c === 47 || c === 63 || c === 35) break;
  }
  let end = url.indexOf("#", p);
  if (end < 0) end = url.length;
  const rest = url.slice(p, end);
  return rest === "" ? "/" : rest.charCodeAt(0) === 63 ? "/" + rest : rest;
}

/** Origin base without a trailing slash, so base + pathAndQuery is the upstream URL. */
export function originBase(origin: string): string {
  return origin.endsWith("/") ? origin.slice(0, -1) : origin;
}
