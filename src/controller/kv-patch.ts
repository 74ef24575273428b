// The pure half of the controller's writes to the `rollout` KV key (./kv-sync.ts does the I/O):
// a read-modify-write that keeps every field the operator wrote (and its order) and changes only
// what the decision needs (percent, rolledBack …), and the rule that an operator's write wins.
import { utf8Bytes } from "../lib/utf8";
import { MAX_TEXT_BYTES } from "../model/limits";

/** The operator's JSON object with `patch` applied; `undefined` in the patch removes a field. */
export function patchText(baseText: string | null, patch: Record<string, unknown>): string {
  let base: Record<string, unknown> = {};
  if (baseText) {
    try {
      const raw = JSON.parse(baseText);
      if (raw && typeof raw === "object" && !Array.isArray(raw)) base = raw;
    } catch {
      // Unreadable base: the patch alone, over schema defaults, is still a valid document.
    }
  }
  const next: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  // Indented for people reading `wrangler kv key get`, unless indenting a document near the size
  // limit would take it past the text limit (src/model/limits.ts): compact JSON always fits.
  const pretty = JSON.stringify(next, null, 2);
  return utf8Bytes(pretty) <= MAX_TEXT_BYTES ? pretty : JSON.stringify(next);
}

/**
 * What to do with the controller's `text` given what KV holds now (`current`, its fingerprint
 * `currentKnown` to the controller or not): a version the controller does not know is an
 * operator's new write, which must win; a stale read of a known version is no reason to hold back.
 */
export function kvWriteAction(current: string | null, text: string, currentKnown: boolean): "done" | "write" | "yield" {
  if (current === text) return "done";
  return currentKnown ? "write" : "yield";
}
