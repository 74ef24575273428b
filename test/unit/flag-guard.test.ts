// Guarded flags judged (src/flags/guard.ts): a flag's treatment against its control with the
// canary's rules, one comparison per definition, batches of unknown versions never counted.
import { describe, expect, it } from "vitest";
import { FlagGuards, flagBatchOf } from "../../src/flags/guard";
import { flagsDocumentSchema, type FlagsDocument } from "../../src/model/flags";
import { LATENCY_BUCKETS, type ReportBatch, type SlotCounters } from "../../src/model/protocol";

const doc = (flags: Record<string, unknown>): FlagsDocument => flagsDocumentSchema.parse({ flags });
const guarded = (extra: Record<string, unknown> = {}) =>
  doc({
    checkout: {
      rollout: { percent: 50 },
      guard: { minRequests: 20, minVisitors: 3, minNetworks: 2, windowSeconds: 60, ...extra },
    },
  });

function slot(requests: number, errors: number): SlotCounters {
  const latency = new Array<number>(LATENCY_BUCKETS).fill(0);
  latency[2] = requests;
  return { requests, errors5xx: errors, errorsNetwork: 0, errorsTimeout: 0, failovers: 0, latency };
}

/** One batch: `n` visitors per arm on their own networks, treatment failing `treatErr` of each visitor's 2 requests. */
function batch(key: string, version: string, n: number, treatErr: number, base = 0): ReportBatch {
  const ids = Array.from({ length: n }, (_, i) => base + i + 1);
  const arm = (err: number) => ({
    v: ids,
    n: ids.map((i) => 1000 + i),
    r: ids.map(() => 2),
    e: ids.map(() => err),
    m: ids.map(() => 2),
  });
  return {
    fingerprint: `flag:${key}@${version}`,
    canary: "green",
    from: 0,
    to: 0,
    slots: { blue: slot(2 * n, 0), green: slot(2 * n, treatErr * n) },
    contributors: { blue: arm(0), green: arm(treatErr) },
  };
}

describe("flag batches", () => {
  it("are named flag:<key>@<version>; rollout batches are not flag batches", () => {
    expect(flagBatchOf("flag:new-checkout@0123abcd")).toEqual({ key: "new-checkout", fingerprint: "0123abcd" });
    expect(flagBatchOf("0123abcd0123abcd")).toBeNull();
    expect(flagBatchOf("flag:@x")).toBeNull();
  });
});

describe("the guard", () => {
  it("trips once when the treatment fails and the control does not, with the figures", () => {
    const g = new FlagGuards();
    g.configure(guarded(), "v1", 100);
    expect(g.add(100, [batch("checkout", "v1", 20, 0)])).toEqual([]);
    const trips = g.add(101, [batch("checkout", "v1", 20, 2, 100)]);
    expect(trips).toHaveLength(1);
    expect(trips[0]).toMatchObject({ key: "checkout" });
    expect(trips[0].definition).toMatch(/^[0-9a-f]{16}$/);
    expect(trips[0].judgement.healthy).toBe(false);
    expect(trips[0].judgement.reason).toBeTruthy();
    // Once per comparison.
    expect(g.add(102, [batch("checkout", "v1", 20, 2, 200)])).toEqual([]);
  });

  it("a healthy treatment, or failures shared by both arms, never trip it", () => {
    const g = new FlagGuards();
    g.configure(guarded(), "v1", 100);
    for (let t = 0; t < 5; t++) expect(g.add(100 + t, [batch("checkout", "v1", 20, 0, t * 100)])).toEqual([]);
    const both = batch("checkout", "v1", 20, 1, 900);
    both.slots.blue = both.slots.green;
    both.contributors!.blue = both.contributors!.green;
    expect(g.add(106, [both])).toEqual([]);
  });

  it("batches of a version it does not know are not counted; another flag's change keeps the comparison", () => {
    const g = new FlagGuards();
    g.configure(guarded(), "v1", 100);
    expect(g.add(100, [batch("checkout", "v9", 20, 2)])).toEqual([]);
    expect(g.unknown).toBe(1);
    expect(g.knows("v9")).toBe(false);
    g.add(100, [batch("checkout", "v1", 20, 0)]);
    // v2 changes only another flag: the same comparison, both versions count.
    const v2 = doc({ ...guarded().flags, other: { default: "on" } });
    g.configure(v2, "v2", 101);
    expect(g.knows("v2")).toBe(true);
    expect(g.add(101, [batch("checkout", "v2", 20, 2, 100)])).toHaveLength(1);
  });

  it("a changed definition starts a new comparison; the controller's own off keeps the trip; restart starts afresh", () => {
    const g = new FlagGuards();
    g.configure(guarded(), "v1", 100);
    g.add(100, [batch("checkout", "v1", 20, 0)]);
    expect(g.add(101, [batch("checkout", "v1", 20, 2, 100)])).toHaveLength(1);
    // The controller's own write (off), and any other version of the same definition: still tripped.
    const off = doc({ checkout: { ...guarded().flags.checkout, on: false } });
    g.configure(off, "v2", 102);
    g.configure(guarded(), "v3", 102);
    expect(g.status(102)[0].tripped).toBe(true);
    // The operator switched it on again (the controller decides that): judged afresh.
    g.restart("checkout", 103);
    expect(g.status(103)[0]).toMatchObject({ tripped: false, since: 103 });
    expect(g.add(103, [batch("checkout", "v3", 20, 0)])).toEqual([]);
    // A changed definition is a new comparison too.
    g.add(104, [batch("checkout", "v3", 20, 2, 300)]);
    g.configure(guarded({ maxErrorRate: 0.5 }), "v4", 105);
    expect(g.status(105)[0]).toMatchObject({ tripped: false, since: 105 });
  });

  it("without enough control requests there is no judgement: a site-wide outage at 100 % kills nothing", () => {
    const g = new FlagGuards();
    g.configure(doc({ all: { rollout: { percent: 100 }, guard: true } }), "v1", 100);
    const b = batch("all", "v1", 200, 1);
    delete b.slots.blue;
    delete b.contributors!.blue;
    expect(g.add(100, [b])).toEqual([]);
    expect(g.status(100)[0].judgement.verdicts[0].detail).toContain("no comparison yet");
    // Not judged, but who came is still known: the status shows the treatment's visitors.
    expect(g.status(100)[0].judgement.input.people?.canary.visitors).toBeGreaterThan(0);
  });

  it("a flag's experiment expects the treatment's share its split gives: a default in the split counts as control", () => {
    const g = new FlagGuards();
    g.configure(
      doc({ half: { default: "off", rollout: { percent: 50, split: { off: 1, on: 1 } }, guard: true } }),
      "v1",
      100,
    );
    expect(g.experiments(["x"])[0].percent).toBe(25);
  });

  it("a flag no longer guarded is dropped", () => {
    const g = new FlagGuards();
    g.configure(guarded(), "v1", 100);
    g.configure(doc({ checkout: { rollout: { percent: 50 } } }), "v2", 101);
    expect(g.status(101)).toEqual([]);
  });
});

describe("the guard field", () => {
  it("true takes the rollback rules' defaults; a guard needs a rollout; at most 5 guarded flags", () => {
    expect(doc({ f: { rollout: { percent: 5 }, guard: true } }).flags.f.guard).toMatchObject({ maxErrorRate: 0.05 });
    expect(flagsDocumentSchema.safeParse({ flags: { f: { guard: true } } }).error?.issues[0].message).toContain(
      "give the flag a rollout",
    );
    const six = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [`f${i}`, { rollout: { percent: 1 }, guard: true }]),
    );
    expect(flagsDocumentSchema.safeParse({ flags: six }).error?.issues[0].message).toContain("at most 5 guarded flags");
  });
});

describe("exposure", () => {
  it("each variation's share of all visitors by the rollout; everything on off while switched off", async () => {
    const { exposureOf } = await import("../../src/flags/status");
    const f = doc({
      exp: { variations: { c: "c", a: "a", b: "b" }, default: "c", rollout: { percent: 30, split: { a: 1, b: 2 } } },
    }).flags.exp;
    expect(exposureOf(f, true)).toEqual({ c: 70, a: 10, b: 20 });
    expect(exposureOf(f, false)).toEqual({ c: 100 });
    expect(exposureOf(doc({ s: { default: "on" } }).flags.s, true)).toEqual({ on: 100 });
  });
});
