// The controller's writes to the `rollout` KV key: read-modify-write that keeps every field the
// operator wrote (and its order) and changes only what the decision needs (percent, rolledBack …).
// Never overwrites a document the operator wrote in the meantime: theirs is a new attempt.
import { ROLLOUT_KEY } from "../model/names";
import { parseRollout } from "../model/parse";

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
  return JSON.stringify(next, null, 2);
}

export type KvWriteResult = { written: true } | { written: false; operatorText: string | null };

/**
 * Writes `text` unless KV now holds a version the controller does not know (`knows` false): an
 * operator's new write, which must win. A stale read of a known version is no reason to hold back.
 */
export async function writeRolloutIfOurs(
  kv: KVNamespace,
  text: string,
  knows: (fingerprint: string) => boolean,
): Promise<KvWriteResult> {
  const current = await kv.get(ROLLOUT_KEY);
  if (current !== text && !knows(parseRollout(current).fingerprint)) return { written: false, operatorText: current };
  if (current !== text) await kv.put(ROLLOUT_KEY, text);
  return { written: true };
}
