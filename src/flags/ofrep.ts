// The OpenFeature Remote Evaluation Protocol's shapes (github.com/open-feature/protocol,
// service/openapi.yaml, v0.3.0): request bodies in, evaluations and errors out. Pure; the routes are
// src/admin/ofrep-api.ts.
//
// | request                                    | answer                                                   |
// |--------------------------------------------|----------------------------------------------------------|
// | body not JSON                              | 400 {errorCode: PARSE_ERROR}                             |
// | no `context` object                        | 400 {errorCode: INVALID_CONTEXT}                         |
// | server call without context.targetingKey   | 400 {errorCode: TARGETING_KEY_MISSING}                   |
// | a flag the caller may not see, or none     | 404 {errorCode: FLAG_NOT_FOUND} (single); left out (bulk)|
// | a flag                                     | 200 {key, value, variant, reason}                        |
// Targeting rules read the request's facts in a browser call; in a server call (the caller is an app
// server acting for a user) they read the context: `ip` for cidr, `country`, `colo`, and an attribute
// named like the rule's header (`"x-beta": "1"`) for a header rule.
import type { CompiledFlag, FlagEvaluation } from "./evaluate";
import type { RequestFacts } from "../routing/targeting";

export type OfrepErrorCode = "PARSE_ERROR" | "INVALID_CONTEXT" | "TARGETING_KEY_MISSING" | "FLAG_NOT_FOUND" | "GENERAL";

export interface OfrepSuccess {
  key: string;
  value: unknown;
  variant: string;
  reason: string;
  metadata?: Record<string, string | number | boolean>;
}

export interface OfrepFailure {
  key?: string;
  errorCode: OfrepErrorCode;
  errorDetails: string;
}

/** Bodies are small JSON contexts: a larger one is a mistake or an attack, refused unparsed. */
export const MAX_BODY_BYTES = 16 * 1024;

export type ParsedBody = { ok: true; context: Record<string, unknown> } | { ok: false; failure: OfrepFailure };

/** The evaluation context of a request body (`{"context": {...}}`); an empty body is an empty context. */
export function contextOf(text: string): ParsedBody {
  if (text.trim() === "") return { ok: true, context: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail(
      "PARSE_ERROR",
      `the body is not JSON (${(e as Error).message}): send {"context": {"targetingKey": "user-123"}}`,
    );
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    return fail("PARSE_ERROR", 'the body must be a JSON object such as {"context": {"targetingKey": "user-123"}}');
  const context = (raw as { context?: unknown }).context;
  if (context === undefined) return { ok: true, context: {} };
  if (context === null || typeof context !== "object" || Array.isArray(context))
    return fail("INVALID_CONTEXT", 'context must be an object such as {"targetingKey": "user-123"}');
  const key = (context as { targetingKey?: unknown }).targetingKey;
  if (key !== undefined && typeof key !== "string")
    return fail("INVALID_CONTEXT", "context.targetingKey must be a string (the user's id)");
  return { ok: true, context: context as Record<string, unknown> };
}

function fail(errorCode: OfrepErrorCode, errorDetails: string): ParsedBody {
  return { ok: false, failure: { errorCode, errorDetails } };
}

/** Longest targeting key used: as for sticky keys (src/routing/sticky.ts), longer ones are refused. */
export const MAX_TARGETING_KEY = 1024;

/** A server call's targeting key, or why there is none usable. */
export function targetingKeyOf(context: Record<string, unknown>): string | OfrepFailure {
  const k = context.targetingKey;
  if (typeof k !== "string" || k === "")
    return {
      errorCode: "TARGETING_KEY_MISSING",
      errorDetails: "context.targetingKey is required: the id edgeshift buckets by (the same key the proxy sticks by)",
    };
  if (k.length > MAX_TARGETING_KEY)
    return {
      errorCode: "INVALID_CONTEXT",
      errorDetails: `context.targetingKey may be at most ${MAX_TARGETING_KEY} characters`,
    };
  return k;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Rule facts from a server call's context (module head). */
export function factsOfContext(context: Record<string, unknown>): RequestFacts {
  const headers = new Headers();
  for (const [name, v] of Object.entries(context))
    if (typeof v === "string" && name !== "targetingKey" && HEADER_NAME.test(name) && v.length <= 1024)
      headers.set(name, v);
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  return { headers, ip: text(context.ip), country: text(context.country), colo: text(context.colo) };
}

export function success(e: FlagEvaluation): OfrepSuccess {
  return { key: e.key, value: e.value, variant: e.variation, reason: e.reason };
}

export function notFound(key: string): OfrepFailure {
  return {
    key,
    errorCode: "FLAG_NOT_FOUND",
    errorDetails: `flag "${key}" was not found (or is not served to this caller: a browser sees only flags with "browser": true)`,
  };
}

/** Whether a caller may see the flag: a server sees all, a browser only those marked `browser`. */
export function visible(f: CompiledFlag, server: boolean): boolean {
  return server || f.flag.browser;
}
