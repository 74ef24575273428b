// The largest valid rollout document (src/model/limits.ts): shared by the unit tests of the limits
// and the controller's workerd test that stores, rolls back and restarts with it. No Workers API.
import { MAX_DOCUMENT_BYTES } from "../../src/model/limits";
import { utf8Bytes } from "../../src/lib/utf8";

/** A valid document as close to MAX_DOCUMENT_BYTES as header values of 64 characters allow. */
export function largestDocument(): Record<string, unknown> {
  const rules = [];
  const value = (r: number, i: number) => `${r}-${i}-`.padEnd(64, "x");
  // 4 rules × 300 values × ~67 bytes is over the limit: the last rule is trimmed to fit.
  const perRule = 300;
  for (let r = 0; r < 4; r++)
    rules.push({
      name: `beta-${r}`,
      header: { name: "x-user", values: Array.from({ length: perRule }, (_, i) => value(r, i)) },
    });
  const doc: Record<string, unknown> = { release: "v2", percent: 50, rules, rollback: { minRequests: 10 } };
  const sizeOf = () => utf8Bytes(JSON.stringify({ ...doc, percent: undefined }));
  const last = (rules[3].header as { values: string[] }).values;
  while (sizeOf() > MAX_DOCUMENT_BYTES) last.pop();
  return doc;
}
