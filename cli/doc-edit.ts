// Pure edits of the `rollout` document for `set` and `start`. They work on the document as the
// operator wrote it (raw JSON, defaults not filled in) so a read-modify-write keeps its shape,
// and they return notes that explain every change the operator did not type themselves.
import { parseRollout, type ConfigProblem } from "../src/model/parse";
import { stepPercent, type StepArg } from "./args";

export type RawDoc = Record<string, unknown>;

export interface Edit {
  doc: RawDoc;
  /** Sentences for the operator: what changed beyond the obvious, and why. */
  notes: string[];
}

/** Text → raw object for editing. An unreadable current document cannot be edited safely. */
export function rawFromText(text: string | null): { ok: true; doc: RawDoc } | { ok: false; problems: ConfigProblem[] } {
  if (text === null) return { ok: true, doc: {} };
  const r = parseRollout(text);
  if (!r.ok) return { ok: false, problems: r.problems };
  return { ok: true, doc: JSON.parse(text) as RawDoc };
}

/**
 * A rolled-back document stays rolled back until the operator acts (issue 3). Writing the
 * document again is that act: we drop `rolledBack` and bump `attempt`, so even an otherwise
 * identical document is a new version the controller treats as a new attempt, never as a stale
 * copy of the one it rolled back. A document that is not rolled back is returned unchanged.
 */
function clearRollbackWithNewAttempt(doc: RawDoc, notes: string[]): RawDoc {
  if (!doc.rolledBack) return doc;
  const rb = doc.rolledBack as { reason?: string; at?: string };
  const { rolledBack: _, ...rest } = doc;
  const attempt = (typeof doc.attempt === "number" ? doc.attempt : 0) + 1;
  notes.push(
    `the canary was rolled back${rb.at ? ` at ${rb.at}` : ""}${rb.reason ? ` (${rb.reason})` : ""}; this write is a new attempt: ` +
      `removed "rolledBack" and set "attempt" to ${attempt}`,
  );
  return { ...rest, attempt };
}

export function applySet(current: RawDoc, percent: number, opts: { release?: string } = {}): Edit {
  const notes: string[] = [];
  let doc = clearRollbackWithNewAttempt(current, notes);
  doc = { ...doc, percent };
  if (doc.steps) {
    // A hand-set split and a running plan would fight over `percent`; the operator's word wins.
    const { steps: _, ...rest } = doc;
    doc = rest;
    notes.push(
      `removed the plan ("steps") so the split stays where you set it; use \`edgeshift start\` to run a plan again`,
    );
  }
  if (opts.release !== undefined) doc.release = opts.release;
  return { doc, notes };
}

export function applyStart(
  current: RawDoc,
  steps: StepArg[],
  stepSeconds: number | undefined,
  opts: { release?: string } = {},
): Edit {
  const notes: string[] = [];
  let doc = clearRollbackWithNewAttempt(current, notes);
  if (Array.isArray(doc.steps) && !current.rolledBack)
    notes.push(
      `replaced the plan that was running (${(doc.steps as StepArg[]).map(stepPercent).join(" → ")} %, at ${doc.percent ?? 0} % now): the new one starts at its first step`,
    );
  // The plan begins at its first step now; the controller advances it from there while healthy.
  doc = { ...doc, steps, percent: stepPercent(steps[0]) };
  if (stepSeconds !== undefined) doc.stepSeconds = stepSeconds;
  if (opts.release !== undefined) doc.release = opts.release;
  return { doc, notes };
}

/** A document's problems, one indented `path: message` line each. */
export const problemsText = (ps: ConfigProblem[]) =>
  ps.map((p) => `  ${p.path || "(document)"}: ${p.message}`).join("\n");

/** The text written to KV: pretty, so `wrangler kv key get` stays readable. */
export function docText(doc: RawDoc): string {
  return JSON.stringify(doc, null, 2);
}
