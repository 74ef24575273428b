// "Did you mean …?": the nearest of some known words to a typed one. Used for unknown fields in a
// document (src/model/parse.ts), unknown flag keys on the command line (cli/flags-edit.ts), and the
// CLI's own commands and options (cli/edgeshift.ts, cli/args.ts).

/**
 * Nearest candidate by edit distance (case-insensitive), if close enough to be a plausible typo and
 * the only one that close: `flags of` is as near "on" as "off", and guessing a kill switch's
 * opposite is worse than not guessing.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  let tied = false;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) ((bestD = d), (best = c), (tied = false));
    else if (d === bestD && c.toLowerCase() !== best?.toLowerCase()) tied = true;
  }
  return !tied && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance: an adjacent transposition ("precent") counts as one edit, like a single typo. */
function editDistance(a: string, b: string): number {
  // Rows i-2, i-1 and i of the table: enough for the transposition's look-back.
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length];
}
