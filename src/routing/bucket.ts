// Cohort bucketing: a sticky key → one of 10,000 buckets; the canary gets the buckets below
// `threshold`. Pure.
//
// Why this shape:
// - 10,000 buckets = 0.01 % resolution, the resolution the schema keeps `percent` at.
// - canary iff bucket < round(percent × 100): raising `percent` within one salt only adds buckets
//   (no canary visitor ever returns to stable), lowering it removes the fewest, and 0 / 100 are
//   exact (threshold 0 admits no bucket, 10,000 admits every one).
// - The salt is `doc.salt ?? doc.release ?? ""`: by default each release samples a different
//   population, so the same unlucky 5 % are not the guinea pigs of every release. Set `salt` to
//   keep one population across releases. Changing the salt reshuffles everyone; keep it fixed
//   within a release (plan steps and percent changes do not touch it).
// - The salt is folded into murmur3's seed once per document version (`seedOf`), so a request
//   costs one murmur3 over the key and no string concatenation.
// - murmur3's 32-bit output is mapped to [0, 10000) by multiply-and-shift (the high bits), not by
//   modulo: each bucket receives 429,496 or 429,497 of the 2^32 hash values, a relative skew of
//   2.3e-6, far below anything a chi-square over realistic traffic can see.
import { murmur3 } from "../lib/hash";

export const BUCKETS = 10_000;
const TWO_POW_32 = 4294967296;
/** Fixed seed for hashing the salt itself; changing it reshuffles every cohort (pinned in tests). */
const SALT_SEED = 0x2c1b3c6d;

/** The salt a document buckets with (see above). */
export function saltOf(doc: { salt?: string; release?: string }): string {
  return doc.salt ?? doc.release ?? "";
}

/** murmur3 seed for a salt; compute once per document version, not per request. */
export function seedOf(salt: string): number {
  return salt === "" ? 0 : murmur3(salt, SALT_SEED);
}

/** Buckets below the threshold go to the canary. `percent` is 0–100 at 0.01 resolution. */
export function thresholdOf(percent: number): number {
  const t = Math.round(percent * 100);
  return t < 0 ? 0 : t > BUCKETS ? BUCKETS : t;
}

/** The bucket of a sticky key, 0 ≤ bucket < BUCKETS. h × 10000 < 2^53, so the product is exact. */
export function bucketOf(key: string, seed: number): number {
  return Math.floor((murmur3(key, seed) * BUCKETS) / TWO_POW_32);
}
