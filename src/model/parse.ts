// Turns the raw text of a KV document (`rollout`, `flags`) into a validated document, or into errors
// a person can act on (field, value, fix). Pure: used by the Worker, the controller and the CLI.
// The control Worker's NOTIFICATIONS variable goes through the same parseDocument, from
// notifications.ts: a schema is built when its module loads, and the edge Worker never needs that one.
import type * as z from "../lib/zod";
import { ALL_STABLE, rolloutSchema, type Rollout } from "./rollout";
import { NO_FLAGS, flagsDocumentSchema, type FlagsDocument } from "./flags";
import { NO_DOCUMENT, fingerprintOf } from "./fingerprint";
import { MAX_TEXT_BYTES, oversizedText, sizeProblems, textProblems } from "./limits";
import { utf8Bytes } from "../lib/utf8";
import { closest } from "../lib/closest";

/**
 * Problems reported per document: the first ones say what to fix, and an invalid document's
 * report is stored (controller state, events, isolate logs), so it stays small whatever the input.
 */
export const MAX_PROBLEMS = 20;
const MAX_PATH_CHARS = 200;

export interface ConfigProblem {
  /** Dotted path of the field, e.g. "rollback.maxErrorRate"; "" for the document itself. */
  path: string;
  /** What is wrong and how to fix it, in one sentence. */
  message: string;
}

export type DocumentResult<T> =
  | { ok: true; doc: T; fingerprint: string }
  | { ok: false; fingerprint: string; problems: ConfigProblem[]; summary: string };
export type ParseResult = DocumentResult<Rollout>;

/** `null` (key missing) is a valid state: everyone on stable. */
export function parseRollout(text: string | null): ParseResult {
  if (text === null) return { ok: true, doc: ALL_STABLE, fingerprint: NO_DOCUMENT };
  return parseDocument(text, rolloutSchema, '{"percent": 5}', sizeProblems);
}

/** `null` (key missing) is a valid state: no flags. */
export function parseFlags(text: string | null): DocumentResult<FlagsDocument> {
  if (text === null) return { ok: true, doc: NO_FLAGS, fingerprint: NO_DOCUMENT };
  return parseDocument(
    text,
    flagsDocumentSchema,
    '{"flags": {"new-checkout": {"rollout": {"percent": 10}}}}',
    textSize,
  );
}

/** A document with no size rules of its own: only the limit on its text. */
export function textSize(text: string): ConfigProblem[] {
  return utf8Bytes(text) > MAX_TEXT_BYTES ? [oversizedText(`${Math.ceil(utf8Bytes(text) / 1024)} KiB`)] : [];
}

export function parseDocument<S extends z.ZodMiniType>(
  text: string,
  schema: S,
  example: string,
  sized: (text: string, raw: Record<string, unknown>) => ConfigProblem[],
): DocumentResult<z.output<S>> {
  const fingerprint = fingerprintOf(text);
  // Depth before JSON.parse: nothing downstream (parse, stringify, the controller's save) recurses
  // over a document that passed.
  const tooDeep = textProblems(text);
  if (tooDeep.length) return fail(fingerprint, tooDeep);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return fail(fingerprint, [
      { path: "", message: `not valid JSON (${(e as Error).message}); check quotes and commas, e.g. '${example}'` },
    ]);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail(fingerprint, [{ path: "", message: `must be a JSON object such as ${example}, got ${describe(raw)}` }]);
  }
  const tooLarge = sized(text, raw as Record<string, unknown>);
  if (tooLarge.length) return fail(fingerprint, tooLarge);
  const r = schema.safeParse(raw);
  if (r.success) return { ok: true, doc: r.data as z.output<S>, fingerprint };
  return fail(
    fingerprint,
    r.error!.issues.flatMap((i) => explain(i, raw, [], schema)),
  );
}

export function fail(
  fingerprint: string,
  all: ConfigProblem[],
): { ok: false; fingerprint: string; problems: ConfigProblem[]; summary: string } {
  const problems = all.slice(0, MAX_PROBLEMS).map((p) => ({ ...p, path: clip(p.path, MAX_PATH_CHARS) }));
  if (all.length > MAX_PROBLEMS)
    problems.push({ path: "", message: `and ${all.length - MAX_PROBLEMS} more problems: fix these first` });
  const summary = problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join("; ");
  return { ok: false, fingerprint, problems, summary };
}

/** `at`: where the issue's own path starts (issues inside a union are relative to the union). */
function explain(issue: z.core.$ZodIssue, raw: unknown, at: PropertyKey[], schema: z.ZodMiniType): ConfigProblem[] {
  const full = [...at, ...issue.path];
  if (issue.code === "invalid_union") {
    // `false | {…}` and `number | {…}` fields: when the value has the type of exactly one branch,
    // that branch's own problem ("windowSeconds must be whole seconds") is the useful one; the
    // union's message ("rollback must be false or an object …") is for a value that fits neither.
    const fitting = issue.errors.filter((branch) => !branch.every(isTypeMismatchHere));
    if (fitting.length === 1) return fitting[0].flatMap((i) => explain(i, raw, full, schema));
  }
  const path = full.map(String).join(".");
  if (issue.code === "unrecognized_keys") {
    const known = knownKeysAt(schema, full);
    const keys = issue.keys.slice(0, 5).map((k) => clip(k, 40));
    const parts = keys.map((k) => {
      const guess = closest(k, known);
      return guess
        ? `unknown field "${k}" (did you mean "${guess}"?)`
        : `unknown field "${k}" (known: ${known.join(", ")})`;
    });
    const more = issue.keys.length > keys.length ? `; and ${issue.keys.length - keys.length} more unknown fields` : "";
    return [{ path, message: parts.join("; ") + more }];
  }
  if (issue.code === "invalid_key") {
    // A record's key (a flag's or a variation's name): the key's own problem, and the key as given.
    const key = full[full.length - 1];
    const inner = (issue as { issues?: { message: string }[] }).issues?.[0]?.message ?? issue.message;
    return [{ path, message: `${inner} (got ${describe(String(key))})` }];
  }
  const value = valueAt(raw, full);
  const got = value === undefined ? "" : ` (got ${describe(value)})`;
  return [{ path, message: `${issue.message}${got}` }];
}

function isTypeMismatchHere(issue: z.core.$ZodIssue): boolean {
  return issue.path.length === 0 && (issue.code === "invalid_type" || issue.code === "invalid_value");
}

function knownKeysAt(schema: z.ZodMiniType, path: PropertyKey[]): string[] {
  // Walk the schema along the path: an object's key names its field, an array's index or a
  // record's key its element; wrappers (default, optional, pipe) and unions are looked through.
  let node: any = schema;
  for (const seg of path) {
    node = unwrapToContainer(node);
    if (!node) return [];
    const def = node._zod?.def ?? node.def;
    if (def.type === "array") node = def.element;
    else if (def.type === "record") node = def.valueType;
    else node = node.shape?.[seg as string];
  }
  const obj = unwrapToContainer(node);
  return obj?.shape ? Object.keys(obj.shape) : [];
}

function unwrapToContainer(node: any): any {
  for (let i = 0; node && i < 10; i++) {
    const def = node._zod?.def ?? node.def;
    if (!def) return undefined;
    if (def.type === "object" || def.type === "array" || def.type === "record") return node;
    if (def.type === "union") node = def.options.find((o: any) => unwrapToContainer(o)) ?? def.options[0];
    else node = def.innerType ?? def.in ?? def.schema;
  }
  return undefined;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v: any = raw;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = v[seg as any];
  }
  return v;
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) + "…" : s;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(clip(v, 40));
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return String(v);
}
