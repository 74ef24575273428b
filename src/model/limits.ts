// How large a `rollout` document may be, and the checks that run before and right after
// JSON.parse (the schema in ./rollout.ts bounds each list and string). Pure.
//
// Why bound at all: Workers KV takes values up to 25 MiB, but every copy of the document costs
// somewhere. Every isolate parses each new version; the controller keeps the text and the parsed
// document in its SQLite storage, whose values are capped at 2 MB
// (developers.cloudflare.com/durable-objects/platform/limits/: "Maximum string, BLOB or table
// row size 2 MB"). An unbounded document once overflowed that row and lost a rollback (issue 9).
//
// | measure                                                        | limit   | why                                   |
// |----------------------------------------------------------------|---------|---------------------------------------|
// | compact JSON of the document, without percent/canary/rolledBack | 64 KiB  | ~1,500 UUIDs of targeting: far above any plan seen; the controller's own fields do not count, so its rewrite of a document at the limit stays valid |
// | `rolledBack` as compact JSON                                   | 16 KiB  | written by the controller: a reason and its figures |
// | the text as stored, whitespace included                        | 256 KiB | room for indentation of a 64 KiB document |
// | nesting depth of arrays and objects                            | 32      | a real document nests 6 deep; checked without recursion before JSON.parse, so a 100k-deep array cannot overflow a stack |
//
// The largest valid document is therefore ≤ 256 KiB of text and ≤ 80 KiB as compact JSON;
// docs/storage-schema.md ("Limits") shows what that means for the controller's rows.
import { utf8Bytes } from "../lib/utf8";

export const MAX_DOCUMENT_BYTES = 64 * 1024;
export const MAX_ROLLED_BACK_BYTES = 16 * 1024;
export const MAX_TEXT_BYTES = 256 * 1024;
export const MAX_DEPTH = 32;
/**
 * Texts up to this many characters are parsed to name the field that makes them too large; a
 * larger one (KV takes 25 MiB) is refused on its length alone, so every isolate's re-read of it
 * stays cheap.
 */
export const MAX_TEXT_TO_EXPLAIN = 4 * 1024 * 1024;
/** The fields the controller writes (./rollout.ts `rolledBack`, plans' `percent`, promotion's `canary`). */
export const CONTROLLER_FIELDS = ["percent", "canary", "rolledBack"] as const;

export interface LimitProblem {
  path: string;
  message: string;
}

/**
 * The deepest nesting of `[`/`{` in JSON text, counted in one pass outside strings (no recursion,
 * no parse), stopping at the first level beyond `max`. Malformed text is left to JSON.parse.
 */
export function nestingDepth(text: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > max) return deepest;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Problems a text has before it may be parsed at all (depth; size only when far too large: the parsed value names the field). */
export function textProblems(text: string): LimitProblem[] {
  if (text.length > MAX_TEXT_TO_EXPLAIN) return [oversizedText(kib(utf8Bytes(text)))];
  const depth = nestingDepth(text, MAX_DEPTH);
  if (depth <= MAX_DEPTH) return [];
  return [
    {
      path: "",
      message: `arrays and objects nest more than ${MAX_DEPTH} deep; a rollout document nests about 6 deep: remove the nested arrays (no field of the schema needs them)`,
    },
  ];
}

/** Size problems of a parsed document object (depth already checked, so stringify cannot overflow). */
export function sizeProblems(text: string, raw: Record<string, unknown>): LimitProblem[] {
  const problems: LimitProblem[] = [];
  const textBytes = utf8Bytes(text);
  const rest: Record<string, unknown> = { ...raw };
  for (const f of CONTROLLER_FIELDS) delete rest[f];
  const content = compactBytes(rest);
  if (content > MAX_DOCUMENT_BYTES) {
    const part = largestPart(rest);
    const holds = part.path
      ? `; ${part.path} holds ${kib(part.size)} of it${part.entries === null ? "" : ` (${part.entries} entries)`}`
      : "";
    problems.push({
      path: part.path,
      message: `the document is ${kib(content)} as compact JSON (without percent, canary and rolledBack); at most ${kib(MAX_DOCUMENT_BYTES)}${holds}: shorten it, e.g. target a group header ("x-beta: 1") set by your app instead of listing every user id`,
    });
  } else if (textBytes > MAX_TEXT_BYTES) {
    problems.push({
      path: "",
      message: `the text is ${kib(textBytes)} with its whitespace; at most ${kib(MAX_TEXT_BYTES)}: indent less or write it compact (JSON.stringify without spaces)`,
    });
  }
  if (raw.rolledBack !== undefined) {
    const rb = compactBytes(raw.rolledBack);
    if (rb > MAX_ROLLED_BACK_BYTES)
      problems.push({
        path: "rolledBack",
        message: `is ${kib(rb)} as compact JSON; at most ${kib(MAX_ROLLED_BACK_BYTES)}: the controller writes it, remove it (and bump "attempt") to retry the release`,
      });
  }
  return problems;
}

function compactBytes(v: unknown): number {
  const s = JSON.stringify(v);
  return s === undefined ? 0 : utf8Bytes(s);
}

/** Where most of the size is: down the largest child while it holds at least half of its parent ("" if nowhere). */
function largestPart(root: Record<string, unknown>): { path: string; size: number; entries: number | null } {
  const path: string[] = [];
  let node: unknown = root;
  let size = compactBytes(root);
  for (let level = 0; level < MAX_DEPTH && node !== null && typeof node === "object"; level++) {
    let bestKey: string | null = null;
    let best = 0;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const b = compactBytes(v);
      if (b > best) ((best = b), (bestKey = k));
    }
    if (bestKey === null || best < size / 2) break;
    path.push(bestKey);
    node = (node as Record<string, unknown>)[bestKey];
    size = best;
  }
  return { path: path.join("."), size, entries: Array.isArray(node) ? node.length : null };
}

/**
 * The problem of a text too large to parse, `size` as a person reads it ("5.0 MiB", "over 256 KiB"
 * when the read stopped at the limit).
 */
export function oversizedText(size: string): LimitProblem {
  return {
    path: "",
    message: `the text is ${size}; a document may be at most ${kib(MAX_DOCUMENT_BYTES)} as compact JSON (${kib(MAX_TEXT_BYTES)} with whitespace): shorten its lists, e.g. target a group header ("x-beta: 1") set by your app instead of listing every user id`,
  };
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}
