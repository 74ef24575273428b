// The sticky key of a request, per the document's `stickyBy`. Pure.
//
// | stickyBy          | key                                   | when the request lacks it        |
// |-------------------|---------------------------------------|----------------------------------|
// | "cookie" (default)| the `edgeshift_vid` visitor id        | a new visitor id is minted       |
// | "header:<name>"   | that request header's value           | visitor cookie (minted if needed)|
// | "cookie:<name>"   | that cookie's value (an app session)  | visitor cookie (minted if needed)|
// | "ip"              | CF-Connecting-IP                      | visitor cookie (minted if needed)|
//
// The visitor cookie is parsed, and set, only when it is the key actually used, so an app that
// sticks by its own user id gets no edgeshift cookie at all.
import { cookieValue, mintVisitor, visitorIdOf, VISITOR_COOKIE } from "./visitor";

export type StickySpec =
  { kind: "visitor" } | { kind: "header"; name: string } | { kind: "cookie"; name: string } | { kind: "ip" };

/** Parse once per document version. The schema has already checked the shape. */
export function compileSticky(stickyBy: string): StickySpec {
  if (stickyBy.startsWith("header:")) return { kind: "header", name: stickyBy.slice(7).toLowerCase() };
  if (stickyBy.startsWith("cookie:")) return { kind: "cookie", name: stickyBy.slice(7) };
  if (stickyBy === "ip") return { kind: "ip" };
  return { kind: "visitor" };
}

export interface StickyKey {
  key: string;
  /** "visitor": the key is the visitor id (old or new). */
  source: "visitor" | "header" | "cookie" | "ip";
  /** Set when a new visitor id was minted: the cookie value to set on the response. */
  newVisitorValue: string | null;
}

/** Upper bound on a key taken from a header or cookie: longer values are ignored, not hashed. */
export const MAX_KEY_LENGTH = 1024;

export function stickyKeyOf(
  spec: StickySpec,
  headers: Headers,
  mint: () => { id: string; value: string } = mintVisitor,
): StickyKey {
  let k: string | null = null;
  if (spec.kind === "header") k = headers.get(spec.name);
  else if (spec.kind === "cookie") k = cookieValue(headers.get("cookie"), spec.name);
  else if (spec.kind === "ip") k = headers.get("cf-connecting-ip");
  if (k !== null && k !== "" && k.length <= MAX_KEY_LENGTH)
    return { key: k, source: spec.kind as StickyKey["source"], newVisitorValue: null };
  const id = visitorIdOf(cookieValue(headers.get("cookie"), VISITOR_COOKIE));
  if (id !== null) return { key: id, source: "visitor", newVisitorValue: null };
  const v = mint();
  return { key: v.id, source: "visitor", newVisitorValue: v.value };
}
