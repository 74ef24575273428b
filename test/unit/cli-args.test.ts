import { describe, expect, it } from "vitest";
import { EXIT, check, durationArg, durationText, parseCommandArgs, percentArg, stepsArg } from "../../cli/args";
import { main } from "../../cli/edgeshift";
import { captureIo as io, usageMessage } from "./cli-io";

describe("argument values", () => {
  it("percent: 0–100 at 0.01 resolution, errors name the flag and the fix", () => {
    expect(check(percentArg, "25", "<percent>")).toBe(25);
    expect(check(percentArg, "0.125", "<percent>")).toBe(0.13);
    expect(usageMessage(() => check(percentArg, "150", "<percent>"))).toMatch(
      /<percent>: must be at most 100.*got "150"/,
    );
    expect(usageMessage(() => check(percentArg, "5%", "<percent>"))).toMatch(
      /<percent>: must be a number from 0 to 100/,
    );
    expect(usageMessage(() => check(percentArg, "-1", "<percent>"))).toMatch(/<percent>/);
  });

  it("steps: ascending list of percents", () => {
    expect(check(stepsArg, "1, 5,25,50,100", "--steps")).toEqual([1, 5, 25, 50, 100]);
    expect(usageMessage(() => check(stepsArg, "5,1", "--steps"))).toMatch(/--steps: must be strictly ascending/);
    expect(usageMessage(() => check(stepsArg, "1,500", "--steps"))).toMatch(
      /--steps: step "500": the percent must be at most 100/,
    );
    expect(usageMessage(() => check(stepsArg, undefined, "--steps"))).toMatch(
      /--steps: is required, e.g. --steps 1,5:10m,25,50:approve,100/,
    );
  });

  it("steps: a hold time of its own and approval, each after a colon", () => {
    expect(
      check(stepsArg, "1, 5:10m, 25, 50:approve, 75:approve=2h:rollback, 90:approve=1d:promote:90s, 100", "--steps"),
    ).toEqual([
      1,
      { percent: 5, seconds: 600 },
      25,
      { percent: 50, approve: true },
      { percent: 75, approve: true, approveTimeoutSeconds: 7200, onTimeout: "rollback" },
      { percent: 90, approve: true, approveTimeoutSeconds: 86400, onTimeout: "promote", seconds: 90 },
      100,
    ]);
    // Ascending by percent, whatever the options.
    expect(usageMessage(() => check(stepsArg, "50:approve,25", "--steps"))).toMatch(/strictly ascending/);
    // What a timeout does needs the timeout.
    expect(usageMessage(() => check(stepsArg, "50:approve:rollback", "--steps"))).toMatch(
      /step "50:approve:rollback": "rollback" happens when an approval times out: give the wait, e\.g\. 50:approve=2h:rollback/,
    );
    expect(usageMessage(() => check(stepsArg, "50:aprove", "--steps"))).toMatch(
      /step "50:aprove": "aprove" is not a step option: a hold time \(10m, 90s\), approve, approve=<duration>/,
    );
    expect(usageMessage(() => check(stepsArg, "50:approve=soon", "--steps"))).toMatch(
      /approve=soon: how long to wait for approval must be a duration from 1s to 30d/,
    );
    expect(usageMessage(() => check(stepsArg, "50:31d", "--steps"))).toMatch(
      /step "50:31d": the hold time 31d must be from 1s to 30d/,
    );
    expect(usageMessage(() => check(stepsArg, "50:approve=0", "--steps"))).toMatch(
      /approve=0: how long to wait for approval must be from 1s to 30d/,
    );
    // Each option once: opposite timeout actions, or two hold times, are refused rather than one ignored.
    expect(usageMessage(() => check(stepsArg, "5:approve=2h:rollback:promote", "--steps"))).toMatch(
      /step "5:approve=2h:rollback:promote": what an approval timeout does is given twice: keep one/,
    );
    expect(usageMessage(() => check(stepsArg, "5:10m:20m", "--steps"))).toMatch(/a hold time is given twice/);
    expect(usageMessage(() => check(stepsArg, "5:approve:approve=1h", "--steps"))).toMatch(/approve is given twice/);
    // Spaces around ":" and "=" are a person's, not an error.
    expect(check(stepsArg, "5 : approve = 2h : rollback", "--steps")).toEqual([
      { percent: 5, approve: true, approveTimeoutSeconds: 7200, onTimeout: "rollback" },
    ]);
    expect(usageMessage(() => check(stepsArg, "x:approve", "--steps"))).toMatch(
      /step "x:approve": the percent must be a number/,
    );
  });

  it("durations printed back in the largest whole unit", () => {
    expect([600, 28800, 90, 86400, 3661, 7200].map(durationText)).toEqual(["10m", "8h", "90s", "1d", "3661s", "2h"]);
  });

  it("durations for tokens", () => {
    expect(check(durationArg, "8h", "--ttl")).toBe(8 * 3600);
    expect(check(durationArg, "30m", "--ttl")).toBe(1800);
    expect(usageMessage(() => check(durationArg, "8 hours", "--ttl"))).toMatch(
      /--ttl: must be a duration such as 30m, 8h or 7d/,
    );
    expect(usageMessage(() => check(durationArg, "365d", "--ttl"))).toMatch(/at most 30d/);
  });

  it("unknown flags are usage errors that point at --help", () => {
    const m = usageMessage(() => parseCommandArgs(["--precent", "5"], { local: { type: "boolean", help: "" } }, "set"));
    expect(m).toContain("--precent");
    expect(m).toContain("edgeshift set --help");
  });
});

describe("dispatch and exit codes", () => {
  it("--help on every command exits 0 and lists its flags", async () => {
    for (const cmd of [
      "status",
      "watch",
      "history",
      "set",
      "start",
      "pause",
      "resume",
      "promote",
      "abort",
      "validate",
      "token",
      "experiment",
    ]) {
      const { x, out } = io();
      expect(await main([cmd, "--help"], x)).toBe(0);
      expect(out.join("\n")).toContain(`edgeshift ${cmd}`);
      expect(out.join("\n")).toContain("Exit codes");
    }
  });

  it("an unknown command or no command is a usage error (2)", async () => {
    const a = io();
    expect(await main(["deploy"], a.x)).toBe(EXIT.USAGE);
    expect(a.err.join("")).toContain('unknown command "deploy"');
    expect(a.err.join("")).not.toContain("did you mean");
    expect(await main([], io().x)).toBe(EXIT.USAGE);
  });

  it("a typo in a command, subcommand or option names the likely one", async () => {
    const cmd = io();
    expect(await main(["stauts"], cmd.x)).toBe(EXIT.USAGE);
    expect(cmd.err.join("")).toContain('unknown command "stauts": did you mean "status"?');
    const sub = io();
    expect(await main(["flags", "lsit"], sub.x)).toBe(EXIT.USAGE);
    expect(sub.err.join("")).toContain('unknown subcommand "lsit": did you mean "list"?');
    const opt = io();
    expect(await main(["set", "5", "--relase", "v2"], opt.x)).toBe(EXIT.USAGE);
    expect(opt.err.join("")).toContain("Unknown option '--relase': did you mean --release?");
  });

  it("history --limit 0 says the range in the flag's words", async () => {
    const a = io();
    expect(await main(["history", "--limit", "0", "--url", "http://127.0.0.1:1", "--token", "t"], a.x)).toBe(
      EXIT.USAGE,
    );
    expect(a.err.join("")).toContain("--limit: must be at least 1, e.g. --limit 20");
  });

  it("set rejects a bad percent before touching KV (2)", async () => {
    const a = io();
    expect(await main(["set", "101", "--local"], a.x)).toBe(EXIT.USAGE);
    expect(a.err.join("")).toMatch(/<percent>: must be at most 100/);
  });

  it("--persist-to without --local is refused, naming the fix", async () => {
    const a = io();
    expect(await main(["set", "5", "--persist-to", "/tmp/x"], a.x)).toBe(EXIT.USAGE);
    expect(a.err.join("")).toContain("add --local");
  });

  it("API commands without a token say how to give one (2)", async () => {
    const a = io();
    expect(await main(["status"], a.x)).toBe(EXIT.USAGE);
    expect(a.err.join("")).toContain("EDGESHIFT_TOKEN");
  });

  it("an unreachable Worker is exit 3 and names the URL", async () => {
    const a = io({ EDGESHIFT_TOKEN: "t" });
    // Port 9 (discard) on loopback: nothing listens there in CI.
    expect(await main(["status", "--url", "http://127.0.0.1:9"], a.x)).toBe(EXIT.UNREACHABLE);
    expect(a.err.join("")).toContain("cannot reach the Worker at http://127.0.0.1:9");
  });

  it("a bad --url is a usage error naming the flag", async () => {
    const a = io({ EDGESHIFT_TOKEN: "t" });
    expect(await main(["status", "--url", "127.0.0.1:8787"], a.x)).toBe(EXIT.USAGE);
    expect(a.err.join("")).toMatch(/--url: must be an http\(s\) URL/);
  });
});

describe("token", () => {
  it("mints a token the Worker's verifier accepts, for the target and subject asked", async () => {
    const { verifyOverride } = await import("../../src/routing/override");
    const secret = "a-test-secret-of-32-characters!!";
    const a = io({ OVERRIDE_SECRET: secret });
    expect(await main(["token", "--target", "canary", "--ttl", "8h", "--sub", "alice"], a.x)).toBe(0);
    expect(a.out).toHaveLength(1);
    const now = Math.floor(Date.now() / 1000);
    const claims = await verifyOverride(a.out[0], secret, now);
    expect(claims).toMatchObject({ target: "canary", sub: "alice" });
    expect(claims!.exp - now).toBeGreaterThan(8 * 3600 - 60);
    expect(claims!.exp - now).toBeLessThanOrEqual(8 * 3600);
    expect(await verifyOverride(a.out[0], secret + "x", now)).toBeNull();
  });

  it("--flag mints a token that sets flag variations and, without --target, no slot", async () => {
    const { verifyOverride } = await import("../../src/routing/override");
    const secret = "a-test-secret-of-32-characters!!";
    const a = io({ OVERRIDE_SECRET: secret });
    expect(await main(["token", "--flag", "new-checkout=on", "--flag", "theme=dark"], a.x)).toBe(0);
    const claims = await verifyOverride(a.out[0], secret, Math.floor(Date.now() / 1000));
    expect(claims).toMatchObject({ flags: { "new-checkout": "on", theme: "dark" } });
    expect(claims!.target).toBeUndefined();
    const bad = io({ OVERRIDE_SECRET: secret });
    expect(await main(["token", "--flag", "theme"], bad.x)).toBe(EXIT.USAGE);
    expect(bad.err.join("")).toContain("<flag key>=<variation>");
    const many = io({ OVERRIDE_SECRET: secret });
    const nine = Array.from({ length: 9 }, (_, i) => ["--flag", `f${i}=on`]).flat();
    expect(await main(["token", ...nine], many.x)).toBe(EXIT.USAGE);
    expect(many.err.join("")).toContain("1–8 flags");
  });

  it("no secret, a short secret or a bad target is exit 2 naming the fix", async () => {
    const none = io();
    expect(await main(["token", "--target", "canary"], none.x)).toBe(EXIT.USAGE);
    expect(none.err.join("")).toContain("OVERRIDE_SECRET");
    const short = io({ OVERRIDE_SECRET: "short" });
    expect(await main(["token"], short.x)).toBe(EXIT.USAGE);
    expect(short.err.join("")).toContain("at least 16 characters");
    const target = io({ OVERRIDE_SECRET: "a-test-secret-of-32-characters!!" });
    expect(await main(["token", "--target", "purple"], target.x)).toBe(EXIT.USAGE);
    expect(target.err.join("")).toMatch(/--target: must be "canary", "stable", "blue" or "green"/);
  });
});
