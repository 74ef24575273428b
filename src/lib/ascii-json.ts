// JSON that is also a valid HTTP field value: every character outside printable ASCII escaped.
// Header values are byte strings (RFC 9110 §5.5): a raw "é" would be sent as Latin-1 or refused,
// while "\u00e9" is read back by any JSON parser as written.

/** JSON.stringify with every character outside printable ASCII escaped (\uXXXX). */
export function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[^\x20-\x7e]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}
