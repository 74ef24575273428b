// `npm start -- --once`: the whole demo unattended, ending with the automatic rollback and the guarded
// flag's kill confirmed in KV, and the experiment's result. The only test that may use the demo's
// fixed ports (8101, 8102, 8787).
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

it("runs the story unattended and ends with the rollback, the flag's kill and green shown better, leaving nothing running", async () => {
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
  expect(out).toContain("/__edgeshift/#token=");
  // Failover's promise, as the demo itself measured it: failed GETs were answered by blue.
  expect(out).toMatch(/, 0 on GETs \(failed GETs are retried on blue\)/);
  // The notifications, as the local stand-ins for Slack and PagerDuty got them.
  expect(out).toMatch(/notified: Slack #releases ← "edgeshift rolled back release v2\.0\.0 \(green\): /);
  expect(out).toMatch(/PagerDuty ← trigger demo\/rollback\/attempt-\d+/);

  // The flag's scene: ramped without moving anyone out, killed by its guard, KV saying so, and the
  // visitors who had it no longer sent down the broken path.
  expect(out).toContain("A guarded feature flag");
  expect(out).toMatch(/\$ edgeshift flags set new-layout --percent 50 --local +→ new-layout: rollout 50 %/);
  expect(out).toMatch(/sticky: of the \d+ visitors who got it, [1-9]\d* came back and 0 of them lost it/);
  expect(out).toContain("The new layout breaks");
  expect(out).toContain("Switched off");
  expect(out).toMatch(/event: +flag-killed: flag "new-layout" switched off: \S/);
  expect(out).toMatch(/KV now: +"new-layout": \{.*"on":false\}/);
  expect(out).toMatch(/last second requests with it 0\/s, without [1-9]\d*\/s, 5xx to users 0 /);

  // The experiment's scene: a new attempt at 50 %, and the controller's result once green is better,
  // at the rates the origins were told (10 % and 16 %): the visitors who came before the release
  // are in neither arm.
  expect(out).toContain("An experiment");
  expect(out).toMatch(/\$ edgeshift set 50 --release v2\.0\.1 --local +→ wrote \{"percent":50,"release":"v2\.0\.1"/);
  expect(out).toContain("Green converts better");
  const result =
    /result: +signup: blue (\d+\.\d) % of \d+ · green (\d+\.\d) % of \d+ · \+\d+\.\d points \[\+\d+\.\d, \+\d+\.\d\] · green better/.exec(
      out,
    );
  expect(result, out).not.toBeNull();
  expect(Math.abs(Number(result![1]) - 10)).toBeLessThan(1);
  expect(Math.abs(Number(result![2]) - 16)).toBeLessThan(1);
  expect(out).toMatch(/counted: +[\d,]+ visitors, each once in its arm \(0 seen in both/);
  expect(out).toContain("visitors who saw x-edgeshift-goal: 0");
  expect(out).toContain("rollback and flag kill confirmed in KV, green shown to convert better");
  expect(code, out).toBe(0);
  for (const port of [8101, 8102, 8787])
    expect(await portOpen(port), `port ${port} still open after the demo`).toBe(false);
}, 240_000);
