// murmur3 is the cohort function: changing it reshuffles every visitor. These vectors pin it.
import { describe, expect, it } from "vitest";
import { murmur3 } from "../../src/lib/hash";

/** Reference MurmurHash3_x86_32 over bytes, straight from SMHasher's MurmurHash3.cpp. */
function murmur3Bytes(data: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const nblocks = data.length >> 2;
  const c1 = 0xcc9e2d51,
    c2 = 0x1b873593;
  for (let i = 0; i < nblocks; i++) {
    let k = data[i * 4] | (data[i * 4 + 1] << 8) | (data[i * 4 + 2] << 16) | (data[i * 4 + 3] << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const t = nblocks * 4;
  switch (data.length & 3) {
    case 3:
      k ^= data[t + 2] << 16; // fallthrough
    case 2:
      k ^= data[t + 1] << 8; // fallthrough
    case 1:
      k ^= data[t];
      k = Math.imul(k, c1);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, c2);
      h ^= k;
  }
  h ^= data.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const utf16le = (s: string) => {
  const b = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) ((b[2 * i] = s.charCodeAt(i) & 0xff), (b[2 * i + 1] = s.charCodeAt(i) >>> 8));
  return b;
};

describe("murmur3", () => {
  it("the reference implementation matches the published MurmurHash3_x86_32 vectors", () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(murmur3Bytes(new Uint8Array(0), 0)).toBe(0);
    expect(murmur3Bytes(new Uint8Array(0), 1)).toBe(0x514e28b7);
    expect(murmur3Bytes(new Uint8Array(0), 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3Bytes(new Uint8Array([0, 0, 0, 0]), 0)).toBe(0x2362f9de);
    expect(murmur3Bytes(ascii("Hello, world!"), 1234)).toBe(0xfaf6cdb3);
    expect(murmur3Bytes(ascii("The quick brown fox jumps over the lazy dog"), 0)).toBe(0x2e4ff723);
  });

  it("is MurmurHash3_x86_32 over the string's UTF-16LE code units (no TextEncoder needed)", () => {
    expect(murmur3("", 0)).toBe(0);
    expect(murmur3("", 1)).toBe(0x514e28b7);
    expect(murmur3("\u0000\u0000", 0)).toBe(0x2362f9de);
    const samples = [
      "a",
      "ab",
      "abc",
      "user-42",
      "alice@example.com",
      "3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a",
      "ünïcødé ✓",
      "🙂🙃",
      "x".repeat(1000),
    ];
    for (const s of samples)
      for (const seed of [0, 1, 0x9747b28c, -1]) expect(murmur3(s, seed)).toBe(murmur3Bytes(utf16le(s), seed));
  });

  it("pins the values cohorts depend on", () => {
    // If one of these changes, every visitor changes cohort: that is a breaking release.
    expect(murmur3("visitor-1", 0)).toBe(murmur3Bytes(utf16le("visitor-1"), 0));
    expect([murmur3("visitor-1", 0), murmur3("alice@example.com", 42), murmur3("v2.4.0", 0x2c1b3c6d)]).toEqual(PINNED);
  });
});

const PINNED = [3571123102, 351251630, 682270824];
