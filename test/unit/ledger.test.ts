// The visitor ledger (src/health/ledger.ts): distinct and failing visitors and networks, the capped
// weights, the sliding window's expiry and the memory bounds.
import { describe, expect, it } from "vitest";
import {
  MAX_VISITORS,
  MAX_VISITORS_PER_NETWORK,
  UNATTRIBUTED_NETWORK,
  VisitorLedger,
  type ArmFigures,
} from "../../src/health/ledger";

const limits = { perVisitorCap: 10, perNetworkCap: 50 };

/** Recomputes every figure from scratch: what the running sums must equal. */
function naive(tuples: { visitor: number; network: number; requests: number; errors: number }[]): Partial<ArmFigures> {
  const vis = new Map<number, { network: number; r: number; e: number }>();
  for (const t of tuples) {
    const v = vis.get(t.visitor) ?? { network: t.network, r: 0, e: 0 };
    v.r += t.requests;
    v.e += t.errors;
    vis.set(t.visitor, v);
  }
  const nets = new Map<number, { n: number; f: number; r: number; e: number }>();
  for (const v of vis.values()) {
    const n = nets.get(v.network) ?? { n: 0, f: 0, r: 0, e: 0 };
    const r = Math.min(v.r, limits.perVisitorCap);
    n.n++;
    n.f += v.e > 0 ? 1 : 0;
    n.r += r;
    n.e += (v.e * r) / v.r;
    nets.set(v.network, n);
  }
  let wr = 0,
    we = 0,
    sv = 0,
    sf = 0,
    worstE = 0,
    worstF = 0;
  for (const n of nets.values()) {
    const s = n.r > limits.perNetworkCap ? limits.perNetworkCap / n.r : 1;
    const t = n.n > 5 ? 5 / n.n : 1;
    wr += n.r * s;
    we += n.e * s;
    sv += n.n * t;
    sf += n.f * t;
    worstE = Math.max(worstE, n.e * s);
    worstF = Math.max(worstF, n.f * t);
  }
  return {
    visitors: vis.size,
    networks: nets.size,
    failingVisitors: [...vis.values()].filter((v) => v.e > 0).length,
    failingNetworks: [...nets.values()].filter((n) => n.f > 0).length,
    weightedRequests: round(wr),
    weightedErrors: round(we),
    sampleVisitors: round(sv),
    sampleFailing: round(sf),
    worst: expect.objectContaining({ weightedErrors: round(worstE), sampleFailing: round(worstF) }),
  } as Partial<ArmFigures>;
}
const round = (x: number) => Math.round(x * 1e6) / 1e6;

describe("VisitorLedger", () => {
  it("counts distinct and failing visitors and networks", () => {
    const l = new VisitorLedger(limits);
    l.add(0, "green", { visitor: 1, network: 7, requests: 3, errors: 1 });
    l.add(0, "green", { visitor: 1, network: 7, requests: 2, errors: 0 });
    l.add(0, "green", { visitor: 2, network: 7, requests: 1, errors: 0 });
    l.add(0, "green", { visitor: 3, network: 8, requests: 4, errors: 4 });
    l.add(0, "blue", { visitor: 9, network: 9, requests: 1, errors: 0 });
    expect(l.figures("green")).toMatchObject({
      visitors: 3,
      networks: 2,
      failingVisitors: 2,
      failingNetworks: 2,
      weightedRequests: 10,
      weightedErrors: 5,
    });
    expect(l.figures("blue")).toMatchObject({ visitors: 1, failingVisitors: 0 });
  });

  it("caps one visitor at perVisitorCap requests at its own error rate", () => {
    const l = new VisitorLedger(limits);
    l.add(0, "green", { visitor: 1, network: 1, requests: 1000, errors: 100 });
    expect(l.figures("green")).toMatchObject({ weightedRequests: 10, weightedErrors: 1 });
  });

  it("caps one network at perNetworkCap weighted requests, and at perNetworkCap / perVisitorCap visitors in the sample", () => {
    const l = new VisitorLedger(limits);
    // 40 minted ids from one address: 400 capped requests, 40 visitors.
    for (let i = 0; i < 40; i++) l.add(0, "green", { visitor: i, network: 1, requests: 10, errors: 0 });
    expect(l.figures("green")).toMatchObject({ visitors: 40, networks: 1, weightedRequests: 50, sampleVisitors: 5 });
  });

  it("running sums equal a recomputation from scratch after random adds and expiries", () => {
    let seed = 42;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const l = new VisitorLedger(limits, { bucketSeconds: 1, buckets: 10 });
    const log: { t: number; visitor: number; network: number; requests: number; errors: number }[] = [];
    for (let t = 0; t < 40; t++) {
      for (let k = 0; k < 30; k++) {
        const visitor = Math.floor(rnd() * 60);
        const requests = 1 + Math.floor(rnd() * 15);
        const tuple = {
          t,
          visitor,
          network: visitor % 7,
          requests,
          errors: rnd() < 0.3 ? Math.ceil(rnd() * requests) : 0,
        };
        log.push(tuple);
        l.add(t, "green", tuple);
      }
      const live = log.filter((x) => x.t > t - 10);
      // A visitor keeps the first network seen in the window; here a visitor's network never changes.
      expect(l.figures("green", t)).toMatchObject(naive(live));
    }
    // Everything expires: all back to zero, nothing left behind.
    expect(l.figures("green", 100)).toMatchObject({
      visitors: 0,
      networks: 0,
      failingVisitors: 0,
      failingNetworks: 0,
      weightedRequests: 0,
      weightedErrors: 0,
      sampleVisitors: 0,
      sampleFailing: 0,
    });
  });

  it("drops outcomes older than the window and keeps a visitor on the first network seen", () => {
    const l = new VisitorLedger(limits, { bucketSeconds: 1, buckets: 5 });
    l.add(100, "green", { visitor: 1, network: 1, requests: 1, errors: 1 });
    l.add(90, "green", { visitor: 2, network: 2, requests: 1, errors: 1 });
    l.add(101, "green", { visitor: 1, network: 3, requests: 1, errors: 0 });
    expect(l.figures("green", 101)).toMatchObject({ visitors: 1, networks: 1, failingVisitors: 1 });
  });

  it("bounds memory: a network's ids beyond MAX_VISITORS_PER_NETWORK share one pseudo-visitor; beyond MAX_VISITORS nothing new is tracked but it is counted", () => {
    const l = new VisitorLedger(limits);
    for (let i = 0; i < MAX_VISITORS_PER_NETWORK + 100; i++)
      l.add(0, "green", { visitor: i, network: 1, requests: 1, errors: 0 });
    expect(l.figures("green").visitors).toBe(MAX_VISITORS_PER_NETWORK + 1);
    for (let i = 0; i < MAX_VISITORS + 10; i++)
      l.add(0, "green", { visitor: 1e6 + i, network: 1e6 + i, requests: 1, errors: 0 });
    const f = l.figures("green");
    expect(f.visitors).toBe(MAX_VISITORS);
    expect(f.untracked).toBe(MAX_VISITORS_PER_NETWORK + 1 + 10);
  });

  it("unattributed outcomes weigh as one visitor on one network, never lost, never more", () => {
    const l = new VisitorLedger(limits);
    l.addArrays(0, "green", { v: [5], n: [6], r: [2], e: [0], ur: 500, ue: 500 });
    // Weighed like one visitor, but nobody: it never counts as seen nor toward the quorum.
    expect(l.figures("green")).toMatchObject({
      visitors: 1,
      networks: 1,
      failingVisitors: 0,
      failingNetworks: 0,
      weightedRequests: 12,
      weightedErrors: 10,
    });
    expect(UNATTRIBUTED_NETWORK).toBeGreaterThan(2 ** 32 - 1);
  });

  it("ignores malformed tuples (a report is another isolate's input)", () => {
    const l = new VisitorLedger(limits);
    l.addArrays(0, "green", { v: [1, 2, "x"], n: [1, 2, 3], r: [NaN, -4, 1], e: [0, 0, 0] });
    l.addArrays(0, "green", { v: "nope" } as never);
    l.add(0, "green", { visitor: 9, network: 9, requests: 2, errors: 5 });
    expect(l.figures("green")).toMatchObject({ visitors: 1, weightedRequests: 2, weightedErrors: 2 });
  });

  it("untracked requests leave with their bucket; failing visitors still get in past MAX_VISITORS", () => {
    const l = new VisitorLedger(limits, { bucketSeconds: 1, buckets: 10 });
    for (let i = 0; i < MAX_VISITORS; i++) l.add(0, "green", { visitor: i, network: i, requests: 1, errors: 0 });
    l.add(0, "green", { visitor: 1e6, network: 1e6, requests: 3, errors: 0 });
    l.add(0, "green", { visitor: 1e6 + 1, network: 1e6 + 1, requests: 2, errors: 1 });
    expect(l.figures("green")).toMatchObject({ untracked: 3, failingVisitors: 1 });
    expect(l.figures("green", 20)).toMatchObject({ untracked: 0, visitors: 0 }); // was 3 for ever
  });

  it("a visitor's slowest answer leaves with its bucket (per-visitor latency)", () => {
    const l = new VisitorLedger(limits, { bucketSeconds: 1, buckets: 10 });
    l.add(0, "green", { visitor: 1, network: 1, requests: 1, errors: 0, maxLatency: 20 });
    l.add(5, "green", { visitor: 1, network: 1, requests: 1, errors: 0, maxLatency: 2 });
    l.add(5, "green", { visitor: 2, network: 2, requests: 1, errors: 0 }); // older isolate: no m
    expect(l.figures("green", 5).slow).toMatchObject({ visitors: expect.arrayContaining([1]) });
    expect(l.figures("green", 5).slow!.visitors[10]).toBe(1);
    const later = l.figures("green", 12).slow!;
    expect([later.visitors[10], later.visitors[1], later.networks[1]]).toEqual([0, 1, 1]);
    expect(new VisitorLedger(limits).figures("green").slow).toBeNull();
  });
});
