// Who an outcome is attributed to (src/telemetry/contributor.ts) and how the recorder lists it.
import { describe, expect, it } from "vitest";
import { networkOf, UNKNOWN_NETWORK, visitorOf } from "../../src/telemetry/contributor";
import { Recorder } from "../../src/telemetry/recorder";
import { MAX_CONTRIBUTORS } from "../../src/model/protocol";
import { rolloutSchema } from "../../src/model/rollout";

describe("networkOf", () => {
  it("one number per IPv4 /24 and per IPv6 /48", () => {
    expect(networkOf("198.51.100.7")).toBe(networkOf("198.51.100.250"));
    expect(networkOf("198.51.100.7")).not.toBe(networkOf("198.51.101.7"));
    expect(networkOf("2001:db8:1::5")).toBe(networkOf("2001:db8:1:ffff::9"));
    expect(networkOf("2001:db8:1::5")).not.toBe(networkOf("2001:db8:2::5"));
  });

  it("absent or not an address: the one unknown network", () => {
    for (const ip of [null, "", "not-an-ip", "999.1.1.1", "2001:::1"]) expect(networkOf(ip)).toBe(UNKNOWN_NETWORK);
    expect(networkOf("0.0.0.1")).not.toBe(UNKNOWN_NETWORK);
  });

  it("visitorOf is a 32-bit hash of the sticky key", () => {
    expect(visitorOf("abc")).toBe(visitorOf("abc"));
    expect(visitorOf("abc")).not.toBe(visitorOf("abd"));
    expect(visitorOf("abc")).toBeGreaterThanOrEqual(0);
    expect(visitorOf("abc")).toBeLessThan(2 ** 32);
  });
});

describe("Recorder attribution", () => {
  const doc = rolloutSchema.parse({ percent: 50 });
  const routed = { fingerprint: "f", doc };
  const ok = {
    slot: "green" as const,
    role: "canary" as const,
    status: 200,
    error: null,
    latencyMs: 5,
    failedOver: false,
  };
  const bad = { ...ok, status: 503 };

  it("lists each visitor once per slot and batch, with its network, requests and errors", () => {
    const rec = new Recorder({ send: async () => ({}) as never, fetchView: async () => ({}) as never, now: () => 0 });
    rec.record(routed, ok, 7, 70);
    rec.record(routed, bad, 7, 70);
    rec.record(routed, bad, 8, 80);
    rec.record(routed, ok); // an older caller: counted, not attributed
    const [b] = rec.pending();
    expect(b.slots.green).toMatchObject({ requests: 4, errors5xx: 2 });
    // m: each visitor's slowest answer, as a latency bucket (5 ms is bucket 0).
    expect(b.contributors).toEqual({ green: { v: [7, 8], n: [70, 80], r: [2, 1], e: [1, 1], m: [0, 0] } });
  });

  it(`beyond ${MAX_CONTRIBUTORS} visitors, outcomes go to the unattributed counts, never lost`, () => {
    const rec = new Recorder({ send: async () => ({}) as never, fetchView: async () => ({}) as never, now: () => 0 });
    for (let i = 0; i < MAX_CONTRIBUTORS + 3; i++) rec.record(routed, i % 2 ? bad : ok, i, i);
    const [b] = rec.pending();
    const c = b.contributors!.green!;
    expect(c.v).toHaveLength(MAX_CONTRIBUTORS);
    expect(c.ur).toBe(3);
    expect(c.ue).toBe(1);
    expect(c.r.reduce((a, x) => a + x, 0) + c.ur!).toBe(b.slots.green!.requests);
  });
});
