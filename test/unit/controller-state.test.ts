// The controller's pure state rules: supersession bookkeeping, attempts, report counters.
import { describe, expect, it } from "vitest";
import {
  afterControllerWrite,
  afterReport,
  initialState,
  knows,
  MAX_SUPERSEDES,
  NO_REPORTS,
  repairParts,
  rolledBackOf,
  startAttempt,
  viewOf,
  windowSecondsOf,
} from "../../src/controller/state";
import { ALL_STABLE, rolloutSchema } from "../../src/model/rollout";

describe("supersession bookkeeping", () => {
  it("keeps at most 64 superseded versions, newest first, the operator's own always; never the version in force", () => {
    let s = { ...initialState(), attempt: 1, fingerprints: ["op"], fingerprint: "op" };
    for (let i = 0; i < 100; i++) s = afterControllerWrite(s, `t${i}`, `w${i}`, ALL_STABLE);
    expect(s.supersedes).toHaveLength(MAX_SUPERSEDES);
    expect(s.supersedes[0]).toBe("w98");
    expect(s.supersedes[MAX_SUPERSEDES - 2]).toBe("w36");
    expect(s.supersedes).not.toContain("w99");
    expect(s.viewFingerprint).toBe("w99");
    expect(s.revision).toBe(100);
    expect(knows(s, "w99") && knows(s, "w40")).toBe(true);
    // The operator's text of the attempt stays superseded: a stale copy of it never looks new.
    expect(s.supersedes).toContain("op");
    expect(s.fingerprints).toContain("op");
    expect(s.fingerprints).toHaveLength(MAX_SUPERSEDES);
  });

  it("a controller write is what isolates are told, and owes a KV write of its text", () => {
    const doc = rolloutSchema.parse({ percent: 0 });
    const s = afterControllerWrite({ ...initialState(), attempt: 1, fingerprints: ["op"] }, "text", "mine", doc);
    expect(viewOf(s)).toEqual({ revision: 1, doc, fingerprint: "mine", supersedes: ["op"] });
    expect(s).toMatchObject({ source: "controller", pendingKvText: "text", fingerprints: ["mine", "op"] });
  });
});

describe("a new attempt", () => {
  it("counts up, keeps what was superseded, forgets the rollback, the promotion and a write still owed", () => {
    const before = {
      ...initialState(),
      attempt: 3,
      supersedes: ["old"],
      rolledBack: { at: "t", reason: "bad" },
      promotedAt: "t",
      pendingKvText: "owed",
    };
    const doc = rolloutSchema.parse({ percent: 5, release: "v4" });
    const s = startAttempt(before, "{}", "new", doc, "2026-01-01T00:00:00.000Z");
    expect(s).toMatchObject({
      attempt: 4,
      attemptStartedAt: "2026-01-01T00:00:00.000Z",
      fingerprint: "new",
      fingerprints: ["new"],
      supersedes: ["old"],
      source: "kv",
      rolledBack: null,
      promotedAt: null,
      pendingKvText: null,
    });
  });

  it("a document that carries rolledBack starts rolled back", () => {
    const doc = rolloutSchema.parse({ percent: 5, rolledBack: { at: "t", reason: "by hand" } });
    expect(startAttempt(initialState(), "{}", "f", doc, "t").rolledBack).toMatchObject({ reason: "by hand" });
  });

  it("rolledBack.by names who aborted; an empty one names nobody", () => {
    const of = (rolledBack: object) => rolledBackOf(rolloutSchema.parse({ rolledBack }));
    expect(of({ at: "t", reason: "bad deploy", by: "alice" })).toEqual({ at: "t", reason: "bad deploy", by: "alice" });
    expect(of({ at: "t", reason: "x", by: "" })).not.toHaveProperty("by");
    expect(of({ at: "t", reason: "x" })).not.toHaveProperty("by");
    expect(rolledBackOf(rolloutSchema.parse({}))).toBeNull();
  });
});

describe("report counters", () => {
  it("adds what isolates say they dropped, could not mirror or diverted; garbage and negatives count as 0", () => {
    const at = Date.UTC(2026, 0, 1);
    let c = afterReport(NO_REPORTS, { dropped: 3, mirrorsSkipped: 2, diverted: 4 }, at);
    c = afterReport(c, { dropped: -5, mirrorsSkipped: "x" as unknown as number }, at + 1000);
    c = afterReport(c, null, at + 2000);
    expect(c).toEqual({
      received: 3,
      droppedByIsolates: 3,
      mirrorsSkipped: 2,
      diverted: 4,
      lastAt: "2026-01-01T00:00:02.000Z",
    });
  });

  it("the window is rollback.windowSeconds, 60 with rollback off", () => {
    expect(windowSecondsOf(rolloutSchema.parse({ rollback: { windowSeconds: 120 } }))).toBe(120);
    expect(windowSecondsOf(rolloutSchema.parse({ rollback: false }))).toBe(60);
  });
});

describe("repairParts (unreadable document rows at start-up)", () => {
  const doc = rolloutSchema.parse({ percent: 30, release: "v2" });
  const text = JSON.stringify({ percent: 30, release: "v2" });
  const s = { ...initialState(), attempt: 4, text, doc, viewDoc: doc, viewFingerprint: "fp", pendingKvText: text };

  it("a lost doc is rebuilt from the text; the other fields kept", () => {
    const r = repairParts({ ...s, doc: ALL_STABLE }, ["doc"]);
    expect(r.doc.percent).toBe(30);
    expect(r.doc.release).toBe("v2");
    expect(r.attempt).toBe(4);
    expect(r.viewDoc).toBe(doc);
  });
  it("a lost text is the doc written out; both lost: all on stable, no text", () => {
    expect(JSON.parse(repairParts({ ...s, text: null }, ["text"]).text!).percent).toBe(30);
    const both = repairParts({ ...s, text: null, doc: ALL_STABLE }, ["text", "doc"]);
    expect(both.doc).toBe(ALL_STABLE);
    expect(both.text).toBeNull();
    expect(both.attempt).toBe(4);
  });
  it("a lost view or pending write: none (KV's copy stands)", () => {
    const r = repairParts(s, ["viewDoc", "pendingKvText"]);
    expect(r.viewDoc).toBeNull();
    expect(r.viewFingerprint).toBeNull();
    expect(r.pendingKvText).toBeNull();
    expect(repairParts(s, [])).toBe(s);
  });
});
