// readTextUpTo: an oversized value costs the budget, not its size.
import { describe, expect, it } from "vitest";
import { readTextUpTo } from "../../src/lib/bounded-read";

/** A stream of `count` chunks of `size` bytes, counting what the reader pulled and whether it cancelled. */
function counted(count: number, size: number, byte = 0x61) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (seen.pulled === count) return c.close();
        seen.pulled++;
        c.enqueue(new Uint8Array(size).fill(byte));
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

const bytes = (...parts: number[][]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(new Uint8Array(p));
      c.close();
    },
  });

describe("readTextUpTo", () => {
  it("stops pulling past the budget: a 25 MiB value costs 256 KiB and one chunk", async () => {
    const { stream, seen } = counted(400, 64 * 1024); // 25 MiB
    const r = await readTextUpTo(stream, 256 * 1024);
    expect(r.whole).toBe(false);
    expect(r.text.length).toBe(256 * 1024);
    expect(seen.pulled).toBeLessThanOrEqual(6);
    expect(seen.cancelled).toBe(true);
  });

  it("a value at the budget is whole; decoded as Response.text() would (split UTF-8, BOM, bad bytes)", async () => {
    const { stream, seen } = counted(4, 64 * 1024);
    const r = await readTextUpTo(stream, 256 * 1024);
    expect(r).toEqual({ text: "a".repeat(256 * 1024), whole: true });
    expect(seen.cancelled).toBe(false);
    // "é" split over two chunks, a BOM first, an invalid byte last.
    const parts = [
      [0xef, 0xbb, 0xbf, 0x7b, 0xc3],
      [0xa9, 0x7d, 0xff],
    ];
    const want = await new Response(bytes(...parts)).text();
    expect(await readTextUpTo(bytes(...parts), 100)).toEqual({ text: want, whole: true });
    expect(want).toBe("{é}\uFFFD");
  });
});
