// `npm start -- --once`: the whole demo unattended, ending with the automatic rollback confirmed in
// KV. The only test that may use the demo's fixed ports (8101, 8102, 8787).
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../../scripts/lib/dev-stack";

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

it("runs the story unattended and ends with the rollback done, leaving nothing running", async () => {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "scripts/demo.ts", "--once", "--quiet"],
    {
      cwd: ROOT,
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (out += b));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  expect(out).toContain("Rolled back");
  expect(out).toMatch(/reason: +\S/);
  expect(out).toContain("rollback confirmed in KV");
  expect(out).toContain("/__edgeshift/#token=");
  // Failover's promise, as the demo itself measured it: failed GETs were answered by blue.
  expect(out).toMatch(/, 0 on GETs \(failed GETs are retried on blue\)/);
  expect(code, out).toBe(0);
  for (const port of [8101, 8102, 8787])
    expect(await portOpen(port), `port ${port} still open after the demo`).toBe(false);
}, 150_000);
