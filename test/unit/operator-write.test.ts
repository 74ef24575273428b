// The pure rules of an operator's write through the controller (src/controller/operator-write.ts).
import { describe, expect, it } from "vitest";
import { afterOperatorWrite, describeWriter, judgeOperatorWrite } from "../../src/controller/operator-write";
import { afterControllerWrite, initialState, knows, startAttempt } from "../../src/controller/state";
import { parseRollout } from "../../src/model/parse";
import { ALL_STABLE } from "../../src/model/rollout";
import { UNSEEN_HOLD_MS, UnseenVersions } from "../../src/controller/unseen-versions";

const at = "2026-01-01T00:00:00.000Z";
const A = '{"percent":10}';
const B = '{"percent":20}';
const fp = (t: string) => parseRollout(t).fingerprint;
/** Attempt 1 on A, then a controller write (a plan step) on top. */
function stepped() {
  const a = parseRollout(A);
  if (!a.ok) throw new Error("bad");
  const s = startAttempt(initialState(), A, a.fingerprint, a.doc, at);
  return afterControllerWrite(s, '{"percent":50}', "step1", ALL_STABLE);
}

describe("judgeOperatorWrite", () => {
  it("a base that is not the version in force is a conflict naming the one in force", () => {
    const s = stepped();
    const v = judgeOperatorWrite(s, fp(A), parseRollout(B));
    expect(v).toMatchObject({ kind: "refuse", outcome: { reason: "conflict", current: "step1" } });
    if (v.kind !== "refuse") throw new Error("not refused");
    expect(v.outcome.error).toMatch(/the controller's last write: a plan step/);
  });

  it("invalid, unchanged, or a write", () => {
    const s = stepped();
    expect(judgeOperatorWrite(s, "step1", parseRollout('{"percent":500}'))).toMatchObject({
      kind: "refuse",
      outcome: { reason: "invalid", problems: [{ path: "percent" }] },
    });
    const same = { ...s, fingerprint: fp(B) };
    expect(judgeOperatorWrite(same, fp(B), parseRollout(B))).toEqual({ kind: "unchanged" });
    expect(judgeOperatorWrite(s, "step1", parseRollout(B))).toMatchObject({ kind: "write", fingerprint: fp(B) });
  });

  it("with an invalid document in KV, only a write based on it may replace it", () => {
    const s = stepped();
    const invalid = { text: "{", fingerprint: "bad0", summary: "not valid JSON" };
    expect(judgeOperatorWrite(s, "step1", parseRollout(B), invalid)).toMatchObject({
      kind: "refuse",
      outcome: { reason: "conflict", current: "bad0" },
    });
    expect(judgeOperatorWrite(s, "bad0", parseRollout(B), invalid)).toMatchObject({ kind: "write" });
  });
});

describe("afterOperatorWrite", () => {
  it("a new attempt in the view at once: every known version superseded, revision up, the text owed to KV", () => {
    const s = stepped();
    const b = parseRollout(B);
    if (!b.ok) throw new Error("bad");
    const n = afterOperatorWrite(s, B, b.fingerprint, b.doc, at, "bad0");
    expect(n).toMatchObject({
      attempt: 2,
      fingerprint: b.fingerprint,
      fingerprints: [b.fingerprint],
      revision: s.revision + 1,
      viewFingerprint: b.fingerprint,
      pendingKvText: B,
    });
    expect(n.supersedes).toEqual(expect.arrayContaining([fp(A), "step1", "bad0"]));
    expect(n.supersedes).not.toContain(b.fingerprint);
  });

  it("may repeat a superseded text: it stops being superseded and is the view's version", () => {
    const s = stepped();
    const a = parseRollout(A);
    if (!a.ok) throw new Error("bad");
    expect(s.supersedes).toContain(a.fingerprint);
    const n = afterOperatorWrite(s, A, a.fingerprint, a.doc, at);
    expect(n.supersedes).not.toContain(a.fingerprint);
    expect(n.viewFingerprint).toBe(a.fingerprint);
    expect(knows(n, a.fingerprint)).toBe(true);
  });
});

it("describeWriter tells the controller's puts from raw ones", () => {
  expect(describeWriter({ writer: "edgeshift-controller", revision: 3, fingerprint: "x", by: "alice" })).toBe(
    "the controller (revision 3, for alice)",
  );
  expect(describeWriter(null)).toBe("a raw KV put (no controller metadata)");
});

describe("UnseenVersions", () => {
  it("holds a reported unknown version for UNSEEN_HOLD_MS, forgets it once known, gives it up after", () => {
    const u = new UnseenVersions();
    const known = new Set<string>();
    const isKnown = (f: string) => known.has(f);
    u.note(["x", "k"], (f) => f === "k", 1000);
    expect(u.awaited(isKnown, 1000 + UNSEEN_HOLD_MS - 1)).toBe("x");
    expect(u.giveUp(isKnown, 1000 + UNSEEN_HOLD_MS - 1)).toEqual([]);
    expect(u.awaited(isKnown, 1000 + UNSEEN_HOLD_MS)).toBeNull();
    expect(u.giveUp(isKnown, 1000 + UNSEEN_HOLD_MS)).toEqual([{ fingerprint: "x", since: 1000 }]);
    expect(u.giveUp(isKnown, 1000 + UNSEEN_HOLD_MS)).toEqual([]);
    u.note(["y"], isKnown, 5000);
    known.add("y");
    expect(u.awaited(isKnown, 5001)).toBeNull();
    expect(u.giveUp(isKnown, 5000 + UNSEEN_HOLD_MS)).toEqual([]);
  });

  it("remembers at most 32, the oldest going first; a second report keeps the first time", () => {
    const u = new UnseenVersions();
    const none = () => false;
    for (let i = 0; i < 40; i++) u.note([`v${i}`], none, i);
    u.note(["v39"], none, 999);
    const given = u.giveUp(none, 10 * UNSEEN_HOLD_MS);
    expect(given).toHaveLength(32);
    expect(given[0]).toEqual({ fingerprint: "v8", since: 8 });
    expect(given[31]).toEqual({ fingerprint: "v39", since: 39 });
  });
});
