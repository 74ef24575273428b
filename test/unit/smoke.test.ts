import { it, expect } from "vitest";
import { parseRollout } from "../../src/config/parse";
it("reports a typo with a suggestion", () => {
  const r = parseRollout('{"precent": 5}');
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.summary).toContain('did you mean "percent"');
});
