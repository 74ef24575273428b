// The demo origin's answers tell which feature flags their request carried (scripts/lib/origin-server.ts
// `flagsReceived`): the demo counts visitors with a flag by it, including those its broken path failed.
import { afterAll, beforeAll, expect, it } from "vitest";
import { flagsReceived, startOrigin, type Origin } from "../../scripts/lib/origin-server";

let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin("blue");
});
afterAll(() => origin.close());

async function answer(path: string, flags?: Record<string, unknown>): Promise<{ status: number; body: string }> {
  const r = await fetch(origin.url + path, {
    headers: flags === undefined ? {} : { "x-edgeshift-flags": JSON.stringify(flags) },
  });
  return { status: r.status, body: await r.text() };
}

it("an echo gives every flag the request carried; no header, none", async () => {
  expect(flagsReceived((await answer("/page/1", { "new-layout": false, theme: "dark" })).body)).toEqual({
    "new-layout": false,
    theme: "dark",
  });
  expect(flagsReceived((await answer("/page/1")).body)).toBeNull();
});

it("a broken flag path's failure gives the flag that failed it, on; with the flag off it is an echo", async () => {
  const failed = await answer("/__flagfail/new-layout/500/page/1", { "new-layout": true, theme: "dark" });
  expect(failed.status).toBe(500);
  expect(flagsReceived(failed.body)).toEqual({ "new-layout": true });
  const passed = await answer("/__flagfail/new-layout/500/page/1", { "new-layout": false });
  expect(passed.status).toBe(200);
  expect(flagsReceived(passed.body)).toEqual({ "new-layout": false });
});

it("answers of other kinds say nothing", () => {
  expect(flagsReceived("blue failed on purpose\n")).toBeNull();
  expect(flagsReceived("not json")).toBeNull();
});
