// `edgeshift validate` reports the document's bounds with the Worker's own messages (issue 9).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validate } from "../../cli/commands/validate";
import type { Io } from "../../cli/command";

async function run(doc: string): Promise<{ code: number; out: string; err: string }> {
  const f = path.join(mkdtempSync(path.join(tmpdir(), "edgeshift-validate-")), "rollout.json");
  writeFileSync(f, doc);
  let out = "";
  let err = "";
  const io = {
    out: (s: string) => (out += s + "\n"),
    err: (s: string) => (err += s + "\n"),
    env: {},
    style: {},
  } as unknown as Io;
  const code = await validate.run({ values: {}, positionals: [f] }, io);
  return { code, out, err };
}

describe("edgeshift validate: the summary", () => {
  it("says which steps wait for a person, and for how long", async () => {
    const r = await run(
      JSON.stringify({
        steps: [
          5,
          { percent: 25, approve: true },
          { percent: 50, approve: true, approveTimeoutSeconds: 14400, onTimeout: "rollback" },
          100,
        ],
      }),
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      "plan: 5 % for 300s → 25 % for 300s, then approval → 50 % for 300s, then approval within 4h (then rollback) → 100 % for 300s, then promote",
    );
  });
});

describe("edgeshift validate: the document's bounds", () => {
  it("an oversized list: exit 1, the field, its size and the limit", async () => {
    const values = Array.from({ length: 75_000 }, (_, i) => `user-${i}`);
    const r = await run(JSON.stringify({ rules: [{ header: { name: "x-user-id", values } }] }));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /rules\.0\.header\.values: the document is .* as compact JSON .* at most 64 KiB; rules\.0\.header\.values holds/,
    );
  });

  it("a 100k-deep array: exit 1 without a stack overflow", async () => {
    const r = await run(`{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nest more than 32 deep/);
  });

  it("a release with a line break: exit 1 naming release", async () => {
    const r = await run(JSON.stringify({ release: "v2\nx" }));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/release: release must be 1–128 visible ASCII characters/);
  });
});
