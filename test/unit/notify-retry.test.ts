// When a notification is tried again and when it is given up (src/notify/retry.ts).
import { describe, expect, it } from "vitest";
import { answerOutcome, failureOutcome, MAX_TRIES, nextTryAt, PAGE_MAX_TRIES } from "../../src/notify/retry";

const NOW = Date.parse("2026-01-01T00:00:00Z");

describe("answers", () => {
  it("2xx is delivered (Teams' Workflows answer 202, Discord 204)", () => {
    for (const s of [200, 202, 204]) expect(answerOutcome(s, "", null, NOW)).toEqual({ ok: true, status: s });
  });

  it("429, 408 and 5xx are tried again; other 4xx are given up at once with what the receiver said", () => {
    for (const s of [408, 425, 429, 500, 502, 503])
      expect(answerOutcome(s, "", null, NOW)).toMatchObject({ ok: false, retry: true });
    expect(answerOutcome(404, "no_service\n", null, NOW)).toEqual({
      ok: false,
      retry: false,
      error: "answered 404: no_service",
    });
    expect(answerOutcome(403, "invalid_token", null, NOW)).toMatchObject({ retry: false });
    expect(answerOutcome(400, "x".repeat(1000), null, NOW)).toMatchObject({
      error: `answered 400: ${"x".repeat(200)}`,
    });
  });

  it("Retry-After in seconds or as a date", () => {
    expect(answerOutcome(429, "", "30", NOW)).toMatchObject({ retryAfterMs: 30_000 });
    expect(answerOutcome(503, "", new Date(NOW + 90_000).toUTCString(), NOW)).toMatchObject({ retryAfterMs: 90_000 });
    expect(answerOutcome(503, "", "soon", NOW)).not.toHaveProperty("retryAfterMs");
  });

  it("a refused connection or a timeout is tried again", () => {
    expect(failureOutcome(new TypeError("connect ECONNREFUSED"))).toMatchObject({
      retry: true,
      error: "could not connect: connect ECONNREFUSED",
    });
    expect(failureOutcome(new DOMException("t", "TimeoutError"))).toMatchObject({
      retry: true,
      error: "no answer within 5 s",
    });
  });
});

describe("backoff", () => {
  it("2 s, 10 s, 30 s, 2 min, 10 min, then given up after 6 tries", () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5].map((t) => nextTryAt(NOW, t, undefined, mid)! - NOW)).toEqual([
      2_000, 10_000, 30_000, 120_000, 600_000,
    ]);
    expect(nextTryAt(NOW, MAX_TRIES, undefined, mid)).toBeNull();
  });

  it("a page gets 12 tries: after the 10 min step, every 10 min, about 1 h 13 min in all", () => {
    const mid = () => 0.5;
    let at = NOW;
    for (let t = 1; t < PAGE_MAX_TRIES; t++) at = nextTryAt(at, t, undefined, mid, PAGE_MAX_TRIES)!;
    expect((at - NOW) / 60_000).toBeCloseTo(72.7, 1);
    expect(nextTryAt(at, PAGE_MAX_TRIES, undefined, mid, PAGE_MAX_TRIES)).toBeNull();
  });

  it("jittered by ±20 % so objects restarted together do not retry in step", () => {
    expect(nextTryAt(NOW, 1, undefined, () => 0)! - NOW).toBe(1_600);
    expect(nextTryAt(NOW, 1, undefined, () => 1)! - NOW).toBe(2_400);
  });

  it("a longer Retry-After wins, up to 10 min", () => {
    expect(nextTryAt(NOW, 1, 45_000, () => 0.5)! - NOW).toBe(45_000);
    expect(nextTryAt(NOW, 1, 3_600_000, () => 0.5)! - NOW).toBe(600_000);
    expect(nextTryAt(NOW, 3, 1_000, () => 0.5)! - NOW).toBe(30_000);
  });
});
