// Shadow traffic through the real Worker: stable's GET/HEAD requests are mirrored to the canary
// (green) in the background, marked, compared, and never seen by the user.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import type { RolloutInput } from "../../src/model/rollout";
import { recorder } from "../../src/worker/telemetry";
import type { ShadowOutcome } from "../../src/telemetry/recorder";
import { MAX_IN_FLIGHT, mirrorStats } from "../../src/proxy/mirror";
import { controllerStub } from "../../src/controller/rpc";
import { echo, fromCrowd, get, useRollout } from "./helpers";

const run = Math.random().toString(36).slice(2, 8);
let release = "";
let n = 0;
const rollout = (d: RolloutInput) => useRollout({ release: (release = `shadow-${run}-${n++}`), ...d });
const WAIT = { timeout: 15_000, interval: 50 };

type Seen = { method: string; url: string; headers: Record<string, string> };
async function saw(origin: "blueUrl" | "greenUrl", path: string): Promise<Seen[]> {
  const list = (await (await fetch(inject(origin) + "/__origin/requests")).json()) as Seen[];
  return list.filter((r) => r.url === path);
}

/** Shadow outcomes recorded under this test's document (the real recorder, observed). */
let outcomes: ShadowOutcome[] = [];
beforeEach(() => {
  outcomes = [];
  const real = recorder.recordShadow.bind(recorder);
  vi.spyOn(recorder, "recordShadow").mockImplementation((routed, o) => {
    if (routed.doc.release === release) outcomes.push(o);
    real(routed, o);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("mirroring", () => {
  it("sends stable's GET to the canary with the marker, same path, query and app headers; the user gets stable's answer", async () => {
    await rollout({ percent: 0, shadowPercent: 100 });
    const path = `/h3-shadow-${run}/get?q=1&q=2`;
    const { r, j } = await echo(path, { headers: { "x-app": "kept", cookie: "session=abc" } });
    expect(r.headers.get("x-origin")).toBe("blue");
    expect(j.origin).toBe("blue");
    expect(j.headers["x-edgeshift-shadow"]).toBeUndefined();
    await vi.waitFor(async () => expect((await saw("greenUrl", path)).length).toBe(1), WAIT);
    const [m] = await saw("greenUrl", path);
    expect(m.method).toBe("GET");
    expect(m.headers["x-edgeshift-shadow"]).toBe("1");
    expect(m.headers["x-edgeshift-role"]).toBe("canary");
    expect(m.headers["x-app"]).toBe("kept");
    expect(m.headers.cookie).toBe("session=abc");
    expect((await saw("blueUrl", path))[0].headers["x-edgeshift-shadow"]).toBeUndefined();
  });

  it("a client cannot send the marker: apps that skip side effects on it never skip a real request", async () => {
    await rollout({ percent: 0, shadowPercent: 0 });
    const { j } = await echo(`/h3-shadow-${run}/forged-marker`, {
      method: "POST",
      body: "order",
      headers: { "x-edgeshift-shadow": "1" },
    });
    expect(j.origin).toBe("blue");
    expect(j.headers["x-edgeshift-shadow"]).toBeUndefined();
  });

  it("mirrors HEAD too", async () => {
    await rollout({ percent: 0, shadowPercent: 100 });
    const path = `/h3-shadow-${run}/head`;
    const r = await get(path, { method: "HEAD" });
    expect(r.headers.get("x-origin")).toBe("blue");
    await vi.waitFor(async () => expect((await saw("greenUrl", path)).map((s) => s.method)).toEqual(["HEAD"]), WAIT);
  });

  it("never mirrors POST, PUT, PATCH, DELETE or OPTIONS", async () => {
    await rollout({ percent: 0, shadowPercent: 100 });
    const before = mirrorStats.started;
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const path = `/h3-shadow-${run}/${method}`;
      const r = await get(path, { method, body: method === "OPTIONS" ? undefined : "payload" });
      expect(r.headers.get("x-origin")).toBe("blue");
      await r.body?.cancel();
    }
    // maybeMirror decides before the response is returned: nothing was started.
    expect(mirrorStats.started).toBe(before);
    // And a GET sent after them is mirrored, so the green origin's silence about them means something.
    const after = `/h3-shadow-${run}/after-writes`;
    await (await get(after)).text();
    await vi.waitFor(async () => expect((await saw("greenUrl", after)).length).toBe(1), WAIT);
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
      expect(await saw("greenUrl", `/h3-shadow-${run}/${method}`)).toEqual([]);
  });

  it("is off at shadowPercent 0 and when the canary is rolled back", async () => {
    const before = mirrorStats.started;
    await rollout({ percent: 0, shadowPercent: 0 });
    await (await get(`/h3-shadow-${run}/off`)).text();
    await rollout({ percent: 0, shadowPercent: 100, rolledBack: { at: new Date().toISOString(), reason: "test" } });
    await (await get(`/h3-shadow-${run}/rolled-back`)).text();
    expect(mirrorStats.started).toBe(before);
  });
});

describe("the user never depends on the mirror", () => {
  it("a failing canary (500) changes nothing for the user and is counted as a shadow error and a mismatch", async () => {
    await rollout({ percent: 0, shadowPercent: 100 });
    const { r, j } = await echo(`/__fail/green/500/h3-${run}`);
    expect(r.status).toBe(200);
    expect(j.origin).toBe("blue");
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0]).toMatchObject({ status: 500, error: null, matched: false });
  });

  it("a slow canary: the user's answer comes back before the mirror is done; the mirror times out", async () => {
    await rollout({ percent: 0, shadowPercent: 100, timeoutMs: { green: 300 } });
    const { r, j } = await echo(`/__fail/green/delay-3000/h3-${run}`);
    expect(j.origin).toBe("blue");
    expect(r.status).toBe(200);
    // Recorded only when the mirror ends, which is after the user had the whole answer.
    expect(outcomes).toEqual([]);
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0]).toMatchObject({ status: null, error: "timeout", matched: null });
  });

  it("an unreachable canary: the user is unaffected, the mirror counts a network error", async () => {
    await rollout({ percent: 0, shadowPercent: 100 });
    const { j } = await echo(`/__fail/green/reset/h3-${run}`);
    expect(j.origin).toBe("blue");
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0]).toMatchObject({ status: null, error: "network", matched: null });
  });
});

describe("response diffing", () => {
  it("same status, compared headers and body → match; a different body → mismatch, counted by the recorder", async () => {
    await rollout({ percent: 0, shadowPercent: 100 });
    // /cookies answers the same bytes on both origins; the echo differs (it names the origin).
    expect(await (await get(`/cookies`)).text()).toBe("two cookies\n");
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0]).toMatchObject({ status: 200, error: null, matched: true });
    const { j } = await echo(`/h3-shadow-${run}/echo`);
    expect(j.origin).toBe("blue");
    await vi.waitFor(() => expect(outcomes.length).toBe(2), WAIT);
    expect(outcomes[1]).toMatchObject({ status: 200, error: null, matched: false });
    const mine = recorder.pending().filter((b) => b.release === release);
    // The recorder may have flushed in between; whatever it still holds agrees with what it was told.
    for (const b of mine) expect(b.shadow!.mismatches).toBeLessThanOrEqual(1);
  });

  it("a differing compared header is a mismatch even when the bodies agree", async () => {
    await rollout({ percent: 0, shadowPercent: 100, shadow: { compareHeaders: ["x-origin"] } });
    await (await get(`/cookies`)).text();
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0].matched).toBe(false);
  });

  it("bodies over maxBodyBytes are not compared; HEAD compares status and headers only", async () => {
    await rollout({ percent: 0, shadowPercent: 100, shadow: { maxBodyBytes: 4 } });
    await (await get(`/cookies`)).text();
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0].matched).toBeNull();
    await get(`/h3-shadow-${run}/head-diff`, { method: "HEAD" });
    await vi.waitFor(() => expect(outcomes.length).toBe(2), WAIT);
    expect(outcomes[1].matched).toBe(true);
  });

  it("the user's body is intact when it is teed for hashing, streaming included", async () => {
    await rollout({ percent: 0, shadowPercent: 100, shadow: { maxBodyBytes: 1024 * 1024 } });
    const r = await get("/stream");
    expect(await r.text()).toBe("chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    await vi.waitFor(() => expect(outcomes.length).toBe(1), WAIT);
    expect(outcomes[0].matched).toBe(true);
  });
});

describe("bounds", () => {
  it(`at most ${MAX_IN_FLIGHT} mirrors in flight per isolate; the rest are not sent and not counted`, async () => {
    await rollout({ percent: 0, shadowPercent: 100, timeoutMs: 10_000 });
    const path = `/__fail/green/delay-4000/h3-bound-${run}`;
    const startedBefore = mirrorStats.started;
    const droppedBefore = mirrorStats.dropped;
    const handedOn = vi.spyOn(recorder, "recordMirrorSkipped");
    // Blue answers at once; green holds every mirror for 4 s, so the first 8 occupy every slot.
    const answers = await Promise.all(Array.from({ length: 20 }, () => echo(path)));
    for (const a of answers) expect(a.j.origin).toBe("blue");
    expect(mirrorStats.started - startedBefore).toBe(MAX_IN_FLIGHT);
    expect(mirrorStats.dropped - droppedBefore).toBe(20 - MAX_IN_FLIGHT);
    // ...and handed to the recorder, whose next report tells the controller (reports.mirrorsSkipped).
    expect(handedOn).toHaveBeenCalledTimes(20 - MAX_IN_FLIGHT);
    handedOn.mockRestore();
    // Only mirrors that were sent are outcomes: dropped ones must not dilute the shadow error rate.
    await vi.waitFor(() => expect(mirrorStats.finished).toBe(mirrorStats.started), WAIT);
    expect(outcomes.length).toBe(MAX_IN_FLIGHT);
    for (const o of outcomes) expect(o.status).toBe(200);
  });
});

describe("the whole loop", () => {
  it("mirrored answers that differ roll back a canary no user is on yet, and mirroring stops", async () => {
    await vi.waitFor(() => expect(mirrorStats.started).toBe(mirrorStats.finished), WAIT); // earlier tests' mirrors done
    await rollout({ percent: 0, shadowPercent: 100, rollback: { minRequests: 10 } });
    const before = recorder.view.revision;
    // The echo names the origin that answered, so every mirrored answer differs from stable's.
    // From a crowd: shadow rules judge only mirrors of several visitors on several networks.
    await vi.waitFor(
      async () => {
        for (let i = 0; i < 5; i++) expect((await echo(`/h3-loop-${run}/${i}`, fromCrowd())).j.origin).toBe("blue");
        if (recorder.view.revision <= before || !recorder.view.doc?.rolledBack) throw new Error("not rolled back yet");
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(outcomes.some((o) => o.matched === false)).toBe(true);
    const s = await controllerStub(env).status();
    expect(s.state).toBe("rolled-back");
    expect(s.rolledBack?.figures?.tripped).toContain("shadow-mismatch");
    // Rolled back: shadow is off, whatever shadowPercent says.
    const started = mirrorStats.started;
    for (let i = 0; i < 5; i++) expect((await echo(`/h3-after-loop-${run}/${i}`)).j.origin).toBe("blue");
    expect(mirrorStats.started).toBe(started);
  });
});
