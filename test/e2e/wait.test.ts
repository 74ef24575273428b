// `edgeshift wait`, the CI gate, end to end: the real CLI (a child process) against `wrangler dev`,
// two real origins and simulated visitors; plans written with the real `edgeshift start` through
// the controller, which prints the attempt the gate then waits on. Real time: steps of 1 s.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startTraffic, type Traffic } from "../../scripts/lib/traffic";
import { runCli } from "./cli-run";

let stack: DevStack;
let traffic: Traffic;
const cli = (...args: string[]) => runCli(args, { EDGESHIFT_URL: stack.url, EDGESHIFT_TOKEN: stack.adminToken });

beforeAll(async () => {
  stack = await startDevStack();
  traffic = startTraffic({ url: stack.url, visitors: 300, rate: 40, postShare: 0 });
  // Judged on 10 canary requests a step (the default 50 would make each step wait for traffic).
  await stack.putRollout({ percent: 0, release: "e2e-wait-base", rollback: { minRequests: 10, windowSeconds: 30 } });
  await waitFor(
    "the controller to read the base document",
    async () => JSON.parse((await cli("status", "--json")).stdout || "{}").release === "e2e-wait-base",
    60_000,
    500,
  );
});
afterAll(async () => {
  await traffic?.stop();
  await stack?.stop();
});

/** `edgeshift start …` through the controller; the attempt it printed. */
async function start(...args: string[]): Promise<number> {
  const r = await cli("start", ...args);
  expect(r.code, r.stderr).toBe(0);
  const m = /^attempt (\d+) \(a CI gate waits on it: edgeshift wait --attempt \1\)$/m.exec(r.stdout);
  expect(m, r.stdout).not.toBeNull();
  return Number(m![1]);
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

it("a healthy plan: one line per change, then promoted, exit 0", async () => {
  const attempt = await start("--steps", "50,100", "--step-seconds", "1", "--release", "e2e-wait-ok");
  const r = await cli("wait", "--attempt", String(attempt), "--timeout", "60s", "--interval", "1s");
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const lines = r.stdout.trim().split("\n");
  expect(lines[0]).toMatch(
    new RegExp(`^\\d\\d:\\d\\d:\\d\\d  attempt ${attempt} · release e2e-wait-ok · running · green 50 % · step 1/2`),
  );
  expect(lines.some((l) => l.includes("green 100 % · step 2/2 (100 %)"))).toBe(true);
  expect(lines.at(-1)).toMatch(
    new RegExp(`PROMOTED: green is the stable now — attempt ${attempt}, after \\d+ s, exit 0$`),
  );
  // One line per change, not per poll: no two progress lines alike.
  const progress = lines.slice(0, -1).map((l) => l.slice(10).replace(/ — .*/, ""));
  expect(new Set(progress).size).toBe(progress.length);
}, 90_000);

it("a plan still going when the timeout passes: exit 13; then the canary fails: rolled back, exit 10", async () => {
  const attempt = await start("--steps", "10,100", "--step-seconds", "600", "--release", "e2e-wait-slow");
  const slow = await cli("wait", "--attempt", String(attempt), "--timeout", "3s", "--interval", "1s", "--json");
  expect(slow.code, slow.stdout + slow.stderr).toBe(13);
  const seen = jsonLines(slow.stdout);
  expect(seen[0]).toMatchObject({
    event: "progress",
    attempt,
    release: "e2e-wait-slow",
    state: "running",
    percent: 10,
  });
  expect(seen.at(-1)).toMatchObject({ event: "outcome", outcome: "timeout", exitCode: 13, attempt });
  expect(seen.at(-1).reason).toMatch(/^no outcome within 3 s waiting for promoted; last: held \d+ of 600 s at 10 %/);

  // The first test's promotion made green the stable: the canary now is blue.
  const canary = seen[0].canary === "blue" ? stack.blue : stack.green;
  expect(seen[0].canary).toBe("blue");
  canary.setMode({ errorRate: 1, failStatus: 500 });
  try {
    const r = await cli("wait", "--release", "e2e-wait-slow", "--timeout", "60s", "--interval", "1s", "--json");
    expect(r.code, r.stdout + r.stderr).toBe(10);
    const out = jsonLines(r.stdout).at(-1);
    expect(out).toMatchObject({ event: "outcome", outcome: "rolled-back", exitCode: 10, attempt });
    expect(out.reason).toMatch(/^canary /);
  } finally {
    canary.setMode({ errorRate: 0, failStatus: 500, delayMs: 0 });
  }
}, 90_000);

it("a stale start: waiting for a release not written yet is not the previous attempt's outcome", async () => {
  // The status shows the rolled-back attempt of e2e-wait-slow; the gate waits for e2e-wait-next.
  const gate = cli("wait", "--release", "e2e-wait-next", "--until", "percent:10", "--timeout", "30s", "--json");
  await new Promise((r) => setTimeout(r, 1500));
  const attempt = await start("--steps", "10,100", "--step-seconds", "600", "--release", "e2e-wait-next");
  const r = await gate;
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const lines = jsonLines(r.stdout);
  expect(lines[0]).toMatchObject({ event: "not-started" });
  expect(lines[0].reason).toMatch(
    /^release e2e-wait-next not started yet \(the controller shows attempt \d+, release e2e-wait-slow\)$/,
  );
  expect(lines.at(-1)).toMatchObject({ event: "outcome", outcome: "reached", exitCode: 0, attempt });
}, 60_000);
