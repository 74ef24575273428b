/**
 * `text` with each secret value replaced by "<secret>" and control characters dropped: for text
 * from outside (a receiver's answer, a connection error quoting a URL) on its way to a status, a
 * log or a terminal, where neither a credential nor an escape sequence belongs.
 */
export function redacted(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const v of secrets) out = out.split(v).join("<secret>");
  return out.replace(/\p{Cc}+/gu, " ");
}
