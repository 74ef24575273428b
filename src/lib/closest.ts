// "Did you mean …?": the nearest of some known words to a typed one. Used for unknown fields in a
// document (src/model/parse.ts), unknown flag keys on the command line (cli/flags-edit.ts), and the
// CLI's own commands and options (cli/edgeshift.ts, cli/args.ts).

/** Nearest candidate by edit distance (case-insensitive), if close enough to be a plausible typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) ((bestD = d), (best = c));
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      // Adjacent transposition ("precent") counts as one edit, like a single typo.
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}
