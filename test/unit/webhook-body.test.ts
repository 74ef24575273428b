// What a webhook receiver gets: one Slack-readable line, and the structured event.
import { describe, expect, it } from "vitest";
import { webhookBody } from "../../src/controller/webhook";
import type { RolloutEvent } from "../../src/model/status";

const event = (x: Partial<RolloutEvent>): RolloutEvent => ({
  id: 7,
  at: "2026-01-01T00:00:00.000Z",
  kind: "rollback",
  actor: "controller",
  reason: "canary 36.7 % errors",
  ...x,
});

describe("webhookBody", () => {
  it("a rollback by the controller names the release and canary, not the actor", () => {
    const body = webhookBody(event({}), { release: "v2", canary: "green" });
    expect(body.text).toBe("edgeshift rolled back release v2 (green): canary 36.7 % errors");
    expect(body.event).toEqual({ ...event({}), release: "v2", canary: "green" });
  });

  it("an operator's action names who did it", () => {
    const body = webhookBody(event({ kind: "pause", actor: "alice", reason: "staffing" }), {
      release: "v2",
      canary: "green",
    });
    expect(body.text).toBe("edgeshift paused release v2 (green) by alice: staffing");
  });

  it("without a release it names the canary; with neither, only what happened", () => {
    expect(webhookBody(event({ kind: "step", reason: "on to 50 %" }), { canary: "blue" }).text).toBe(
      "edgeshift plan step canary blue: on to 50 %",
    );
    expect(webhookBody(event({ kind: "config-error", reason: "bad" })).text).toBe(
      "edgeshift invalid rollout document: bad",
    );
    expect(webhookBody(event({})).event.release).toBeNull();
  });

  it("a kind without a title is named as it is", () => {
    expect(webhookBody(event({ kind: "webhook-failed", reason: "down" })).text).toBe("edgeshift webhook-failed: down");
  });
});
