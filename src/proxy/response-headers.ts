// The origin's response headers as the client sees them: what only edgeshift may say is taken out
// of the origin's mouth, and the origin's own address is not handed to the client. Pure (Headers is
// a web standard). edgeshift's own headers (visitor cookie, explain, errors) are added afterwards.
//
// | the origin sends                                   | the client gets                          | why                                                                 |
// |----------------------------------------------------|------------------------------------------|---------------------------------------------------------------------|
// | any `x-edgeshift-*` field                          | dropped                                  | an app must not spoof an explain answer or an edgeshift error       |
// | `Set-Cookie` for an `edgeshift_*` cookie           | that Set-Cookie dropped, the others kept | an app must not pin a visitor's id (hence cohort) or plant an override |
// | `Location` / `Content-Location` at BLUE_ORIGIN or  | the same path and query on the scheme    | the origins' own addresses are internal, and a redirect to one      |
// | GREEN_ORIGIN (absolute or scheme-relative; any     | and host the client used                 | would take the client around edgeshift                              |
// | scheme, host case, trailing dot, default port)     |                                          |                                                                     |
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
 * The path, query and fragment of `url` if it points at one of the origin bases, else null. The
 * host and port are compared, not the text: a TLS-terminating origin writes `http://` for an
 * `https://` base, some frameworks write the default port (`:443`, `:80`), an upper-case host or a
 * fully qualified `host.`; each still names the internal address. So the scheme is ignored (a
 * scheme-relative `//host/…` counts), the host is compared case-insensitively without a trailing
 * dot, and no port, 80 and 443 are one "default" port (which of them the scheme implies is what
 * the scheme says, and the scheme is not trusted here). A base's path must prefix the URL's.
 */
export function publicPathOf(url: string, bases: OriginBases): string | null {
  return restAfterBase(url, bases.blue) ?? restAfterBase(url, bases.green);
}

interface UrlParts {
  host: string;
  /** -1 for no port, 80 or 443 (see publicPathOf). */
  port: number;
  /** Path, query and fragment as written. */
  rest: string;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Host, port and the rest of an absolute or scheme-relative http(s) URL, or null. */
function partsOf(url: string): UrlParts | null {
  let i: number;
  if (url.startsWith("//")) i = 2;
  else {
    const m = SCHEME.exec(url);
    if (m === null) return null;
    const scheme = m[0].slice(0, -3).toLowerCase();
    if (scheme !== "http" && scheme !== "https") return null;
    i = m[0].length;
  }
  let end = i;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 || c === 63 || c === 35) break; // / ? #
    end++;
  }
  // Userinfo (`user@`) names no host.
  const at = url.lastIndexOf("@", end - 1);
  const authority = url.slice(at >= i ? at + 1 : i, end);
  let host: string;
  let portText = "";
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) return null;
    host = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) return null;
      portText = after.slice(1);
    }
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) portText = authority.slice(colon + 1);
  }
  host = host.toLowerCase();
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host === "") return null;
  let port = -1;
  if (portText !== "") {
    if (!/^[0-9]{1,5}$/.test(portText)) return null;
    port = Number(portText);
    if (port === 80 || port === 443) port = -1;
  }
  return { host, port, rest: url.slice(end) };
}

function restAfterBase(url: string, base: string): string | null {
  if (base === "") return null;
  const b = partsOf(base);
  const u = b === null ? null : partsOf(url);
  if (b === null || u === null || u.host !== b.host || u.port !== b.port) return null;
  if (!u.rest.startsWith(b.rest)) return null;
  const rest = u.rest.slice(b.rest.length);
  if (rest === "") return "/";
  const c = rest.charCodeAt(0);
  // "/", "?" or "#" must follow a base path, or ".../app" would match ".../apple".
  if (c === 47) return rest;
  return c === 63 || c === 35 ? "/" + rest : null;
}

/** "https://app.example" from "https://app.example/a?b": what the client used. */
export function schemeAndHostOf(url: string): string {
  const s = url.indexOf("://");
  const e = s < 0 ? -1 : url.indexOf("/", s + 3);
  return e < 0 ? url : url.slice(0, e);
}
