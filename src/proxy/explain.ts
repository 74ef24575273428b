// The opt-in `x-edgeshift-explain` response header: which slot answered and why. Only for a
// request that carries `x-edgeshift-explain: <an admin token>` (ADMIN_TOKEN or one of ADMIN_TOKENS),
// checked like the admin API's bearer (`explainRequested` in src/worker/credentials.ts):
// | situation                                      | what happens                                          |
// |------------------------------------------------|-------------------------------------------------------|
// | no token configured, or one too short          | ignored (a too-short one is logged once per isolate)  |
// | wrong token                                    | ignored; the failure counted per client address       |
// | too many wrong tokens from this address        | ignored, nothing compared; the request served as ever |
// |                                                | (counted apart from the admin API's failures)         |
// | a right token                                  | the header on the response                            |
// The request header is never forwarded (headers.ts drops every x-edgeshift-* field).
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
  /** A canary-bound request sent to stable for want of a fresh verdict (the gate, src/worker/handler.ts). */
  diverted?: boolean;
}

export function explainValue(f: ExplainFacts): string {
  const d = f.decision;
  let s = `slot=${f.answeredBy}; role=${d.role}; reason=${d.reason}; bucket=${d.bucket}; threshold=${f.threshold}; release=${f.release ?? ""}; source=${f.source}`;
  if (d.rule !== null) s += `; rule=${d.rule}`;
  if (f.failover !== null) s += `; failover=${f.failover}`;
  if (f.diverted) s += "; diverted=no-fresh-verdict";
  return s;
}
