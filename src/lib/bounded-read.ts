// Reading a stream as UTF-8 text only up to a byte budget: past it, the stream is cancelled and
// nothing more is pulled, so an oversized value costs the budget, not its size.

export interface BoundedText {
  /** The whole text, or (`whole` false) the chunks read before the budget ran out. */
  text: string;
  whole: boolean;
}

/**
 * The stream's text up to `maxBytes` bytes; past that, the stream is cancelled at the first chunk
 * over the budget and what came before it is returned with `whole: false`. Decoded like
 * `Response.text()` (invalid bytes become U+FFFD, a leading BOM is dropped), so a whole text is the
 * one a whole-value read would give.
 */
export async function readTextUpTo(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<BoundedText> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  let whole = true;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (n + value.byteLength > maxBytes) {
      whole = false;
      await reader.cancel().catch(() => {});
      break;
    }
    n += value.byteLength;
    chunks.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return { text: new TextDecoder().decode(all), whole };
}
