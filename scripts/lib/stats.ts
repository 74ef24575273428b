/** The median; for an even count, the mean of the two middle values. */
export function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * µs per call of each of `fns`, called `calls` times with k = 0, 1, …: the best of `batches`
 * batches, the functions' batches interleaved so a drift of the machine's speed favours none.
 */
export function bestMicrosPerCall(fns: ((k: number) => unknown)[], calls = 20_000, batches = 5): number[] {
  const best = fns.map(() => Infinity);
  for (let batch = 0; batch < batches; batch++)
    fns.forEach((fn, i) => {
      const t0 = performance.now();
      for (let k = 0; k < calls; k++) fn(k);
      best[i] = Math.min(best[i], ((performance.now() - t0) * 1000) / calls);
    });
  return best;
}
