// The origin's response headers as the client sees them: what only edgeshift may say is taken out
// of the origin's mouth, and the origin's own address is not handed to the client. Pure (Headers is
// a web standard). edgeshift's own headers (visitor cookie, explain, errors) are added afterwards.
//
// | the origin sends                                   | the client gets                          | why                                                                 |
// |----------------------------------------------------|------------------------------------------|---------------------------------------------------------------------|
// | any `x-edgeshift-*` field                          | dropped                                  | an app must not spoof an explain answer or an edgeshift error       |
// | `Set-Cookie` for an `edgeshift_*` cookie           | that Set-Cookie dropped, the others kept | an app must not pin a visitor's id (hence cohort) or plant an override |
// | `Location` / `Content-Location` at BLUE_ORIGIN or  | the same path and query on the scheme    | the origins' own addresses are internal, and a redirect to one      |
// | GREEN_ORIGIN (absolute or scheme-relative)         | and host the client used                 | would take the client around edgeshift                              |
// | a 101 (WebSocket)                                  | untouched (the caller does not call this)| the response carries the socket itself                              |
// Other URLs (Link, Refresh, bodies) are the app's business: an app that writes its internal
// address into them needs its own fix (X-Forwarded-Host says what the client used).
import { OWN_COOKIE_PREFIX } from "../routing/visitor";
import { OWN_HEADER_PREFIX } from "./headers";

/** The two origin bases (no trailing slash), as upstream URLs are built from them. */
export interface OriginBases {
  blue: string;
  green: string;
}

type WithSetCookie = Headers & { getSetCookie(): string[] };

/**
 * Whether the origin's headers need `fixOriginHeaders`. One walk over the names (values are read
 * only for the three that can need a fix): most responses need nothing and pass on as they are.
 */
export function originHeadersNeedFix(h: Headers, bases: OriginBases): boolean {
  for (const name of h.keys()) {
    if (name.startsWith(OWN_HEADER_PREFIX)) return true;
    if (name === "set-cookie") {
      if (h.get(name)!.indexOf(OWN_COOKIE_PREFIX) >= 0) return true;
    } else if (name === "location" || name === "content-location") {
      if (publicPathOf(h.get(name)!, bases) !== null) return true;
    }
  }
  return false;
}

/** Applies the table above to `h` (a mutable copy of the origin's headers). */
export function fixOriginHeaders(h: Headers, bases: OriginBases, requestUrl: string): void {
  let own: string[] | null = null;
  for (const name of h.keys()) if (name.startsWith(OWN_HEADER_PREFIX)) (own ??= []).push(name);
  if (own !== null) for (const name of own) h.delete(name);

  const cookies = (h as WithSetCookie).getSetCookie();
  if (cookies.some(isOwnSetCookie)) {
    h.delete("set-cookie");
    for (const c of cookies) if (!isOwnSetCookie(c)) h.append("set-cookie", c);
  }

  for (const name of ["location", "content-location"]) {
    const v = h.get(name);
    const path = v === null ? null : publicPathOf(v, bases);
    if (path !== null) h.set(name, schemeAndHostOf(requestUrl) + path);
  }
}

/** The cookie a Set-Cookie value sets is ours (`edgeshift_…=`); names are case-sensitive (RFC 6265). */
function isOwnSetCookie(value: string): boolean {
  return value.trimStart().startsWith(OWN_COOKIE_PREFIX);
}

/**
 * The path, query and fragment of `url` if it points at one of the origin bases (scheme and host
 * compared case-insensitively; a scheme-relative `//host/…` counts), else null.
 */
export function publicPathOf(url: string, bases: OriginBases): string | null {
  return restAfterBase(url, bases.blue) ?? restAfterBase(url, bases.green);
}

function restAfterBase(url: string, base: string): string | null {
  if (base === "") return null;
  let b = base;
  if (url.startsWith("//")) {
    const s = base.indexOf("://");
    if (s < 0) return null;
    b = base.slice(s + 1);
  }
  if (url.length < b.length || url.slice(0, b.length).toLowerCase() !== b.toLowerCase()) return null;
  const rest = url.slice(b.length);
  if (rest === "") return "/";
  const c = rest.charCodeAt(0);
  // "/", "?" or "#" must follow, or "http://origin:8101" would match "http://origin:81010".
  if (c === 47) return rest;
  return c === 63 || c === 35 ? "/" + rest : null;
}

/** "https://app.example" from "https://app.example/a?b": what the client used. */
export function schemeAndHostOf(url: string): string {
  const s = url.indexOf("://");
  const e = s < 0 ? -1 : url.indexOf("/", s + 3);
  return e < 0 ? url : url.slice(0, e);
}
