// MurmurHash3 (x86, 32-bit) over UTF-16 code units. Chosen for the hot path: no TextEncoder
// allocation, Math.imul only, good avalanche (uniform buckets whatever the key's shape: sequential
// ids, emails, UUIDs — see test/unit/bucket.test.ts). Not cryptographic, and need not be.
// Test vectors are pinned in test/unit/hash.test.ts: changing this function reshuffles every cohort.

export function murmur3(key: string, seed: number): number {
  let h = seed | 0;
  const len = key.length;
  const end = len & ~1;
  let i = 0;
  // Two UTF-16 code units make one 32-bit block.
  for (; i < end; i += 2) {
    let k = (key.charCodeAt(i) & 0xffff) | ((key.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (len & 1) {
    let k = key.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len * 2;
  return fmix32(h);
}

/** murmur3's finaliser: every input bit affects every output bit. Also spreads small integers. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
