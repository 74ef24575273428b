// SHA-256 of a response body, bounded: reads at most `maxBytes` + 1 bytes and then lets go of the
// stream, so a huge body costs at most `maxBytes` of memory and never blocks the user's branch of
// a teed body for long. WebCrypto only (runs in workerd and Node 20). Never throws.
import type { BodyDigest } from "./compare";

/** `signal`: abort gives up on the body (a slow canary), answering "error". */
export async function digestBody(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<BodyDigest> {
  if (body === null) return hashOf(new Uint8Array(0));
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const onAbort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        // Stop pulling: a teed sibling (the user's branch) keeps streaming on its own.
        await reader.cancel().catch(() => {});
        return { kind: "too-large" };
      }
      chunks.push(value);
    }
  } catch {
    await reader.cancel().catch(() => {});
    return { kind: "error" };
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  // Cancelled by the signal: what was read is only part of the body.
  if (signal?.aborted) return { kind: "error" };
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) (all.set(c, at), (at += c.byteLength));
  return hashOf(all);
}

async function hashOf(bytes: Uint8Array): Promise<BodyDigest> {
  try {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    let hex = "";
    for (const b of d) hex += b.toString(16).padStart(2, "0");
    return { kind: "hash", hex, bytes: bytes.byteLength };
  } catch {
    return { kind: "error" };
  }
}
