// Commands the CLI and the demo print for a person to paste: a path with a space (a macOS TMPDIR
// under "Application Support", a home directory) must stay one word.

/** `s` as one POSIX shell word: as it is when every character is safe, else in single quotes. */
export function shellWord(s: string): string {
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  // Inside single quotes nothing is special but the quote itself: close, escaped quote, reopen.
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
