// Base64 over bytes with the runtime's own btoa/atob (Workers and Node alike), for the places that
// carry binary keys and MACs as text: signing keys (src/notify/signed-json.ts), override tokens
// (src/routing/override.ts, in its base64url spelling).

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** The bytes of standard base64 text; throws on text atob refuses. */
export function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
