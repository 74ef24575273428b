import { describe, expect, it } from "vitest";
import { rolloutSchema, type RolloutInput } from "../../src/model/rollout";
import {
  compareAnswers,
  declaredTooLarge,
  pickHeaders,
  shouldMirror,
  type AnswerSummary,
  type BodyDigest,
} from "../../src/shadow/compare";
import { digestBody } from "../../src/shadow/digest";

const doc = (d: RolloutInput) => rolloutSchema.parse(d);
const hash = (hex: string, bytes = 10): BodyDigest => ({ kind: "hash", hex, bytes });
const ans = (status: number, headers: (string | null)[], body: BodyDigest): AnswerSummary => ({
  status,
  headers,
  body,
});
const streamOf = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
      c.close();
    },
  });

describe("which requests are mirrored", () => {
  const on = doc({ shadowPercent: 100 });
  it("GET and HEAD at shadowPercent 100, whatever the draw", () => {
    for (const r of [0, 0.5, 0.999999]) {
      expect(shouldMirror(on, "GET", false, r)).toBe(true);
      expect(shouldMirror(on, "HEAD", false, r)).toBe(true);
    }
  });

  it.each(["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "CONNECT", "TRACE"])("never %s", (m) => {
    expect(shouldMirror(on, m, false, 0)).toBe(false);
  });

  it("never a WebSocket handshake, never at 0 %, never when rolled back", () => {
    expect(shouldMirror(on, "GET", true, 0)).toBe(false);
    expect(shouldMirror(doc({ shadowPercent: 0 }), "GET", false, 0)).toBe(false);
    expect(
      shouldMirror(
        doc({ shadowPercent: 100, rolledBack: { at: "2026-01-01T00:00:00Z", reason: "errors" } }),
        "GET",
        false,
        0,
      ),
    ).toBe(false);
  });

  it("samples at shadowPercent", () => {
    const d = doc({ shadowPercent: 25 });
    expect(shouldMirror(d, "GET", false, 0.2499)).toBe(true);
    expect(shouldMirror(d, "GET", false, 0.25)).toBe(false);
    let n = 0;
    for (let i = 0; i < 10_000; i++) if (shouldMirror(d, "GET", false, i / 10_000)) n++;
    expect(n).toBe(2500);
  });
});

describe("compareAnswers", () => {
  it("same status, headers and body hash: match", () => {
    expect(compareAnswers(ans(200, ["text/html"], hash("aa")), ans(200, ["text/html"], hash("aa")))).toBe(true);
  });

  it("a different status is a mismatch whatever the bodies", () => {
    expect(compareAnswers(ans(200, [], hash("aa")), ans(500, [], hash("aa")))).toBe(false);
    expect(compareAnswers(ans(200, [], { kind: "too-large" }), ans(404, [], { kind: "too-large" }))).toBe(false);
  });

  it("a compared header that differs, or is missing on one side, is a mismatch", () => {
    expect(
      compareAnswers(
        ans(200, ["text/html", "max-age=60"], hash("aa")),
        ans(200, ["text/html", "no-store"], hash("aa")),
      ),
    ).toBe(false);
    expect(compareAnswers(ans(200, ["text/html"], hash("aa")), ans(200, [null], hash("aa")))).toBe(false);
    expect(compareAnswers(ans(200, [null], hash("aa")), ans(200, [null], hash("aa")))).toBe(true);
  });

  it("bodies: different hash or length → mismatch; both too large → not compared; one too large → mismatch", () => {
    expect(compareAnswers(ans(200, [], hash("aa")), ans(200, [], hash("bb")))).toBe(false);
    expect(compareAnswers(ans(200, [], hash("aa", 1)), ans(200, [], hash("aa", 2)))).toBe(false);
    expect(compareAnswers(ans(200, [], { kind: "too-large" }), ans(200, [], { kind: "too-large" }))).toBeNull();
    expect(compareAnswers(ans(200, [], hash("aa")), ans(200, [], { kind: "too-large" }))).toBe(false);
    expect(compareAnswers(ans(200, [], { kind: "too-large" }), ans(200, [], hash("aa")))).toBe(false);
  });

  it("an unreadable body is not compared, unless status or headers already differ", () => {
    expect(compareAnswers(ans(200, [], hash("aa")), ans(200, [], { kind: "error" }))).toBeNull();
    expect(compareAnswers(ans(200, [], { kind: "error" }), ans(502, [], { kind: "error" }))).toBe(false);
  });

  it("body comparison skipped (HEAD, compareBody false): status and headers decide", () => {
    expect(compareAnswers(ans(200, ["a"], { kind: "skipped" }), ans(200, ["a"], { kind: "skipped" }))).toBe(true);
    expect(compareAnswers(ans(200, ["a"], { kind: "skipped" }), ans(200, ["b"], { kind: "skipped" }))).toBe(false);
  });
});

describe("helpers", () => {
  it("pickHeaders keeps the order of the list and null for absent ones", () => {
    expect(
      pickHeaders(new Headers({ "Content-Type": "text/plain", etag: '"x"' }), ["etag", "content-type", "vary"]),
    ).toEqual(['"x"', "text/plain", null]);
  });

  it("declaredTooLarge reads Content-Length only when it is a plain number", () => {
    expect(declaredTooLarge(new Headers({ "content-length": "101" }), 100)).toBe(true);
    expect(declaredTooLarge(new Headers({ "content-length": "100" }), 100)).toBe(false);
    expect(declaredTooLarge(new Headers(), 100)).toBe(false);
    expect(declaredTooLarge(new Headers({ "content-length": "1e9" }), 100)).toBe(false);
  });
});

describe("digestBody", () => {
  it("hashes the whole body with SHA-256, however it is chunked", async () => {
    const one = await digestBody(streamOf("hello world"), 100);
    const many = await digestBody(streamOf("hel", "lo", " ", "world"), 100);
    expect(one).toEqual({
      kind: "hash",
      hex: "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
      bytes: 11,
    });
    expect(many).toEqual(one);
  });

  it("no body hashes as empty", async () => {
    expect(await digestBody(null, 0)).toEqual({
      kind: "hash",
      hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      bytes: 0,
    });
  });

  it("exactly maxBytes is hashed; one more byte is too large and the stream is cancelled", async () => {
    expect((await digestBody(streamOf("12345"), 5)).kind).toBe("hash");
    let cancelled = false;
    let pulls = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls++;
        c.enqueue(new Uint8Array(4));
      },
      cancel() {
        cancelled = true;
      },
    });
    expect(await digestBody(endless, 10)).toEqual({ kind: "too-large" });
    expect(cancelled).toBe(true);
    expect(pulls).toBeLessThan(10);
  });

  it("a body that errors mid-way is not compared (no throw)", async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(3));
        c.error(new Error("connection reset"));
      },
    });
    expect(await digestBody(broken, 100)).toEqual({ kind: "error" });
  });

  it("a body still trickling when the signal aborts is not compared (no partial hash)", async () => {
    const ac = new AbortController();
    const trickle = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(3));
      },
    });
    const p = digestBody(trickle, 100, ac.signal);
    ac.abort();
    expect(await p).toEqual({ kind: "error" });
  });
});
