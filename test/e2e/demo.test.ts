// `npm start -- --once`: the whole demo unattended, ending with the automatic rollback and the guarded
// flag's kill confirmed in KV, and the experiment's result; and a Ctrl-C in the middle of it. The only
// test that may use the demo's fixed ports (8101, 8102, 8787).
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
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

const demo = (args: string[], detached = false) =>
  spawn(process.execPath, [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "scripts/demo.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached,
  });

/** Every process descended from `pid`, with its command line (`ps`: Linux and macOS). */
function descendants(pid: number): { pid: number; args: string }[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
  const found: { pid: number; args: string }[] = [];
  for (let todo = [pid]; todo.length;) {
    const p = todo.pop()!;
    for (const r of rows.filter((r) => r.ppid === p)) (found.push(r), todo.push(r.pid));
  }
  return found;
}
/** Whether `pid` is a process that still runs (a zombie waiting for its parent's reaping does not). */
const running = (pid: number) => {
  try {
    return !execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" })
      .trim()
      .startsWith("Z");
  } catch {
    return false; // ps exits 1: no such process
  }
};

// A terminal's Ctrl-C goes to the whole foreground process group: the demo, and the `wrangler kv`
// it is running, which fails under it. wrangler dev has a group of its own that Ctrl-C never reaches,
// so the demo must stop it; once it did not (main()'s failure exited first), leaving port 8787 held.
it("stops everything on Ctrl-C in the middle of the story: exit 130, port free, no wrangler left, temp dirs gone", async () => {
  const child = demo([], true);
  let out = "";
  child.stdout.on("data", (b) => (out += b));
  child.stderr.on("data", (b) => (out += b));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  // Scene 2 starts with an `edgeshift set`, i.e. a wrangler kv process in flight.
  for (const deadline = Date.now() + 60_000; !out.includes("▶ 2.") && child.exitCode === null;) {
    expect(Date.now() < deadline, out).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
  }
  const stack = descendants(child.pid!);
  const wrangler = stack.find((p) => /wrangler\.js dev /.test(p.args));
  expect(wrangler, JSON.stringify(stack)).toBeDefined();
  const dirs = [...wrangler!.args.matchAll(/\/\S*\/edgeshift-(?:dev|control)-[^/\s]+/g)].map((m) => m[0]);
  expect(dirs, wrangler!.args).toHaveLength(2);

  process.kill(-child.pid!, "SIGINT");
  const code = await exited;
  expect(code, out).toBe(130);
  const after = out.slice(out.indexOf("\nstopping:"));
  expect(after.trim().split("\n"), out).toHaveLength(1);
  expect(out).not.toContain("demo failed");
  const left = async () => ({ port: await portOpen(8787), processes: stack.filter((p) => running(p.pid)) });
  for (let i = 0; i < 30; i++) {
    const l = await left();
    if (!l.port && !l.processes.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await left(), "3 s after the demo").toEqual({ port: false, processes: [] });
  for (const dir of dirs) expect(existsSync(dir), `${dir} left behind`).toBe(false);
}, 90_000);

it("runs the story unattended and ends with the rollback, the flag's kill and green shown better, leaving nothing running", async () => {
  const child = demo(["--once", "--quiet"]);
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
  expect(out).toMatch(
    /\$ npm run edgeshift -- flags set new-layout --percent 50 --local --persist-to \S+ +→ new-layout: rollout 50 %/,
  );
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
  expect(out).toMatch(
    /\$ npm run edgeshift -- set 50 --release v2\.0\.1 --local --persist-to \S+ +→ wrote \{"percent":50,"release":"v2\.0\.1"/,
  );
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
