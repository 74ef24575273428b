/** Whether `u` parses as an absolute http: or https: URL (what fetch can POST to). */
export function isHttpUrl(u: string): boolean {
  try {
    const p = new URL(u).protocol;
    return p === "https:" || p === "http:";
  } catch {
    return false;
  }
}
