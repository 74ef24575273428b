// `edgeshift approve`: its arguments, the request it sends to the admin API, what it prints, the
// refusal when nothing waits (409), and how `edgeshift wait` shows a step waiting for approval.
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../cli/edgeshift";
import { EXIT } from "../../cli/args";
import { runWait } from "../../cli/commands/wait";
import type { StatusSnapshot } from "../../src/model/status";
import { captureIo } from "./cli-io";
import { snapshot } from "./status-fixture";

const ENV = { EDGESHIFT_URL: "http://edge.test", EDGESHIFT_TOKEN: "t".repeat(32), USER: "alice" };
const SINCE = "2026-11-25T08:00:30.000Z";
const WAITING = `approval of step 2/3 (25 %) since ${SINCE}: \`edgeshift approve\` to go on`;

function waiting(): StatusSnapshot {
  const s = snapshot();
  return {
    ...s,
    plan: {
      ...s.plan!,
      heldSeconds: 60,
      waitingFor: WAITING,
      awaitingApproval: { since: SINCE, timeoutSeconds: 3600, onTimeout: "wait", timedOut: false },
    },
  };
}

/** fetch answering `status` with `body`; the requests it saw. */
function stubFetch(status: number, body: unknown) {
  const seen: { url: string; method: string; auth: string | null; body: unknown }[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    seen.push({
      url,
      method: init.method ?? "GET",
      auth: headers.get("authorization"),
      body: init.body ? JSON.parse(String(init.body)) : null,
    });
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  });
  return seen;
}

afterEach(() => void vi.unstubAllGlobals());

describe("edgeshift approve", () => {
  it("posts the approve action with the reason and the note ($USER), prints done and the status", async () => {
    const after = snapshot({ percent: 100 });
    const seen = stubFetch(200, { ok: true, status: after });
    const { x, out } = captureIo(ENV);
    expect(await main(["approve", "--reason", "dashboards look good at 25 %"], x)).toBe(EXIT.OK);
    expect(seen).toEqual([
      {
        url: "http://edge.test/__edgeshift/api/actions/approve",
        method: "POST",
        auth: `Bearer ${"t".repeat(32)}`,
        body: { note: "alice", reason: "dashboards look good at 25 %" },
      },
    ]);
    expect(out[0]).toBe("approve: done");
    expect(out.join("\n")).toContain("release v2");
  });

  it("--json prints the API's answer", async () => {
    stubFetch(200, { ok: true, status: snapshot() });
    const { x, out } = captureIo(ENV);
    expect(await main(["approve", "--json", "--note", "bob"], x)).toBe(EXIT.OK);
    expect(JSON.parse(out.join("\n"))).toMatchObject({ ok: true, status: { state: "running" } });
  });

  it("nothing waiting: the controller's 409 message, exit 1", async () => {
    const error =
      "nothing waits for approval yet: step 2/3 (25 %) asks for it once it has held 60 s healthy with enough traffic (see `edgeshift status`)";
    stubFetch(409, { error });
    const { x, err } = captureIo(ENV);
    expect(await main(["approve"], x)).toBe(EXIT.FAILED);
    expect(err.join("\n")).toContain(`edgeshift approve: 409: ${error}`);
  });

  it("arguments: no positionals, no unknown flags (exit 2); --help names the command", async () => {
    const a = captureIo(ENV);
    expect(await main(["approve", "now"], a.x)).toBe(EXIT.USAGE);
    const b = captureIo(ENV);
    expect(await main(["approve", "--force"], b.x)).toBe(EXIT.USAGE);
    expect(b.err.join("\n")).toContain("--force");
    const h = captureIo(ENV);
    expect(await main(["approve", "--help"], h.x)).toBe(EXIT.OK);
    expect(h.out.join("\n")).toContain('edgeshift approve --reason "dashboards look good at 50 %"');
    const top = captureIo(ENV);
    await main(["--help"], top.x);
    expect(top.out.join("\n")).toMatch(/ {2}approve +Approve the plan step that waits for a person/);
  });

  it("status shows what the step waits for", async () => {
    stubFetch(200, waiting());
    const { x, out } = captureIo(ENV);
    expect(await main(["status"], x)).toBe(EXIT.OK);
    expect(out.join("\n")).toContain(WAITING);
  });
});

describe("edgeshift wait on a step waiting for approval", () => {
  it("keeps waiting and says so once, however many polls see it", async () => {
    let t = Date.parse("2026-11-25T08:01:00.000Z");
    const clock = { now: () => t, sleep: async (ms: number) => void (t += ms) };
    const answers = [snapshot(), waiting(), waiting(), waiting(), { ...snapshot(), state: "promoted" as const }];
    let i = 0;
    const api = { status: async () => answers[Math.min(i++, answers.length - 1)] };
    const { x, out } = captureIo();
    const o = { target: { first: true as const }, until: { kind: "promoted" as const }, timeoutMs: 600_000 };
    expect(await runWait(api, { ...o, intervalMs: 2000, json: false }, x, clock)).toBe(0);
    expect(out.filter((l) => l.includes("waiting for approval"))).toEqual([
      `08:01:02  attempt 3 · release v2 · running · green 25 % · step 2/3 (25 %) · healthy · waiting for approval — ${WAITING}`,
    ]);
    expect(out.at(-1)).toMatch(/^08:01:08 {2}PROMOTED: /);
  });
});
