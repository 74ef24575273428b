// The generic JSON destination, signed as the Standard Webhooks specification says
// (github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md), so a
// receiver verifies it with that project's libraries in any language instead of code of its own:
//   webhook-id        the message's id, the same on every retry (the receiver's de-duplication key)
//   webhook-timestamp seconds since the epoch at this try (the receiver rejects old ones: replay)
//   webhook-signature "v1," + base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`
// The key is the secret's base64 after "whsec_" (the spec's form, what the libraries take), 24–64
// bytes; anything else is refused (./destinations.ts targetProblem) rather than signed with a key
// the receiver's library would read differently. Web Crypto only: Workers and Node alike.
import { fromBase64, toBase64 } from "../lib/base64";
import type { Message } from "./message";

export interface JsonNotification {
  /** "edgeshift.rollback": the event kind, namespaced as the specification suggests. */
  type: string;
  timestamp: string;
  data: Message["event"] & {
    title: string;
    text: string;
    release: string | null;
    canary?: string;
    percent?: number;
    attempt?: number;
    link?: string;
  };
}

export function jsonBody(m: Message): JsonNotification {
  return {
    type: `edgeshift.${m.event.kind}`,
    timestamp: m.event.at,
    data: {
      ...m.event,
      title: m.title,
      text: m.text,
      release: m.subject.release,
      ...(m.subject.canary !== undefined ? { canary: m.subject.canary } : {}),
      ...(m.subject.percent !== undefined ? { percent: m.subject.percent } : {}),
      ...(m.subject.attempt !== undefined ? { attempt: m.subject.attempt } : {}),
      ...(m.link ? { link: m.link } : {}),
    },
  };
}

export async function signatureHeaders(
  key: Uint8Array,
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<Record<string, string>> {
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": `v1,${toBase64(new Uint8Array(mac))}`,
  };
}

const PREFIX = "whsec_";

/** The key of a "whsec_<base64>" secret (24–64 bytes), or null when the secret is not one. */
export function signingKey(secret: string): Uint8Array | null {
  if (!secret.startsWith(PREFIX)) return null;
  const b64 = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return null;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(b64);
  } catch {
    return null;
  }
  return bytes.length >= 24 && bytes.length <= 64 ? bytes : null;
}
