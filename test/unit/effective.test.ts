// Which document an isolate routes by. The controller's view wins only over the KV copy it
// replaced: that is how a rollback reaches isolates before KV propagates, and why a view can never
// undo a newer operator write that the controller has not read yet.
import { describe, expect, it } from "vitest";
import { parseRollout } from "../../src/model/parse";
import { EMPTY_VIEW, type ControllerView } from "../../src/model/protocol";
import { effectiveRollout } from "../../src/routing/effective";

function version(json: object) {
  const r = parseRollout(JSON.stringify(json));
  if (!r.ok) throw new Error(r.summary);
  return { doc: r.doc, fingerprint: r.fingerprint };
}

const operator = version({ percent: 25, canary: "green", release: "v2" });
const rolledBack = version({
  percent: 25,
  canary: "green",
  release: "v2",
  rolledBack: { at: "2026-11-25T08:00:00Z", reason: "canary 18.0 % errors" },
});
const view = (fingerprint: string, doc = rolledBack.doc, supersedes: string[] = []): ControllerView => ({
  revision: 3,
  doc,
  fingerprint,
  supersedes,
});

describe("effectiveRollout", () => {
  it("routes by the KV copy before the controller has said anything", () => {
    expect(effectiveRollout(operator, EMPTY_VIEW)).toEqual({ ...operator, source: "kv" });
  });

  it("takes the controller's document when the KV copy is one it superseded (a rollback ahead of KV)", () => {
    const e = effectiveRollout(operator, view(rolledBack.fingerprint, rolledBack.doc, [operator.fingerprint]));
    expect(e).toEqual({ ...rolledBack, source: "controller" });
    expect(e.doc.rolledBack?.reason).toBe("canary 18.0 % errors");
  });

  it("takes the controller's document when KV has caught up with it (same version)", () => {
    expect(effectiveRollout(rolledBack, view(rolledBack.fingerprint))).toEqual({ ...rolledBack, source: "controller" });
  });

  it("keeps a KV copy the controller does not know yet: a new operator write is never undone by a stale view", () => {
    const retry = version({ percent: 5, canary: "green", release: "v2", attempt: 2 });
    const stale = view(rolledBack.fingerprint, rolledBack.doc, [operator.fingerprint]);
    expect(effectiveRollout(retry, stale)).toEqual({ ...retry, source: "kv" });
  });

  it("ignores a view without a document or fingerprint", () => {
    expect(effectiveRollout(operator, { ...EMPTY_VIEW, supersedes: [operator.fingerprint] })).toEqual({
      ...operator,
      source: "kv",
    });
    expect(
      effectiveRollout(operator, {
        revision: 1,
        doc: rolledBack.doc,
        fingerprint: null,
        supersedes: [operator.fingerprint],
      }),
    ).toEqual({ ...operator, source: "kv" });
  });
});
