// cli/wrangler.ts's signal: the demo stopping must start no wrangler (one started after the stack
// was removed would re-create its temp directory with a Miniflare of its own) and end the one under way.
import { expect, it } from "vitest";
import { readDocText, writeDocText } from "../../cli/kv";
import { runWrangler } from "../../cli/wrangler";

it("starts nothing once the signal fired", async () => {
  const t = Date.now();
  await expect(runWrangler(["--version"], { signal: AbortSignal.abort() })).rejects.toMatchObject({
    name: "AbortError",
  });
  // A node process running wrangler takes most of a second to start; refusing takes none.
  expect(Date.now() - t).toBeLessThan(100);
  const kv = { local: true, persistTo: "/nonexistent/edgeshift", signal: AbortSignal.abort() };
  await expect(readDocText(kv, "rollout")).rejects.toThrow(/not run: stopping/);
  await expect(writeDocText(kv, "rollout", "{}")).rejects.toThrow(/not run: stopping/);
});

it("ends the wrangler under way when the signal fires", async () => {
  const stop = new AbortController();
  const run = runWrangler(["--version"], { signal: stop.signal });
  setTimeout(() => stop.abort(), 50);
  await expect(run).rejects.toMatchObject({ name: "AbortError", message: /wrangler --version failed/ });
});
