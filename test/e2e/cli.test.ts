// The real `edgeshift` CLI (bin/edgeshift.mjs, a child process) against `wrangler dev` with real
// local KV and the real admin API.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startTraffic } from "../../scripts/lib/traffic";
import { runCli } from "./cli-run";
import { LOCAL_KV_WARNING } from "../../cli/doc-store";

let stack: DevStack;
const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeshift-cli-"));

const cli = (args: string[], env: Record<string, string> = {}) =>
  runCli(args, { EDGESHIFT_URL: stack?.url ?? "", EDGESHIFT_TOKEN: stack?.adminToken ?? "", ...env });
const local = () => ["--local", "--persist-to", stack.persistDir];

beforeAll(async () => {
  stack = await startDevStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe("validate (touches nothing)", () => {
  it("a good file: exit 0 and a summary", async () => {
    const f = path.join(tmp, "good.json");
    writeFileSync(f, JSON.stringify({ percent: 5, release: "v2", steps: [5, 50, 100] }));
    const r = await cli(["validate", f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("is valid");
    expect(r.stdout).toContain("green (canary) 5 %");
  });

  it("a bad file: exit 1, each problem names the field, the value and the fix", async () => {
    const f = path.join(tmp, "bad.json");
    writeFileSync(f, JSON.stringify({ precent: 5, rollback: { maxErrorRate: 2 } }));
    const r = await cli(["validate", f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown field "precent" (did you mean "percent"?)');
    expect(r.stderr).toMatch(/rollback\.maxErrorRate: .*\(got 2\)/);
  });

  it("a missing file: exit 2", async () => {
    const r = await cli(["validate", path.join(tmp, "nope.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot read");
  });
});

describe("set (wrangler kv key get/put --local)", () => {
  it("changes percent and keeps the rest of the document", async () => {
    await stack.putRollout({ percent: 5, release: "v2", stickyBy: "header:x-user-id" });
    const r = await cli(["set", "25", ...local()]);
    // --local chooses KV even with the URL and token in this test's environment, and says so.
    expect(r.stderr.trim()).toBe(LOCAL_KV_WARNING);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("split 5 % → 25 %");
    expect(await stack.getRollout()).toEqual({ percent: 25, release: "v2", stickyBy: "header:x-user-id" });
  });

  it("an invalid value writes nothing (exit 2)", async () => {
    const before = await stack.getRollout();
    const r = await cli(["set", "250", ...local()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("<percent>: must be at most 100");
    const long = await cli(["set", "10", "--release", "x".repeat(200), ...local()]);
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/nothing written.*\n\s+release:/);
    expect(await stack.getRollout()).toEqual(before);
  });

  it("after a rollback, set is a new attempt: rolledBack removed, attempt bumped, and it says so", async () => {
    await stack.putRollout({
      percent: 0,
      release: "v2",
      rolledBack: { at: "2026-11-25T08:00:00.000Z", reason: "canary 40.0 % errors (40/100) > maxErrorRate 5.0 %" },
    });
    const r = await cli(["set", "5", ...local()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("new attempt");
    expect(await stack.getRollout()).toEqual({ percent: 5, release: "v2", attempt: 1 });
  });

  it("start writes a plan", async () => {
    const r = await cli(["start", "--steps", "10,50,100", "--step-seconds", "600", ...local()]);
    expect(r.code).toBe(0);
    expect(await stack.getRollout()).toMatchObject({ percent: 10, steps: [10, 50, 100], stepSeconds: 600 });
    // Back to a plain split so the API tests below see no plan.
    expect((await cli(["set", "0", ...local()])).code).toBe(0);
  });
});

describe("admin API commands", () => {
  it("status --json: the controller's StatusSnapshot", async () => {
    await stack.putRollout({ percent: 25, release: "v3" });
    // The Worker re-reads KV within CONFIG_TTL_SECONDS; send traffic so the controller hears of it.
    const s = await waitFor(
      "status to show 25 %",
      async () => {
        await fetch(stack.url + "/x").then((r) => r.arrayBuffer());
        const r = await cli(["status", "--json"]);
        if (r.code !== 0) throw new Error(r.stderr);
        const j = JSON.parse(r.stdout);
        return j.percent === 25 && j.release === "v3" ? j : null;
      },
      60_000,
      1000,
    );
    expect(s).toMatchObject({
      state: expect.any(String),
      roles: { canary: "green", stable: "blue" },
      percent: 25,
      release: "v3",
    });
    expect(s.window).toMatchObject({
      seconds: expect.any(Number),
      canary: { requests: expect.any(Number), errorRate: expect.any(Number) },
    });
    expect(Array.isArray(s.events)).toBe(true);
    const human = await cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("green (canary) 25 %");
  });

  it("pause with no plan: the API's 409 is exit 1 with its message", async () => {
    const r = await cli(["pause", "--reason", "test"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/edgeshift pause: 409/);
  });

  it("history --json: events newest first", async () => {
    const r = await cli(["history", "--json", "--limit", "5"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Array.isArray(j.events)).toBe(true);
    expect(j.events.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < j.events.length; i++) expect(j.events[i - 1].id).toBeGreaterThan(j.events[i].id);
  });

  it("a wrong token is exit 1 and says what to check; an unreachable Worker is exit 3", async () => {
    const bad = await cli(["status"], { EDGESHIFT_TOKEN: "wrong" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("401");
    const down = await cli(["status", "--url", "http://127.0.0.1:9"]);
    expect(down.code).toBe(3);
  });

  it("after a real rollback: status --check exits 1, history has the reason, set is a new attempt the controller takes", async () => {
    await stack.putRollout({ percent: 50, release: "v4" });
    stack.green.setMode({ errorRate: 0.5 });
    const traffic = startTraffic({ url: stack.url, visitors: 100, rate: 40 });
    let rolledBack: { reason: string };
    try {
      rolledBack = (await waitFor(
        "the rollback in KV",
        async () => (await stack.getRollout())?.rolledBack,
        60_000,
        1000,
      )) as { reason: string };
    } finally {
      await traffic.stop();
      stack.green.setMode({ errorRate: 0 });
    }
    const check = await cli(["status", "--check"]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("ROLLED BACK");
    expect(check.stderr).toContain(`check failed: rolled back (${rolledBack.reason})`);
    const h = JSON.parse((await cli(["history", "--json", "--limit", "3"])).stdout);
    expect(h.events[0]).toMatchObject({ kind: "rollback", actor: "controller", reason: rolledBack.reason });

    const retry = await cli(["set", "10", ...local()]);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain("this write is a new attempt");
    expect(await stack.getRollout()).toEqual({ percent: 10, release: "v4", attempt: 1 });
    const s = await waitFor(
      "the controller to take the new attempt",
      async () => {
        await fetch(stack.url + "/y").then((r) => r.arrayBuffer());
        const j = JSON.parse((await cli(["status", "--json"])).stdout);
        return j.state !== "rolled-back" && j.percent === 10 ? j : null;
      },
      60_000,
      1000,
    );
    expect(s.rolledBack).toBeNull();
    expect((await cli(["status", "--check"])).code).toBe(0);
  });
});

describe("flags (wrangler kv key get/put --local; no admin API for flags)", () => {
  /** What the origin received in x-edgeshift-flags on one request through the Worker (it echoes headers). */
  async function originFlags(): Promise<Record<string, unknown> | null> {
    const r = await fetch(stack.url + "/flags-probe");
    const echo = (await r.json()) as { headers: Record<string, string | undefined> };
    const header = echo.headers["x-edgeshift-flags"];
    return header === undefined ? null : JSON.parse(header);
  }

  it("list, then the kill switch: the document keeps the rest, and the origin receives the off value", async () => {
    const doc = {
      flags: {
        "new-checkout": { description: "e2e", rollout: { percent: 100 } },
        theme: { variations: { light: "light", dark: "dark" }, off: "light", default: "dark" },
      },
    };
    await stack.putFlags(doc);
    // The Worker caches KV for CONFIG_TTL_SECONDS: poll until it serves this document.
    await waitFor(
      "the origin to get new-checkout on",
      async () => (await originFlags())?.["new-checkout"] === true,
      30_000,
      500,
    );

    const list = await cli(["flags", "list", ...local()]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("2 flags in local KV");
    expect(list.stdout).toMatch(/new-checkout\s+on\s+boolean\s+100 % → on\s+0\s+origin\n/);
    expect(list.stdout).toMatch(/theme\s+on\s+string\s+–\s+0\s+origin/);

    const typo = await cli(["flags", "off", "new-chekout", ...local()]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('no flag "new-chekout"');
    expect(typo.stderr).toContain('did you mean "new-checkout"?');

    const off = await cli(["flags", "off", "new-checkout", ...local()]);
    expect(off.code).toBe(0);
    expect(off.stderr).toContain("the last writer wins");
    expect(off.stdout).toContain("new-checkout: on → OFF — written to local KV");
    expect(await stack.getFlags()).toEqual({
      flags: { ...doc.flags, "new-checkout": { ...doc.flags["new-checkout"], on: false } },
    });
    const seen = await waitFor(
      "the origin to get new-checkout off",
      async () => {
        const f = await originFlags();
        return f?.["new-checkout"] === false ? f : null;
      },
      30_000,
      500,
    );
    expect(seen).toEqual({ "new-checkout": false, theme: "dark" });
  });
});
