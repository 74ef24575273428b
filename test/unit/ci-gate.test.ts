// scripts/ci-gate.sh (the GitHub Action's step): its outputs are written however the gate ends, so a
// workflow testing `steps.<id>.outputs.outcome` sees why — here when `edgeshift start` cannot reach
// the Worker and no attempt ever began.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");

/** A local port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("ci-gate.sh", () => {
  it("start cannot reach the Worker: exit 3, outcome unreachable, an empty attempt, and the annotation", async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), "edgeshift-ci-gate-")), "github-output");
    const run = await promisify(execFile)("bash", ["scripts/ci-gate.sh"], {
      cwd: ROOT,
      env: {
        ...process.env,
        EDGESHIFT_URL: `http://127.0.0.1:${await closedPort()}`,
        EDGESHIFT_TOKEN: "t".repeat(32),
        RELEASE: "r1",
        GITHUB_OUTPUT: out,
        GITHUB_ACTIONS: "true",
      },
    }).then(
      () => ({ code: 0, stdout: "" }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(run.code).toBe(3);
    expect(readFileSync(out, "utf8")).toBe("attempt=\nexit-code=3\noutcome=unreachable\n");
    expect(run.stdout).toContain("::error title=edgeshift::release r1: unreachable (edgeshift start exit 3)");
  }, 60_000);
});
