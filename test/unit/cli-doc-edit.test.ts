import { describe, expect, it } from "vitest";
import { applySet, applyStart, docText, rawFromText } from "../../cli/doc-edit";
import { parseRollout } from "../../src/model/parse";

const rolledBack = {
  percent: 0,
  release: "v2",
  rolledBack: { at: "2026-11-25T08:00:00.000Z", reason: "canary error rate 40% > 5%" },
};

describe("set", () => {
  it("changes only percent (and release when given), keeping the operator's other fields as written", () => {
    const { doc, notes } = applySet({ percent: 5, stickyBy: "header:x-user-id", rollback: { maxErrorRate: 0.02 } }, 25);
    expect(doc).toEqual({ percent: 25, stickyBy: "header:x-user-id", rollback: { maxErrorRate: 0.02 } });
    expect(notes).toEqual([]);
    expect(applySet({}, 5, { release: "v3" }).doc).toEqual({ percent: 5, release: "v3" });
  });

  it("after a rollback: a new attempt — rolledBack removed, attempt bumped, and the note says why", () => {
    const { doc, notes } = applySet(rolledBack, 5);
    expect(doc).toEqual({ percent: 5, release: "v2", attempt: 1 });
    expect(notes[0]).toContain("canary error rate 40% > 5%");
    expect(notes[0]).toContain('"attempt" to 1');
    expect(applySet({ ...rolledBack, attempt: 3 }, 5).doc.attempt).toBe(4);
  });

  it("a manual split ends a plan (removes steps) and says so", () => {
    const { doc, notes } = applySet({ percent: 5, steps: [5, 50, 100], stepSeconds: 60 }, 10);
    expect(doc.steps).toBeUndefined();
    expect(notes.join()).toContain("removed the plan");
  });
});

describe("start", () => {
  it("writes the steps, the first step as percent, and the hold time", () => {
    const { doc } = applyStart({ release: "v2" }, [1, 5, 25], 120);
    expect(doc).toEqual({ release: "v2", steps: [1, 5, 25], percent: 1, stepSeconds: 120 });
    expect(parseRollout(docText(doc)).ok).toBe(true);
  });

  it("steps with their own hold time or an approval are written as objects the document accepts", () => {
    const steps = [1, { percent: 25, seconds: 600 }, { percent: 50, approve: true as const }, 100];
    const { doc } = applyStart({}, steps, undefined);
    expect(doc).toEqual({ steps, percent: 1 });
    const parsed = parseRollout(docText(doc));
    expect(parsed.ok && parsed.doc.steps).toEqual(steps);
    // A first step that is an object: the split starts at its percent.
    expect(applyStart({}, [{ percent: 5, approve: true }, 100], undefined).doc.percent).toBe(5);
  });

  it("over a running plan it says the plan was replaced", () => {
    const { notes } = applyStart({ steps: [1, 5, 25], percent: 5 }, [10, 100], undefined);
    expect(notes).toEqual([
      "replaced the plan that was running (1 → 5 → 25 %, at 5 % now): the new one starts at its first step",
    ]);
    expect(applyStart({ percent: 5 }, [10, 100], undefined).notes).toEqual([]);
  });

  it("after a rollback it is a new attempt too", () => {
    const { doc } = applyStart(rolledBack, [10, 50, 100], undefined);
    expect(doc.rolledBack).toBeUndefined();
    expect(doc.attempt).toBe(1);
  });
});

describe("reading the current document", () => {
  it("missing key → empty document; invalid → problems naming the field (never edited blind)", () => {
    expect(rawFromText(null)).toEqual({ ok: true, doc: {} });
    const bad = rawFromText('{"precent": 5}');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems[0].message).toContain('did you mean "percent"');
  });
});
