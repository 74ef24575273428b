// One hex digit from a character code, for the parsers that read hex by hand on the hot path
// (IPv6 groups, the visitor cookie's check digits) instead of allocating with parseInt/slice.

/** 0–15 for 0-9, a-f, A-F; -1 for anything else. */
export function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
