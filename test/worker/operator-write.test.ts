// No lost writes (issue 9): operators' writes through the controller against the version they
// read, raw KV puts the controller finds when it is about to write, and the one lock that keeps
// the controller's own KV write and an operator's write from interleaving. Real KV, real Durable
// Object; the interleavings are made for real (a put before the controller's write; the controller
// held between its check and its put by a test seam).
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { effectiveRollout } from "../../src/routing/effective";
import { parseRollout } from "../../src/model/parse";
import { fingerprintOf } from "../../src/model/fingerprint";
import type { ControllerRpc } from "../../src/controller/rpc";
import type { RolloutController } from "../../src/controller/durable-object";
import type { KvSync } from "../../src/controller/kv-sync";
import { counters, freshController, putDoc, report } from "./controller-helpers";

let current: ControllerRpc | null = null;
const controller = () => (current = freshController());
afterEach(async () => {
  await current?.settle();
  current = null;
});

const base = { percent: 20, canary: "green", release: "v2", rollback: { minRequests: 20, windowSeconds: 60 } };
const text = (doc: unknown) => JSON.stringify(doc, null, 2);
const stub = (c: ControllerRpc) => c as unknown as DurableObjectStub<RolloutController>;
/** The object's private parts (TypeScript-private, reachable at run time), as the other controller tests do. */
type Inner = { kv: KvSync; clock: () => number; release?: () => void };
const inner = (o: unknown) => o as Inner;
const kinds = async (c: ControllerRpc, n = 20) => (await c.history(n)).map((e) => e.kind);

async function started(doc: unknown = base) {
  const c = controller();
  const put = await putDoc(doc);
  await c.report(report(put.fp, counters(1), counters(1)));
  return { c, ...put };
}

describe("operator writes through the controller", () => {
  it("a write on the version in force lands in the view at once and in KV, with the controller's metadata", async () => {
    const { c, fp } = await started();
    const v = await c.document();
    expect(v.fingerprint).toBe(fp);
    const next = text({ ...base, percent: 40 });
    const out = await c.writeDocument({ text: next, ifMatch: v.fingerprint, actor: "alice", reason: "raise" });
    expect(out).toMatchObject({
      ok: true,
      changed: true,
      fingerprint: fingerprintOf(next),
      previous: fp,
      kv: "written",
    });
    const kv = await env.ROLLOUT_CONFIG.getWithMetadata("rollout");
    expect(kv.value).toBe(next);
    expect(kv.metadata).toMatchObject({
      writer: "edgeshift-controller",
      fingerprint: fingerprintOf(next),
      by: "alice",
    });
    // An isolate still holding the old KV copy routes by the new document: the view supersedes it.
    const view = await c.view();
    const old = parseRollout(JSON.stringify(base));
    if (!old.ok) throw new Error("bad doc");
    const eff = effectiveRollout({ doc: old.doc, fingerprint: old.fingerprint }, view);
    expect(eff).toMatchObject({ source: "controller", fingerprint: fingerprintOf(next) });
    expect(eff.doc.percent).toBe(40);
    const h = await c.history(1);
    expect(h[0]).toMatchObject({ kind: "attempt", actor: "alice", data: { previous: fp, reason: "raise" } });
    expect(h[0].reason).toMatch(/attempt 2: .* at 40 % \(written through the admin API\)/);
  });

  it("a stale base is refused with the version in force; nothing is written", async () => {
    const { c, fp } = await started();
    const first = await c.writeDocument({ text: text({ ...base, percent: 30 }), ifMatch: fp, actor: "alice" });
    expect(first.ok).toBe(true);
    const before = await env.ROLLOUT_CONFIG.get("rollout");
    const late = await c.writeDocument({ text: text({ ...base, percent: 5 }), ifMatch: fp, actor: "bob" });
    expect(late).toMatchObject({ ok: false, reason: "conflict", current: fingerprintOf(before!) });
    if (late.ok) throw new Error("not refused");
    expect(late.error).toContain(`version ${fp} was read`);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(before);
    expect((await c.status()).percent).toBe(30);
  });

  it("an invalid document is refused with its problems; the same text again is no change", async () => {
    const { c, fp } = await started();
    const bad = await c.writeDocument({ text: text({ ...base, percent: 250 }), ifMatch: fp, actor: "alice" });
    expect(bad).toMatchObject({ ok: false, reason: "invalid", problems: [{ path: "percent" }] });
    const same = await c.writeDocument({ text: JSON.stringify(base), ifMatch: fp, actor: "alice" });
    expect(same).toMatchObject({ ok: true, changed: false, fingerprint: fp });
    expect(await kinds(c)).toEqual(["attempt"]);
  });

  it("a raw put the controller has not seen is the version in force: a write based on the older one gets 409", async () => {
    const { c, fp } = await started();
    const raw = await putDoc({ ...base, percent: 60 });
    const out = await c.writeDocument({ text: text({ ...base, percent: 5 }), ifMatch: fp, actor: "alice" });
    expect(out).toMatchObject({ ok: false, reason: "conflict", current: raw.fp });
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(raw.text);
  });

  it("an invalid raw put is not written over unseen: the base must be that version (the last good one still routes)", async () => {
    const { c, fp } = await started();
    const invalid = JSON.stringify({ ...base, precent: 5 });
    await env.ROLLOUT_CONFIG.put("rollout", invalid);
    const v = await c.document();
    expect(v).toMatchObject({ fingerprint: fingerprintOf(invalid), text: invalid });
    const stale = await c.writeDocument({ text: text({ ...base, percent: 1 }), ifMatch: fp, actor: "alice" });
    expect(stale).toMatchObject({ ok: false, reason: "conflict", current: fingerprintOf(invalid) });
    if (stale.ok) throw new Error("not refused");
    expect(stale.error).toMatch(/KV holds an invalid document.*unknown field "precent"/);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(invalid);
    const fixed = text({ ...base, percent: 5 });
    expect(await c.writeDocument({ text: fixed, ifMatch: v.fingerprint, actor: "alice" })).toMatchObject({
      ok: true,
      changed: true,
    });
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(fixed);
    expect((await c.status()).configError).toBeNull();
  });

  it("a write while a plan step is due: both land in order, or the write that raced gets 409; nothing is lost", async () => {
    const plan = { ...base, percent: 10, steps: [10, 50, 100], stepSeconds: 60 };
    const c = controller();
    await putDoc(plan);
    await c.view();
    await c.settle();
    const read = await c.document();
    expect(JSON.parse(read.text!).percent).toBe(10);
    await c.report(report(read.fingerprint, counters(30), counters(270)));
    await runInDurableObject(stub(c), (o) => {
      inner(o).clock = () => Date.now() + 61_000;
    });
    // The operator's change (steps kept, release renamed) and the step's alarm, at the same time.
    const mine = text({ ...JSON.parse(read.text!), release: "v2-hotfix" });
    const [out] = await Promise.all([
      c.writeDocument({ text: mine, ifMatch: read.fingerprint, actor: "alice" }),
      runDurableObjectAlarm(stub(c)),
    ]);
    await c.settle();
    const kv = await env.ROLLOUT_CONFIG.get("rollout");
    const s = await c.status();
    // KV and the controller agree, whichever came first.
    expect(s.config.fingerprint).toBe(fingerprintOf(kv!));
    const h = await c.history(20);
    if (out.ok) {
      // The write came first: it is a new attempt (its plan restarts at 10 %); the step is not applied over it.
      expect(JSON.parse(kv!)).toMatchObject({ release: "v2-hotfix", percent: 10 });
      expect(h.find((e) => e.kind === "attempt" && e.actor === "alice")).toBeDefined();
      expect(h.some((e) => e.kind === "step" && e.id > h.find((x) => x.actor === "alice")!.id)).toBe(false);
    } else {
      // The step came first: the write is refused naming the step's version, which KV holds.
      expect(out).toMatchObject({ reason: "conflict", current: fingerprintOf(kv!) });
      expect(JSON.parse(kv!)).toMatchObject({ release: "v2", percent: 50 });
      expect(h[0].kind).toBe("step");
      // Re-read and re-apply, as the CLI tells the operator to: now it lands.
      const again = await c.document();
      const retry = text({ ...JSON.parse(again.text!), release: "v2-hotfix" });
      expect(await c.writeDocument({ text: retry, ifMatch: again.fingerprint, actor: "alice" })).toMatchObject({
        ok: true,
      });
      expect(JSON.parse((await env.ROLLOUT_CONFIG.get("rollout"))!)).toMatchObject({ release: "v2-hotfix" });
    }
    console.log(`plan-step race: ${out.ok ? "the write came first" : "the step came first (409)"}`);
  });
});

describe("raw KV puts", () => {
  it("a raw put between the controller's last read and its write is not overwritten: the operator's write wins, said so", async () => {
    const { c, fp } = await started();
    // The operator writes; the controller has not read it (no report names it) when the canary fails.
    const raw = await putDoc({ ...base, percent: 35, release: "v3" });
    const v = await c.report(report(fp, counters(30, 30), counters(100)));
    expect(v.doc?.rolledBack).toBeDefined();
    await c.settle();
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(raw.text);
    const h = await c.history(5);
    expect(h.map((e) => e.kind)).toEqual(["attempt", "operator-write-won", "rollback", "attempt"]);
    expect(h[1].data).toMatchObject({
      operator: raw.fp,
      dropped: fingerprintOf(text({ ...base, percent: 0, rolledBack: (v.doc as any).rolledBack })),
    });
    expect(h[1].reason).toMatch(new RegExp(`KV holds version ${raw.fp} \\(a raw KV put.*rollback`));
    // The operator's document is the new attempt; an isolate holding it routes by it.
    const s = await c.status();
    expect(s).toMatchObject({ state: "running", percent: 35, release: "v3" });
    const parsed = parseRollout(raw.text);
    if (!parsed.ok) throw new Error("bad doc");
    expect(effectiveRollout({ doc: parsed.doc, fingerprint: raw.fp }, await c.view()).source).toBe("kv");
  });
});

describe("a version isolates route by that KV has not shown the controller yet", () => {
  // KV carries a write from one location to another in up to 60 s: an operator's raw put made
  // elsewhere can reach isolates there before the controller's own KV reads show it.
  async function heldRollback() {
    const { c, fp, text: baseText } = await started();
    const elsewhere = text({ ...base, percent: 45, release: "v3" });
    // An isolate already routes by it; KV here still holds the base.
    await c.report(report(fingerprintOf(elsewhere), counters(1), counters(1)));
    const v = await c.report(report(fp, counters(30, 30), counters(100)));
    expect(v.doc?.rolledBack).toBeDefined();
    await c.settle();
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(baseText);
    return { c, elsewhere, rollbackText: text({ ...base, percent: 0, rolledBack: v.doc!.rolledBack }) };
  }
  async function alarmAfter(c: ControllerRpc, seconds: number) {
    await runInDurableObject(stub(c), (o) => {
      inner(o).clock = () => Date.now() + seconds * 1000;
    });
    await runDurableObjectAlarm(stub(c));
    await c.settle();
  }

  it("holds the controller's KV write back until KV shows it; then the operator's version wins", async () => {
    const { c, elsewhere } = await heldRollback();
    await env.ROLLOUT_CONFIG.put("rollout", elsewhere);
    await alarmAfter(c, 3);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(elsewhere);
    expect(await kinds(c, 4)).toEqual(["attempt", "operator-write-won", "rollback", "attempt"]);
    expect((await c.status()).release).toBe("v3");
  });

  it("an operator's write through the API meanwhile is refused (409), not written over it", async () => {
    const { c } = await heldRollback();
    const v = await c.document();
    const out = await c.writeDocument({
      text: text({ ...base, percent: 1, attempt: 2 }),
      ifMatch: v.fingerprint,
      actor: "alice",
    });
    expect(out).toMatchObject({ ok: false, reason: "conflict" });
    if (out.ok) throw new Error("not refused");
    expect(out.error).toMatch(
      /isolates already route by version [0-9a-f]{16}, which KV has not shown the controller yet/,
    );
  });

  it("a version older than KV's (an earlier attempt's, or no document) holds nothing back: isolates report those while their copy is stale", async () => {
    const { c, fp: first } = await started();
    const second = await putDoc({ ...base, release: "v4" });
    await c.report(report(second.fp, counters(1), counters(1)));
    expect((await c.status()).release).toBe("v4");
    // Isolates whose cached copy is older (up to KV's 60 s at the edge) still report under it.
    await c.report(report(first, counters(1), counters(1)));
    await c.report(report("none", counters(0), counters(1)));
    const v = await c.report(report(second.fp, counters(30, 30), counters(100)));
    expect(v.doc?.rolledBack).toBeDefined();
    await c.settle();
    expect(JSON.parse((await env.ROLLOUT_CONFIG.get("rollout"))!)).toMatchObject({ release: "v4", percent: 0 });
    await alarmAfter(c, 61);
    expect(await kinds(c)).not.toContain("operator-write-unseen");
  });

  it("never shown within 60 s: the controller writes, and the event says that version may be lost", async () => {
    const { c, elsewhere, rollbackText } = await heldRollback();
    await alarmAfter(c, 61);
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(rollbackText);
    const h = await c.history(1);
    expect(h[0]).toMatchObject({ kind: "operator-write-unseen", data: { unseen: fingerprintOf(elsewhere) } });
    expect(h[0].reason).toMatch(/may be lost: check the document and write it again/);
  });
});

describe("the one lock", () => {
  // 0 ms: the controller is between its check and its put. 2300 ms: its put has outlived the 2 s
  // KV timeout (the write is given up on and retried by alarm) but is still on its way.
  it.each([
    ["waits while the controller is between its check and its put", 0],
    ["waits for a put still in flight after its timeout", 2300],
  ])("an operator's write %s, and is not replaced by that put", async (_what, afterMs) => {
    const { c } = await started();
    // Hold the controller's next KV write after it has checked KV and before it puts.
    await runInDurableObject(stub(c), (o) => {
      const i = inner(o);
      i.kv.beforePut = () =>
        new Promise<void>((resolve) => {
          i.release = resolve;
          i.kv.beforePut = null;
        });
    });
    const rolled = await c.report(report((await c.status()).config.fingerprint, counters(30, 30), counters(100)));
    expect(rolled.doc?.rolledBack).toBeDefined();
    await new Promise((r) => setTimeout(r, afterMs));
    // The operator read the controller's new version (as GET /api/rollout would) and writes on it.
    const mine = text({ ...base, percent: 5, attempt: 2 });
    const write = c.writeDocument({ text: mine, ifMatch: rolled.fingerprint!, actor: "alice" });
    let settled = false;
    void write.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    await runInDurableObject(stub(c), (o) => inner(o).release!());
    expect(await write).toMatchObject({ ok: true, changed: true, kv: "written" });
    await c.settle();
    expect(await env.ROLLOUT_CONFIG.get("rollout")).toBe(mine);
    expect(await kinds(c, 3)).toEqual(["attempt", "rollback", "attempt"]);
  });
});

describe("KV metadata", () => {
  it("the controller's own writes say so; a raw put has none", async () => {
    const { c, fp } = await started();
    expect((await env.ROLLOUT_CONFIG.getWithMetadata("rollout")).metadata).toBeNull();
    await c.report(report(fp, counters(30, 30), counters(100)));
    await c.settle();
    expect((await env.ROLLOUT_CONFIG.getWithMetadata("rollout")).metadata).toMatchObject({
      writer: "edgeshift-controller",
      by: "controller",
    });
  });
});

describe("operator calls are never queued behind reports", () => {
  it("a report under a version KV has to be read for answers at once, and status answers while that read is held", async () => {
    const { c } = await started();
    // An operator's raw put the controller has not read yet; an isolate already reports under it.
    const raw = await putDoc({ ...base, percent: 30, release: "v3" });
    await runInDurableObject(stub(c), (o) => {
      const i = inner(o);
      i.kv.beforeRead = () =>
        new Promise<void>((resolve) => {
          i.release = resolve;
          i.kv.beforeRead = null;
        });
    });
    let released = false;
    // Before the change the report awaited the KV read inline: this await never returned while held.
    const view = await c.report(report(raw.fp, counters(10), counters(10)));
    expect(released).toBe(false);
    expect(view.fingerprint).not.toBe(raw.fp);
    // status() re-reads KV, but a held read (whoever started it) does not hold the operator's answer.
    const s = await c.status();
    expect(released).toBe(false);
    expect(s.release).toBe("v2");
    await runInDurableObject(stub(c), (o) => inner(o).release!());
    released = true;
    await c.settle();
    // Once KV answered, the report was counted under the version it named (a new attempt).
    const after = await c.status();
    expect(after).toMatchObject({ release: "v3", percent: 30 });
    expect(after.window.canary.requests).toBe(10);
  });
});
