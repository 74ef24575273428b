// Decisions nothing can lose (issue 9): the document's bounds, the controller's storage at the
// largest valid document, and a rollback whose state cannot be saved. Real KV, real Durable Object
// storage, real origins; the save failure is a real SQLite error (a trigger that aborts the write).
import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import type { RolloutController } from "../../src/controller/durable-object";
import { controllerStub, type ControllerRpc } from "../../src/controller/rpc";
import { expireConfigCache, getConfigState } from "../../src/worker/config-cache";
import { recorder } from "../../src/worker/telemetry";
import { controllerById, counters, freshController, kvDoc, putDoc, report } from "./controller-helpers";
import { largestDocument } from "./largest-document";
import { MAX_TEXT_BYTES } from "../../src/model/limits";
import { utf8Bytes } from "../../src/lib/utf8";
import { parseRollout } from "../../src/model/parse";
import { fingerprintOf } from "../../src/model/fingerprint";
import { echo, fromCrowd, get, useRollout } from "./helpers";

const receiver = () => inject("hooksUrl") + "/legacy-bounds";
let current: ControllerRpc | null = null;
afterEach(async () => {
  await current?.settle();
  current = null;
  await fetch(receiver(), { method: "DELETE" });
});

type Stub = DurableObjectStub<RolloutController>;
const inObject = <T>(c: ControllerRpc, fn: (i: RolloutController, s: DurableObjectState) => T) =>
  runInDurableObject(c as unknown as Stub, fn);

/** The controller's rows: key and stored size in bytes. */
const rowSizes = (c: ControllerRpc) =>
  inObject(c, (_, s) =>
    s.storage.sql.exec<{ k: string; n: number }>(`SELECT k, length(CAST(v AS BLOB)) AS n FROM kv_state`).toArray(),
  );

const failing = (fp: string) => report(fp, counters(30, 30), counters(100));

describe("the largest valid document", () => {
  it("is stored, rolled back and survives a restart; no row holds more than one copy", async () => {
    const c = (current = freshController());
    // The worst case for storage: 64 KiB of content, padded to the 256 KiB text limit with line
    // breaks, which the state's JSON stores escaped (two bytes each).
    const compact = JSON.stringify(largestDocument());
    const text = compact + "\n".repeat(MAX_TEXT_BYTES - utf8Bytes(compact));
    expect(parseRollout(text).ok).toBe(true);
    await env.ROLLOUT_CONFIG.put("rollout", text);
    const fp = fingerprintOf(text);
    await c.report(report(fp, counters(5), counters(50)));
    const sizes = async () => Math.max(...(await rowSizes(c)).map((r) => r.n));
    // One copy per row: the operator's text, escaped, is the largest; half of SQLite's 2 MB at most.
    expect(await sizes()).toBeGreaterThan(MAX_TEXT_BYTES + 100 * 1024);
    expect(await sizes()).toBeLessThan(1024 * 1024);

    const v = await c.report(failing(fp));
    expect(v.doc?.rolledBack?.reason).toMatch(/canary/);
    await c.settle();
    expect((await kvDoc()).rolledBack).toBeDefined();
    expect(await sizes()).toBeLessThan(1024 * 1024);
    expect((await rowSizes(c)).map((r) => r.k)).toEqual(
      expect.arrayContaining(["controller", "controller.doc", "controller.text", "controller.viewDoc"]),
    );

    await abortAllDurableObjects();
    const again = (current = controllerById(c.id));
    const s = await again.status();
    expect(s.state).toBe("rolled-back");
    expect(s.saveError).toBeNull();
    expect((await again.view()).revision).toBe(1);
    expect((await again.history(5)).map((e) => e.kind)).toEqual(["rollback", "attempt"]);
  });

  it("an unreadable document row costs that field only: the rollback and attempt survive a restart, and status says so", async () => {
    // Before issue 9's review one corrupt part row made getParts return null: the whole state
    // reset to attempt 0, the rollback forgotten.
    const c = (current = freshController());
    const { fp } = await putDoc({ percent: 20, release: "v1", rollback: { minRequests: 20 } });
    await c.report(report(fp, counters(5), counters(50)));
    expect((await c.report(failing(fp))).doc?.rolledBack).toBeDefined();
    await c.settle();
    const before = await c.status();
    await inObject(c, (_, s) => {
      s.storage.sql.exec(`UPDATE kv_state SET v = '{"percent": 2' WHERE k IN ('controller.doc', 'controller.viewDoc')`);
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await abortAllDurableObjects();
      const again = (current = controllerById(c.id));
      const s = await again.status();
      expect(s.state).toBe("rolled-back");
      expect(s.release).toBe("v1");
      expect(s.config.fingerprint).toBe(before.config.fingerprint);
      expect(s.rolledBack?.reason).toBe(before.rolledBack?.reason);
      // The view's document is gone: isolates follow KV's copy (which holds the rollback); its
      // revision never goes back (a reset to 0 would make isolates ignore the controller).
      const view = await again.view();
      expect(view.doc).toBeNull();
      expect(view.revision).toBe(1);
      expect(s.stateRepaired?.fields.sort()).toEqual(["doc", "viewDoc"]);
      expect((await kvDoc()).rolledBack).toBeDefined();
      expect((await again.history(5)).map((e) => e.kind)).toEqual(["rollback", "attempt"]);
    } finally {
      logged.mockRestore();
    }
  });

  it("reads a state saved before the split (one row holding every field)", async () => {
    const c = (current = freshController());
    const { fp } = await putDoc({ percent: 20, release: "v1", rollback: { minRequests: 20 } });
    await c.report(report(fp, counters(5), counters(50)));
    await inObject(c, (_, s) => {
      const sql = s.storage.sql;
      const whole = JSON.parse(sql.exec<{ v: string }>(`SELECT v FROM kv_state WHERE k = 'controller'`).one().v);
      for (const f of ["text", "doc", "viewDoc", "pendingKvText"])
        whole[f] = JSON.parse(sql.exec<{ v: string }>(`SELECT v FROM kv_state WHERE k = ?`, `controller.${f}`).one().v);
      sql.exec(`DELETE FROM kv_state WHERE k LIKE 'controller.%'`);
      sql.exec(`UPDATE kv_state SET v = ? WHERE k = 'controller'`, JSON.stringify(whole));
    });
    await abortAllDurableObjects();
    const again = (current = controllerById(c.id));
    const s = await again.status();
    expect(s.release).toBe("v1");
    expect(s.percent).toBe(20);
    expect(s.window.canary.requests).toBe(0); // no window rows were written yet; the state is what matters
    expect((await again.history(5)).map((e) => e.kind)).toEqual(["attempt"]);
  });
});

describe("the controller's own record", () => {
  it("a rolledBack over its 16 KiB limit (a long abort reason) is shortened in KV, never refused; the event keeps it whole", async () => {
    const c = (current = freshController());
    await putDoc({ percent: 30, release: "v4" });
    const reason = "because ".repeat(3000);
    const s = await c.action("abort", { actor: "alice", reason });
    expect(s.state).toBe("rolled-back");
    const kv = await kvDoc();
    expect(kv).toMatchObject({ percent: 0, rolledBack: { by: "alice", release: "v4" } });
    expect(kv.rolledBack.reason.length).toBe(1001);
    expect((await c.history(1))[0]).toMatchObject({ kind: "abort", reason: reason.trim() });
  });
});

describe("a state that cannot be saved", () => {
  it("still rolls back: KV, the event log and the webhook get it, status says the save failed; a restart keeps everyone on stable", async () => {
    const c = (current = freshController());
    await inObject(c, (i) => {
      i.webhookUrlOverride = receiver();
    });
    const { fp } = await putDoc({ percent: 50, release: "v3", rollback: { minRequests: 20 } });
    await c.report(report(fp, counters(5), counters(50)));
    // From here every write of the controller's state fails inside SQLite, as SQLITE_TOOBIG did.
    await inObject(c, (_, s) => {
      s.storage.sql.exec(`CREATE TRIGGER refuse_state BEFORE UPDATE ON kv_state WHEN NEW.k LIKE 'controller%'
        BEGIN SELECT RAISE(ABORT, 'string or blob too big'); END`);
    });

    const v = await c.report(failing(fp));
    expect(v.doc?.rolledBack).toBeDefined();
    await c.settle();

    expect((await kvDoc()).rolledBack).toMatchObject({ release: "v3" });
    expect((await c.history(5)).map((e) => e.kind)).toEqual(["rollback", "attempt"]);
    await vi.waitFor(
      async () => {
        const got = (await (await fetch(receiver())).json()) as any[];
        if (!got.some((b) => b.event?.kind === "rollback")) throw new Error("no rollback webhook yet");
      },
      { timeout: 10_000, interval: 100 },
    );
    const s = await c.status();
    expect(s.state).toBe("rolled-back");
    expect(s.saveError?.message).toMatch(/string or blob too big/);

    // The object restarts with the state it saved before the failure; KV's rolled-back document
    // (a version it never saw) becomes the operator's intent and keeps everyone on stable.
    await inObject(c, (_, s2) => s2.storage.sql.exec(`DROP TRIGGER refuse_state`));
    await abortAllDurableObjects();
    const again = (current = controllerById(c.id));
    const after = await again.status();
    expect(after.state).toBe("rolled-back");
    expect(after.percent).toBe(0);
    expect(after.saveError).toBeNull();
  });
});

// The attacks of issue 9 through the real Worker (SELF) and the deployment's controller: an
// invalid document never replaces the last good one, in the isolate or in the controller.
describe("through the proxy and the controller", () => {
  // A new release per test: a byte-identical re-write of a version the controller superseded
  // (the previous test's rollback) is a stale copy to it, not a new attempt.
  let good = { percent: 100, canary: "green", release: "", rollback: { minRequests: 10, relative: false } };
  let n = 0;
  beforeEach(() => {
    good = { ...good, release: `good-${++n}` };
  });
  const origin = async (path = "/") => (await echo(path, { headers: { "x-user-id": "fixed" } })).j.origin as string;
  /**
   * The canary answers (percent 100). On a loaded machine the gate may send one request to stable
   * (no fresh verdict within its 250 ms wait: `diverted`); the next one has the verdict fetched meanwhile.
   */
  const onCanary = () =>
    vi.waitFor(
      async () => {
        const o = await origin();
        if (o !== "green") throw new Error(`answered by ${o}`);
        return o;
      },
      { timeout: 10_000, interval: 50 },
    );

  /** Writes `text` over the good document in a warm isolate; waits until the isolate and the controller have judged it. */
  async function replaceWith(text: string) {
    await useRollout(good);
    expect(await onCanary()).toBe("green");
    await controllerStub(env).status();
    await env.ROLLOUT_CONFIG.put("rollout", text);
    expireConfigCache();
    await echo("/");
    await vi.waitFor(() => expect(getConfigState().lastError).not.toBeNull());
    return { isolate: getConfigState(), controller: await controllerStub(env).status() };
  }

  const quiet = () => vi.spyOn(console, "error").mockImplementation(() => {});

  it("the 1.2 MB / 75k-value document is rejected with its field and limit; the last good routes; a rollback still lands and survives a restart", async () => {
    const errors = quiet();
    try {
      const values = Array.from({ length: 75_000 }, (_, i) => `user-${String(i).padStart(10, "0")}`);
      const text = JSON.stringify({ ...good, percent: 0, rules: [{ header: { name: "x-user-id", values } }] });
      expect(text.length).toBeGreaterThan(1_200_000);
      const { isolate, controller } = await replaceWith(text);
      // The controller names the field; an isolate stops reading at the 256 KiB text limit (it used
      // to read and parse the whole text every TTL) and points at the controller's status.
      expect(controller.configError!.summary).toMatch(
        /rules\.0\.header\.values holds 1\.\d MiB of it \(75000 entries\).*/,
      );
      expect(controller.configError!.summary).toMatch(/at most 64 KiB/);
      expect(isolate.lastError!.summary).toMatch(/over 256 KiB.*at most 64 KiB.*status/);
      expect(isolate.doc.release).toBe(good.release);
      expect(controller).toMatchObject({ release: good.release, percent: 100, state: "running", saveError: null });
      expect(await onCanary()).toBe("green");

      // The canary fails for a crowd: the controller rolls back (its state saved), isolates follow its view.
      const before = recorder.view.revision;
      await vi.waitFor(
        async () => {
          for (let i = 0; i < 5; i++) await (await get("/status/503", fromCrowd())).arrayBuffer();
          if (recorder.view.revision <= before || !recorder.view.doc?.rolledBack)
            throw new Error("not rolled back yet");
        },
        { timeout: 15_000, interval: 50 },
      );
      expect(await origin("/after")).toBe("blue");
      await controllerStub(env).settle();
      // KV too: the invalid version was rejected (config error), so it is no operator write to yield to.
      expect(JSON.parse((await env.ROLLOUT_CONFIG.get("rollout"))!)).toMatchObject({
        release: good.release,
        percent: 0,
        rolledBack: { reason: expect.stringMatching(/canary/) },
      });
      await abortAllDurableObjects();
      const s = await controllerStub(env).status();
      expect(s.state).toBe("rolled-back");
      expect(s.saveError).toBeNull();
      expect(s.events.map((e) => e.kind)).toContain("rollback");
    } finally {
      errors.mockRestore();
    }
  });

  it("a 25 MiB value: each isolate refresh reads 256 KiB of it, once logged; the last good routes", async () => {
    const errors = quiet();
    const reads = vi.spyOn(env.ROLLOUT_CONFIG, "get");
    try {
      const text = JSON.stringify({ ...good, percent: 0, pad: "x".repeat(25 * 1024 * 1024 - 200) });
      const { isolate } = await replaceWith(text);
      expect(isolate.lastError!.summary).toMatch(/over 256 KiB \(the read stopped there\)/);
      expect(isolate.doc.release).toBe(good.release);
      const badFp = isolate.lastError!.fingerprint;
      // The isolate reads a stream (cancelled past the limit), not the whole value.
      const calls = reads.mock.calls as unknown as [string, unknown?][];
      expect(calls.some((c) => c[0] === "rollout" && JSON.stringify(c[1]) === '{"type":"stream"}')).toBe(true);
      // Refreshed again: the same bad version, not logged again, the last good still routes.
      const logged = errors.mock.calls.filter((c) => String(c[0]).includes(badFp)).length;
      expireConfigCache();
      await echo("/again");
      await vi.waitFor(() => expect(getConfigState().fetchedAt).toBeGreaterThan(isolate.fetchedAt!));
      expect(getConfigState().lastError!.fingerprint).toBe(badFp);
      expect(errors.mock.calls.filter((c) => String(c[0]).includes(badFp)).length).toBe(logged);
      expect(await onCanary()).toBe("green");
    } finally {
      reads.mockRestore();
      errors.mockRestore();
    }
  });

  it("a 100k-deep array is rejected without a stack overflow anywhere; the last good routes", async () => {
    const errors = quiet();
    try {
      const deep = `{"percent":0,"rolledBack":{"at":"t","reason":"r","x":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
      const { isolate, controller } = await replaceWith(deep);
      expect(isolate.lastError!.summary).toMatch(/nest more than 32 deep/);
      expect(controller.configError!.summary).toMatch(/nest more than 32 deep/);
      expect(controller).toMatchObject({ release: good.release, state: "running", saveError: null });
      expect(await onCanary()).toBe("green");
      // The controller still saves and answers after it (the old code's save overflowed its stack).
      await abortAllDurableObjects();
      expect((await controllerStub(env).status()).release).toBe(good.release);
    } finally {
      errors.mockRestore();
    }
  });

  it("a release with CR/LF is rejected naming the field; the canary keeps its traffic and its header", async () => {
    const errors = quiet();
    try {
      const { isolate, controller } = await replaceWith(JSON.stringify({ ...good, release: "v2\r\nx-evil: 1" }));
      expect(isolate.lastError!.problems).toEqual([
        { path: "release", message: expect.stringMatching(/visible ASCII.*line breaks/) },
      ]);
      expect(controller.configError!.problems.map((p) => p.path)).toEqual(["release"]);
      for (let i = 0; i < 5; i++) {
        const { r, j } = await echo(`/visit/${i}`, { headers: { "x-user-id": "fixed" } });
        expect(r.status).toBe(200);
        expect(j.origin).toBe("green");
        expect(j.headers["x-edgeshift-release"]).toBe(good.release);
      }
    } finally {
      errors.mockRestore();
    }
  });
});
