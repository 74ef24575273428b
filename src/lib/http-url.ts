/** Whether `u` parses as an absolute http: or https: URL (what fetch can POST to). */
export function isHttpUrl(u: string): boolean {
  try {
    const p = new URL(u).protocol;
    return p === "https:" || p === "http:";
  } catch {
    return false;
  }
}

/** Whether `u` is an address on this machine (127.0.0.1, ::1, localhost): a test's receiver. */
export function isLocalUrl(u: string): boolean {
  try {
    const h = new URL(u).hostname;
    return h === "127.0.0.1" || h === "localhost" || h === "[::1]";
  } catch {
    return false;
  }
}
