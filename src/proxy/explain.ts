// The opt-in `x-edgeshift-explain` response header: which slot answered and why. Only for a
// request that carries `x-edgeshift-explain: <ADMIN_TOKEN>`; ignored when ADMIN_TOKEN is unset.
// Pure but for WebCrypto. The request header is never forwarded (headers.ts drops every x-edgeshift-* field).
import type { Decision } from "../routing/decide";
import { sameSecret } from "../lib/secret";

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

/**
 * Whether the request asked for an explanation with the right token. Costs nothing on requests
 * without the header; with it, the same hashed compare as the admin API (no length leak).
 */
export async function explainRequested(headers: Headers, adminToken: string | undefined): Promise<boolean> {
  if (!adminToken) return false;
  const given = headers.get(EXPLAIN_HEADER);
  return given !== null && (await sameSecret(given, adminToken));
}

export function explainValue(f: ExplainFacts): string {
  const d = f.decision;
  let s = `slot=${f.answeredBy}; role=${d.role}; reason=${d.reason}; bucket=${d.bucket}; threshold=${f.threshold}; release=${f.release ?? ""}; source=${f.source}`;
  if (d.rule !== null) s += `; rule=${d.rule}`;
  if (f.failover !== null) s += `; failover=${f.failover}`;
  return s;
}
