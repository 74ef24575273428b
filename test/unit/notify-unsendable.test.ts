// A destination's own problem (a secret missing) said once while it lasts (src/notify/unsendable.ts).
import { describe, expect, it } from "vitest";
import { SAY_AGAIN_MS, unsendableFailed } from "../../src/notify/unsendable";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const MISSING = "the secret SLACK_URL is not set";

describe("a secret missing", () => {
  it("is said with the first message, then counted unsaid; said again with the count after an hour", () => {
    const first = unsendableFailed(undefined, MISSING, 1, NOW);
    expect(first.say).toMatch(/^the secret SLACK_URL is not set \(said once while it lasts/);
    expect(first.state).toEqual({
      problem: MISSING,
      since: "2026-01-01T00:00:00.000Z",
      count: 1,
      saidAt: first.state.since,
    });

    const second = unsendableFailed(first.state, MISSING, 2, NOW + 60_000);
    expect(second.say).toBeNull();
    expect(second.state.count).toBe(3);

    const later = unsendableFailed(second.state, MISSING, 1, NOW + SAY_AGAIN_MS);
    expect(later.say).toBe("the secret SLACK_URL is not set: 4 messages not sent since 2026-01-01T00:00:00.000Z");
    expect(later.state).toMatchObject({ count: 4, since: first.state.since, saidAt: "2026-01-01T01:00:00.000Z" });
    expect(unsendableFailed(later.state, MISSING, 1, NOW + SAY_AGAIN_MS + 1).say).toBeNull();
  });

  it("another problem (the secret put, but malformed) is said at once", () => {
    const first = unsendableFailed(undefined, MISSING, 1, NOW);
    const other = unsendableFailed(first.state, "the secret SLACK_URL is not an http(s) URL", 1, NOW + 1000);
    expect(other.say).toMatch(/^the secret SLACK_URL is not an http\(s\) URL \(said once/);
    expect(other.state.count).toBe(1);
  });
});
