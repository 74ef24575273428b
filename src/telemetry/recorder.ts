// PLACEHOLDER (owned by the controller/rollback work): isolate-side outcome counters, bounded,
// flushed in batches to the controller off the request path; holds the latest ControllerView.
import type { Rollout, Slot } from "../config/schema";
import type { Env } from "../env";
import { EMPTY_VIEW, type ControllerView } from "./protocol";

export interface Outcome {
  slot: Slot;
  role: "canary" | "stable";
  /** Status of the origin's answer, null when there was none (network error, timeout). */
  status: number | null;
  error: null | "network" | "timeout";
  /** Time to response headers, ms. */
  latencyMs: number;
  /** This failed canary answer was replaced by stable's (GET/HEAD/OPTIONS). */
  failedOver: boolean;
}

export interface ShadowOutcome {
  status: number | null;
  error: null | "network" | "timeout";
  latencyMs: number;
  /** true: same as stable's; false: differs; null: not compared (body too large, dropped). */
  matched: boolean | null;
}

/** The document version a request was routed under. */
export interface Routed {
  fingerprint: string;
  doc: Rollout;
}

export class Recorder {
  view: ControllerView = EMPTY_VIEW;
  record(_r: Routed, _o: Outcome): void {}
  recordNewVisitor(_r: Routed, _slot: Slot): void {}
  recordShadow(_r: Routed, _o: ShadowOutcome): void {}
  /** Starts a flush in ctx.waitUntil if one is due. Never throws; never delays the response. */
  maybeFlush(_ctx: ExecutionContext, _env: Env): void {}
}

/** One per isolate. */
export const recorder = new Recorder();
