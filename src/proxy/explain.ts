// The opt-in `x-edgeshift-explain` response header: which slot answered and why. Only for a
// request that carries `x-edgeshift-explain: <ADMIN_TOKEN>`; ignored when ADMIN_TOKEN is unset.
// Pure. The request header is never forwarded (headers.ts drops every x-edgeshift-* field).
import type { Decision } from "../routing/decide";

export const EXPLAIN_HEADER = "x-edgeshift-explain";

export interface ExplainFacts {
  decision: Decision;
  threshold: number;
  release: string | undefined;
  source: "kv" | "controller";
  /** "green->blue status=500" when a canary failure was answered by stable. */
  failover: string | null;
  /** The slot whose answer the user got (differs from decision.slot after failover). */
  answeredBy: string;
}

/** Whether the request asked for an explanation with the right token (constant-time compare). */
export function explainRequested(headers: Headers, adminToken: string | undefined): boolean {
  if (!adminToken) return false;
  const given = headers.get(EXPLAIN_HEADER);
  return given !== null && constantTimeEqual(given, adminToken);
}

export function explainValue(f: ExplainFacts): string {
  const d = f.decision;
  let s = `slot=${f.answeredBy}; role=${d.role}; reason=${d.reason}; bucket=${d.bucket}; threshold=${f.threshold}; release=${f.release ?? ""}; source=${f.source}`;
  if (d.rule !== null) s += `; rule=${d.rule}`;
  if (f.failover !== null) s += `; failover=${f.failover}`;
  return s;
}

/** Compares every character whatever the first mismatch; only the length leaks. */
export function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (i < a.length ? a.charCodeAt(i) : 0) ^ b.charCodeAt(i);
  return diff === 0;
}
