// Shadow policy and response diffing. Pure (no Workers imports): whether a request is mirrored,
// and whether the canary's answer to a mirrored request matches stable's.
//
// Verdicts (the `matched` counted by the recorder; only `false` counts against the canary):
// | stable vs canary                                              | matched |
// |---------------------------------------------------------------|---------|
// | status differs                                                | false   |
// | a header in `shadow.compareHeaders` differs (absent ≠ present)| false   |
// | `shadow.compareBody` false, or HEAD, and the above equal      | true    |
// | both bodies ≤ maxBodyBytes, SHA-256 equal / different         | true / false |
// | one body ≤ maxBodyBytes, the other larger                     | false (sizes differ) |
// | both bodies > maxBodyBytes                                    | null (not compared) |
// | a body could not be read (reset, timeout)                     | null    |
// | the canary gave no answer (network, timeout)                  | null, counted as an error |
// (A mirror not sent because MAX_IN_FLIGHT were running is no outcome at all: see mirror.ts.)
import type { Rollout } from "../model/rollout";

/** Marks a mirrored request: apps should treat it as "no side effects" (no writes, no emails). */
export const SHADOW_HEADER = "x-edgeshift-shadow";

export type BodyDigest =
  | { kind: "hash"; hex: string; bytes: number }
  | { kind: "too-large" }
  /** Not read: HEAD, or body comparison off. */
  | { kind: "skipped" }
  | { kind: "error" };

export interface AnswerSummary {
  status: number;
  /** Values of the compared headers, in `compareHeaders` order; null when absent. */
  headers: (string | null)[];
  body: BodyDigest;
}

export interface CompareOptions {
  headers: readonly string[];
  compareBody: boolean;
  maxBodyBytes: number;
}

export function compareOptionsOf(doc: Rollout): CompareOptions {
  return {
    headers: doc.shadow.compareHeaders,
    compareBody: doc.shadow.compareBody,
    maxBodyBytes: doc.shadow.maxBodyBytes,
  };
}

/**
 * Whether this request is mirrored. `rand` in [0, 1). Never when the canary is rolled back, never a
 * method that may change state (only GET and HEAD are mirrored: RFC 9110 §9.2.1 safe methods with
 * no body to replay), never a WebSocket handshake (it would open a second socket to the canary).
 */
export function shouldMirror(doc: Rollout, method: string, websocket: boolean, rand: number): boolean {
  if (doc.rolledBack !== undefined || doc.shadowPercent <= 0 || websocket) return false;
  if (method !== "GET" && method !== "HEAD") return false;
  return rand * 100 < doc.shadowPercent;
}

export function pickHeaders(h: Headers, names: readonly string[]): (string | null)[] {
  return names.map((n) => h.get(n));
}

export function compareAnswers(stable: AnswerSummary, canary: AnswerSummary): boolean | null {
  if (stable.status !== canary.status) return false;
  for (let i = 0; i < stable.headers.length; i++) if (stable.headers[i] !== canary.headers[i]) return false;
  const a = stable.body,
    b = canary.body;
  if (a.kind === "skipped" || b.kind === "skipped") return true;
  if (a.kind === "error" || b.kind === "error") return null;
  if (a.kind === "hash" && b.kind === "hash") return a.hex === b.hex && a.bytes === b.bytes;
  if (a.kind === "too-large" && b.kind === "too-large") return null;
  // One fitted under the limit, the other did not: they cannot be the same bytes.
  return false;
}

/** A declared Content-Length above the limit: the body is not teed at all. */
export function declaredTooLarge(h: Headers, maxBodyBytes: number): boolean {
  const cl = h.get("content-length");
  if (cl === null || !/^\d+$/.test(cl)) return false;
  return Number(cl) > maxBodyBytes;
}
