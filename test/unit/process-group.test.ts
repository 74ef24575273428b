// scripts/lib/process-group.ts with real processes (sh and sleep): the group is signalled whole, and
// once its leader ended on its own it is killed and let go, so that its id, free for reuse, is never
// signalled again (wrangler dev dying on its own, then the demo's exit hook).
import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import { processGroup } from "../../scripts/lib/process-group";
import { running } from "./processes";

async function until(what: string, ok: () => boolean, ms = 3000) {
  for (const deadline = Date.now() + ms; !ok();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `sh -c script` as its own group's leader; resolves with the pid the script echoes first. */
async function leader(script: string) {
  const child = spawn("sh", ["-c", script], { detached: true, stdio: ["ignore", "pipe", "ignore"] });
  const group = processGroup(child);
  const member = await new Promise<number>((resolve) => child.stdout!.once("data", (b) => resolve(Number(b))));
  return { child, group, member };
}

it("kills what the leader left in its group when the leader ends on its own, then lets the group go", async () => {
  const { child, group, member } = await leader("sleep 30 >/dev/null 2>&1 & echo $!");
  await new Promise((r) => child.once("exit", r));
  await until("the member to be killed", () => !running(member));
  expect(group.signal(0)).toBe(false);
});

it("stop() ends a group that ignores SIGTERM with SIGKILL after the grace, and lets it go", async () => {
  const { child, group, member } = await leader(`trap "" TERM; sleep 30 >/dev/null 2>&1 & echo $!; wait`);
  expect(group.signal(0)).toBe(true);
  const t = Date.now();
  await group.stop(300);
  expect(Date.now() - t).toBeGreaterThanOrEqual(300);
  await until("both to end", () => child.exitCode !== null || child.signalCode !== null);
  await until("the member to end", () => !running(member));
  expect(group.signal(0)).toBe(false);
});
