// "This action does not apply now" is one thing, recognised on both sides of the RPC boundary.
import { describe, expect, it } from "vitest";
import { ActionNotApplicable, notApplicableReason } from "../../src/model/action-error";

describe("notApplicableReason", () => {
  it("reads the reason from the error itself", () => {
    expect(notApplicableReason(new ActionNotApplicable("nothing to pause"))).toBe("nothing to pause");
  });
  it("reads it from what crosses Workers RPC: a plain Error whose message is '<name>: <message>'", () => {
    expect(notApplicableReason(new Error("ActionNotApplicable: nothing to pause"))).toBe("nothing to pause");
  });
  it("anything else is not a refusal (the admin API answers 503 for it)", () => {
    expect(notApplicableReason(new Error("Durable Object reset because its code was updated"))).toBeNull();
    expect(notApplicableReason(null)).toBeNull();
    expect(notApplicableReason("ActionNotApplicable")).toBeNull();
  });
});
