// The controller's small durable state (one JSON row in `kv_state`, key "controller") and the pure
// rules for attempts and supersession. Documented in docs/storage-schema.md ("Durable Object").
import { NO_DOCUMENT } from "../model/fingerprint";
import { ALL_STABLE, type Rollout } from "../model/rollout";
import { parseRollout } from "../model/parse";
import type { ControllerView, KilledFlag, Report } from "../model/protocol";
import type { RolledBack } from "../model/status";

/** Fingerprints kept as superseded (newest first): far more than isolates could hold stale. */
export const MAX_SUPERSEDES = 64;

export interface ControllerState {
  /** 0 until the controller has read KV once; +1 on every new operator write. */
  attempt: number;
  attemptStartedAt: string;
  /** Text of the document in force: the operator's, or the controller's rewrite of it. */
  text: string | null;
  doc: Rollout;
  fingerprint: string;
  source: "kv" | "controller";
  /** Every version of this attempt: the operator's and each rewrite by the controller. */
  fingerprints: string[];
  /** Versions replaced by a controller write (this and earlier attempts), newest first. */
  supersedes: string[];
  /**
   * Versions of earlier attempts, newest first (bounded), and "none" (no document). Isolates keep
   * reporting one while their cached copy is stale (up to KV's 60 s at the edge): it is an old
   * version, never an operator's write the controller has not seen yet (./unseen-versions.ts).
   */
  earlier: string[];
  revision: number;
  /** What isolates are told: the document the controller last wrote (null: none yet). */
  viewDoc: Rollout | null;
  viewFingerprint: string | null;
  rolledBack: RolledBack | null;
  /** When this attempt's canary was promoted (the roles switched); null until then. */
  promotedAt: string | null;
  configError: {
    at: string;
    fingerprint: string;
    summary: string;
    problems: { path: string; message: string }[];
  } | null;
  /** A KV write the controller still owes (retried by alarm); the view already protects traffic. */
  pendingKvText: string | null;
  /** Alarm concerns → epoch ms; the alarm is set to the earliest. */
  wake: Record<string, number>;
  /**
   * Guarded flags switched off by the controller, told to isolates in the view (./flag-guard.ts);
   * `seenOff`: KV has shown the flag off since (so a version with it on is the operator's); `at`/`reason`:
   * when and why the guard switched it off (status shows those, not the live window's).
   */
  killedFlags: (KilledFlag & { seenOff?: boolean; at?: string; reason?: string })[];
}

/**
 * Fields that can each hold a whole document (text or parsed): stored one row each
 * (ControllerStore.putParts), so the largest valid document times the copies kept never meets
 * SQLite's 2 MB value limit in one row.
 */
export const DOCUMENT_FIELDS = [
  "text",
  "doc",
  "viewDoc",
  "pendingKvText",
] as const satisfies readonly (keyof ControllerState)[];

/**
 * The state with fallbacks for document fields whose stored rows were unreadable
 * (ControllerStore.getParts), the other fields as stored:
 * | corrupt              | falls back to                                                       |
 * |----------------------|---------------------------------------------------------------------|
 * | doc                  | the parsed `text` when that is intact and valid, else ALL_STABLE    |
 * |                      | (everyone on stable until the next version arrives)                 |
 * | text                 | `doc` written out (keeps its fields for the controller's next patch)|
 * |                      | or null when doc is lost too                                        |
 * | viewDoc              | none: isolates follow KV's copy (viewFingerprint cleared with it)   |
 * | pendingKvText        | none: the owed KV write is lost, KV's copy stands                   |
 */
export function repairParts(s: ControllerState, corrupt: readonly string[]): ControllerState {
  if (corrupt.length === 0) return s;
  const out = { ...s };
  const lost = (f: string) => corrupt.includes(f);
  if (lost("doc")) {
    const parsed = lost("text") ? null : parseRollout(s.text);
    out.doc = parsed !== null && parsed.ok ? parsed.doc : ALL_STABLE;
  }
  if (lost("text")) out.text = lost("doc") ? null : JSON.stringify(out.doc);
  if (lost("viewDoc")) {
    out.viewDoc = null;
    out.viewFingerprint = null;
  }
  if (lost("pendingKvText")) out.pendingKvText = null;
  return out;
}

export interface ReportCounters {
  /** Isolates' reports counted, whether they came directly or merged by an aggregator. */
  received: number;
  droppedByIsolates: number;
  /** Shadow mirrors isolates sampled but could not send (in-flight limit): the shadow sample is that much smaller. */
  mirrorsSkipped: number;
  /**
   * Canary-bound requests isolates sent to stable for want of a fresh verdict (the gate, src/telemetry/
   * freshness.ts): counted in no slot, so they tilt neither the comparison nor the sample-ratio check.
   */
  diverted: number;
  lastAt: string | null;
}

/** The health window's span when the document has `rollback: false` (the status page still shows one). */
export const DEFAULT_WINDOW_SECONDS = 60;

export function windowSecondsOf(doc: Rollout): number {
  return doc.rollback === false ? DEFAULT_WINDOW_SECONDS : doc.rollback.windowSeconds;
}

export const NO_REPORTS: ReportCounters = {
  received: 0,
  droppedByIsolates: 0,
  mirrorsSkipped: 0,
  diverted: 0,
  lastAt: null,
};

/** The counters after one more report at `at` (epoch ms). Figures from an isolate below 0 or not numbers count as 0. */
export function afterReport(counters: ReportCounters, r: Partial<Report> | null, at: number): ReportCounters {
  const positive = (x: unknown) => (Number(x) > 0 ? Number(x) : 0);
  return {
    // A merged report stands for `reports` isolates' reports (src/telemetry/merge.ts); an isolate's for 1.
    received: counters.received + Math.max(1, Math.floor(positive(r?.reports))),
    droppedByIsolates: counters.droppedByIsolates + positive(r?.dropped),
    mirrorsSkipped: counters.mirrorsSkipped + positive(r?.mirrorsSkipped),
    diverted: counters.diverted + positive(r?.diverted),
    lastAt: new Date(at).toISOString(),
  };
}

export function initialState(): ControllerState {
  return {
    attempt: 0,
    attemptStartedAt: new Date(0).toISOString(),
    text: null,
    doc: ALL_STABLE,
    fingerprint: NO_DOCUMENT,
    source: "kv",
    fingerprints: [],
    supersedes: [],
    earlier: [NO_DOCUMENT],
    revision: 0,
    viewDoc: null,
    viewFingerprint: null,
    rolledBack: null,
    promotedAt: null,
    configError: null,
    pendingKvText: null,
    wake: {},
    killedFlags: [],
  };
}

export function viewOf(s: ControllerState): ControllerView {
  const view: ControllerView = {
    revision: s.revision,
    doc: s.viewDoc,
    fingerprint: s.viewFingerprint,
    supersedes: s.supersedes,
  };
  if (s.killedFlags?.length) view.killedFlags = s.killedFlags.map((k) => ({ key: k.key, definition: k.definition }));
  return view;
}

/** Whether `fingerprint` is older than what KV holds: an earlier attempt's version, or no document. */
export function isEarlier(s: ControllerState, fingerprint: string): boolean {
  return fingerprint === NO_DOCUMENT || (s.earlier ?? []).includes(fingerprint);
}

/** Whether a fingerprint is one the controller has already accounted for (this attempt or replaced). */
export function knows(s: ControllerState, fingerprint: string): boolean {
  return s.fingerprints.includes(fingerprint) || s.supersedes.includes(fingerprint);
}

/** State after the controller wrote `text` (fingerprint `fp`, parsed `doc`) within the current attempt. */
export function afterControllerWrite(s: ControllerState, text: string, fp: string, doc: Rollout): ControllerState {
  const replaced = s.fingerprints.filter((f) => f !== fp);
  // The operator's own text of this attempt is the one KV is most likely to serve stale: it is
  // never dropped from either list, however many writes the controller makes.
  const operator = s.fingerprints[s.fingerprints.length - 1];
  return {
    ...s,
    text,
    doc,
    fingerprint: fp,
    source: "controller",
    fingerprints: bounded(dedupe([fp, ...s.fingerprints]), operator),
    supersedes: bounded(
      dedupe([...replaced, ...s.supersedes.filter((f) => f !== fp)]),
      operator === fp ? undefined : operator,
    ),
    revision: s.revision + 1,
    viewDoc: doc,
    viewFingerprint: fp,
    pendingKvText: text,
  };
}

/** State for a new operator write: a new attempt; what was superseded stays superseded. */
export function startAttempt(
  s: ControllerState,
  text: string | null,
  fp: string,
  doc: Rollout,
  at: string,
): ControllerState {
  return {
    ...s,
    attempt: s.attempt + 1,
    attemptStartedAt: at,
    text,
    doc,
    fingerprint: fp,
    source: "kv",
    fingerprints: [fp],
    earlier: bounded(
      dedupe([...s.fingerprints, ...(s.earlier ?? []), NO_DOCUMENT]).filter((f) => f !== fp),
      NO_DOCUMENT,
    ),
    rolledBack: rolledBackOf(doc),
    promotedAt: null,
    configError: null,
    // The operator's write wins over anything the controller still meant to write.
    pendingKvText: null,
  };
}

function bounded(xs: string[], pin: string | undefined): string[] {
  if (xs.length <= MAX_SUPERSEDES) return xs;
  const head = xs.slice(0, MAX_SUPERSEDES - 1);
  return pin !== undefined && !head.includes(pin) && xs.includes(pin) ? [...head, pin] : xs.slice(0, MAX_SUPERSEDES);
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * The document's rolledBack record as status shows it. `by` is the operator who aborted (the
 * controller's own rollbacks carry none), so `edgeshift wait` tells an abort from a rollback
 * without searching the recent events.
 */
export function rolledBackOf(doc: Rollout): RolledBack | null {
  const rb = doc.rolledBack;
  if (!rb) return null;
  // An empty `by` (the schema allows one in a hand-written document) names nobody: read as absent, so
  // the status page, `edgeshift status` and `wait` all call it a rollback.
  return { at: rb.at, reason: rb.reason, ...(rb.by ? { by: rb.by } : {}), figures: rb.figures };
}
