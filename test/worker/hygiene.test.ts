// Edge hygiene against the real origins: what of edgeshift's own reaches the origin from the
// client, and what of the origin's reaches the client in edgeshift's name.
import { beforeEach, describe, expect, it } from "vitest";
import { echo, useRollout } from "./helpers";

beforeEach(async () => {
  await useRollout({ percent: 0 });
});

describe("edgeshift's cookies never reach the origin", () => {
  it('however the Cookie lines are joined: "; " by fetch\'s Headers, ", " by the HTTP layer', async () => {
    // Two Cookie lines over the wire reach the Worker as one value joined with ", " (seen under
    // `wrangler dev`); built here as that value, since SELF.fetch skips the HTTP layer.
    const { j } = await echo("/two-cookie-lines", {
      headers: { cookie: "session=abc, edgeshift_override=v1.forged.sig; theme=dark, edgeshift_vid=X" },
    });
    expect(j.headers.cookie).toBe("session=abc; theme=dark");
    // Headers built with two entries join a Cookie with "; " in workerd.
    const two = await echo("/two-cookie-entries", {
      headers: [
        ["cookie", "session=abc; edgeshift_vid=X"],
        ["cookie", "edgeshift_override=v1.forged.sig; theme=dark"],
      ],
    });
    expect(two.j.headers.cookie).toBe("session=abc; theme=dark");
    const only = await echo("/only-ours", {
      headers: [
        ["cookie", "edgeshift_vid=X"],
        ["cookie", "edgeshift_override=T"],
      ],
    });
    expect(only.j.headers.cookie).toBeUndefined();
  });
});
