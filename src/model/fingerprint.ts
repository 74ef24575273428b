// Identity of one written version of the `rollout` document: a hash of its exact text.
// A stale copy served by KV's eventual consistency is byte-identical to what was written, so the
// controller can name the versions it has superseded (after a rollback, a plan step, a promotion)
// and every isolate can refuse them, whatever its cache says. See docs/storage-schema.md.
import { murmur3 } from "../lib/hash";

/** The fingerprint of "no document": the key is missing, or nothing was read yet (everyone on stable). */
export const NO_DOCUMENT = "none";

export function fingerprintOf(text: string): string {
  // Two independent 32-bit hashes: 64 bits is plenty to tell a few thousand versions apart.
  const a = murmur3(text, 0x9747b28c) >>> 0;
  const b = murmur3(text, 0x5bd1e995) >>> 0;
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}
