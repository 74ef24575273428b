// Shared statistics for the distribution tests (not a test file itself).

/** Upper critical value of chi-square with `dof` degrees of freedom at p = 0.001 (Wilson–Hilferty). */
export function chiSquareCritical(dof: number, z = 3.0902 /* one-sided p = 0.001 */): number {
  const a = 2 / (9 * dof);
  return dof * Math.pow(1 - a + z * Math.sqrt(a), 3);
}

export function chiSquare(observed: ArrayLike<number>, expected: ArrayLike<number>): number {
  let x = 0;
  for (let i = 0; i < observed.length; i++) x += (observed[i] - expected[i]) ** 2 / expected[i];
  return x;
}

/** Deterministic PRNG (mulberry32) so every run tests the same keys. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Key shapes real deployments stick by. */
export function keysOf(shape: "sequential" | "email" | "uuid", n: number): string[] {
  const out: string[] = new Array(n);
  if (shape === "sequential") for (let i = 0; i < n; i++) out[i] = String(i + 1);
  else if (shape === "email") for (let i = 0; i < n; i++) out[i] = `user${i}@example.com`;
  else {
    const r = prng(2024);
    const hex = (k: number) => {
      let s = "";
      for (let j = 0; j < k; j++) s += Math.floor(r() * 16).toString(16);
      return s;
    };
    for (let i = 0; i < n; i++)
      out[i] = `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(r() * 4)]}${hex(3)}-${hex(12)}`;
  }
  return out;
}
