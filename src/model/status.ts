// Shapes the controller answers to the admin API, the CLI and the status page. Pure types.
import type { Rollout, Slot } from "./rollout";

export interface SlotStats {
  requests: number;
  errors: number;
  /** errors / requests, 0 when there were no requests. */
  errorRate: number;
  errorsByKind: { status5xx: number; network: number; timeout: number };
  failovers: number;
  /** Latency percentiles in ms (upper bound of the histogram bucket), null with no data. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /**
   * Requests per latency bucket over the window (not cumulative): index i counts answers of at most
   * LATENCY_BOUNDS_MS[i] ms (and over the bound before it); the last counts those over 60 s.
   */
  latencyBuckets: number[];
}

export interface ShadowStats {
  mirrored: number;
  mismatches: number;
  mismatchRate: number;
  notCompared: number;
  errors: number;
  errorRate: number;
  p95: number | null;
}

export interface RuleVerdict {
  /** "error-rate", "relative-error-rate", "latency", "shadow-mismatch", "min-requests" … */
  rule: string;
  ok: boolean;
  detail: string;
}

/** Every kind of event the controller records (a notification destination picks from these). */
export const EVENT_KINDS = [
  "attempt", // a new document version began a new attempt
  "rollback",
  "would-roll-back", // rollback.mode "observe": the judgement failed, nothing was changed
  "step",
  "plan-start",
  "plan-extended",
  "plan-complete",
  "pause",
  "resume",
  "approve", // a person (or onTimeout "promote") approved a plan step that waited for it
  "approval-wait", // a step with `approve` held healthy: it waits for `edgeshift approve`
  "approval-timeout", // nobody approved within approveTimeoutSeconds: the step's onTimeout applied
  "promote",
  "abort",
  "sample-ratio",
  "config-error",
  "operator-write-won", // KV held an operator's version when the controller was about to write: theirs stays
  "operator-write-unseen", // isolates routed by a version KV never showed the controller; it wrote anyway
  "webhook-failed", // a notification could not be delivered (never itself notified: a failing receiver must not loop)
  "flag-killed", // a guarded flag's treatment failed its judgement: switched off
  "would-kill-flag", // the same with guard.mode "observe": nothing was changed
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface RolloutEvent {
  id: number;
  at: string;
  kind: EventKind;
  /** "controller" for automatic decisions, else the operator named in the action. */
  actor: string;
  reason: string;
  data?: Record<string, unknown>;
}

export type RolloutState = "idle" | "running" | "paused" | "rolled-back" | "promoted";

export interface PlanStatus {
  steps: {
    percent: number;
    seconds: number;
    approve?: { timeoutSeconds: number | null; onTimeout: "wait" | "rollback" | "promote" };
  }[];
  index: number;
  stepStartedAt: string;
  heldSeconds: number;
  requiredSeconds: number;
  requestsInStep: number;
  minRequests: number;
  paused: boolean;
  /** The last step has held healthy and the plan will not promote by itself (below 100, or autoPromote off). */
  completed: boolean;
  /** Why the step has not advanced yet, e.g. "held 40 of 60 s", "12 of 50 requests: step extended". */
  waitingFor: string | null;
  /** The step held healthy and waits for `edgeshift approve` (null: it does not, or not yet). */
  awaitingApproval?: {
    since: string;
    timeoutSeconds: number | null;
    onTimeout: "wait" | "rollback" | "promote";
    /** The timeout passed and onTimeout "wait" applied: still waiting. */
    timedOut: boolean;
  } | null;
  /** The sample-ratio check on this step's new visitors; null when `sampleRatioCheck` is off. */
  sampleRatio: {
    newVisitors: { canary: number; stable: number };
    observedShare: number;
    expectedShare: number;
    /** False until there are enough new visitors to judge (see `detail`). */
    judged: boolean;
    mismatch: boolean;
    /** One sentence, e.g. "120 of 200 new visitors: sample ratio not judged yet". */
    detail: string;
  } | null;
}

export interface SeriesPoint {
  /** Unix seconds at the start of the bin. */
  t: number;
  blue: { requests: number; errorRate: number; p95: number | null };
  green: { requests: number; errorRate: number; p95: number | null };
}

/** One arm of a guarded flag's comparison over its window. */
export interface FlagArmStats extends SlotStats {
  /** Distinct visitors the requests came from (the visitor ledger). */
  visitors: number;
}

/** A feature flag as the controller sees it (src/controller/flag-guard.ts). */
export interface FlagStatus {
  key: string;
  on: boolean;
  type: "boolean" | "string" | "number" | "object";
  /** The rollout's share of visitors, 0–100; null without a rollout. */
  percent: number | null;
  /** Each variation's share of all visitors by the rollout (0–100), the default's included. */
  exposure: Record<string, number>;
  rules: number;
  origin: boolean;
  browser: boolean;
  /** Switched off by its guard: isolates are told in the controller's view. */
  killed: boolean;
  /** When and why it was switched off (the judgement as it was then; `guard` below is the live window's). */
  kill?: { at: string; reason: string };
  guard: {
    mode: "enforce" | "observe";
    healthy: boolean;
    reason: string | null;
    /** The comparison failed (once per comparison: killed, or recorded in observe mode). */
    tripped: boolean;
    since: string;
    windowSeconds: number;
    control: FlagArmStats;
    treatment: FlagArmStats;
    verdicts: RuleVerdict[];
  } | null;
}

// Experiments (src/experiments): goals counted per visitor in each arm, compared with an
// always-valid interval (src/experiments/result.ts says how to read them).
export type GoalState = "collecting" | "inconclusive" | "better" | "worse";

export interface ArmRate {
  /** Weighted visitors (each network at most NETWORK_WEIGHT: src/experiments/tally.ts). */
  visitors: number;
  conversions: number;
  /** conversions / visitors, 0 with no visitors. */
  rate: number;
}

export interface GoalResult {
  goal: string;
  control: ArmRate;
  treatment: ArmRate;
  /** treatment − control, as a share (0.02 = two points). */
  difference: number;
  /** The always-valid (1 − α) interval of the difference; null while collecting. */
  interval: { low: number; high: number } | null;
  /** difference / control rate; null when control has no conversions. */
  lift: number | null;
  /** ≈ interval of the lift (see above); null until control has MIN_CONTROL_CONVERSIONS. */
  liftInterval: { low: number; high: number } | null;
  state: GoalState;
  /** While collecting: what the interval waits for, in words ("60 of 100 visitors an arm"). */
  waitingFor?: string;
}

export interface ExperimentResult {
  control: Slot;
  treatment: Slot;
  alpha: number;
  visitors: { control: number; treatment: number };
  /** Visitors as seen, before network weighting. */
  rawVisitors: { control: number; treatment: number };
  goals: GoalResult[];
  /** Does the treatment get the share of visitors it should? (null: the expected share is not known). */
  sampleRatio: { judged: boolean; mismatch: boolean; detail: string } | null;
  crossed: number;
  excluded: number;
  crowded: number;
  sampled: number;
}

/** One point of an experiment's history (the status page's chart): each goal's difference and interval then. */
export interface ExperimentPoint {
  t: string;
  goals: Record<string, { difference: number; low: number | null; high: number | null }>;
}

export interface ExperimentStatus {
  /** "rollout": the canary against stable; "flag": a guarded flag's treatment against its control. */
  subject: "rollout" | "flag";
  /** The flag's key, or the rollout's release (null when it has none). */
  key: string | null;
  /** What the arms are called: the slots for the rollout, "control"/"treatment" for a flag. */
  arms: { control: string; treatment: string };
  /** When this sample began (an attempt or a step at this percent; a flag's definition). */
  since: string;
  /** The treatment's share of visitors assigned at random, 0–100 (null: not one number). */
  percent: number | null;
  /** Still counting; false once the canary was rolled back, or a flag killed by its guard (the figures are as they were then). */
  active: boolean;
  result: ExperimentResult;
  history: ExperimentPoint[];
  /** The sample before the last change of percent (a plan step), as it ended. */
  previous: { since: string; until: string; percent: number | null; result: ExperimentResult } | null;
  /** The rollout's guardrails judged on this sample (src/experiments/guardrails.ts); absent for a flag. */
  guardrails?: GuardrailVerdict[];
}

export interface GuardrailVerdict {
  goal: string;
  maxDrop: number;
  /** held: shown no worse than −maxDrop; pending: not shown either way yet; regressed: shown worse. */
  state: "held" | "pending" | "regressed";
  detail: string;
}

/** Why the current attempt is on stable: the document's `rolledBack` record. */
export interface RolledBack {
  at: string;
  reason: string;
  /** Who aborted it (`edgeshift abort`, the admin API); absent when the controller rolled it back. */
  by?: string;
  figures?: Record<string, unknown>;
}

export interface StatusSnapshot {
  now: string;
  state: RolloutState;
  /**
   * The controller's attempt: +1 on every operator write (src/controller/state.ts). A CI gate
   * (`edgeshift wait`) waits on one attempt, so a status still showing the previous one is not taken for it.
   */
  attempt: { number: number; startedAt: string };
  /** The document in force as the controller sees it, and where it came from. */
  config: { doc: Rollout; fingerprint: string; source: "kv" | "controller" };
  /** The last invalid KV document seen, if the current one is invalid (last good config is kept). */
  configError: { at: string; summary: string; problems: { path: string; message: string }[] } | null;
  roles: { canary: Slot; stable: Slot };
  percent: number;
  release: string | null;
  plan: PlanStatus | null;
  window: { seconds: number; canary: SlotStats; stable: SlotStats; shadow: ShadowStats | null };
  health: { healthy: boolean; verdicts: RuleVerdict[] };
  rolledBack: RolledBack | null;
  series: SeriesPoint[];
  events: RolloutEvent[];
  /**
   * `mirrorsSkipped`: shadow mirrors sampled but not sent because 8 were already in flight in that isolate.
   * `diverted`: canary-bound requests sent to stable because no fresh verdict arrived within the gate's
   * wait (controller slow or unreachable); in no slot's counts.
   */
  reports: {
    received: number;
    droppedByIsolates: number;
    mirrorsSkipped: number;
    diverted: number;
    lastAt: string | null;
  };
  /**
   * The controller could not save its state (null: the last save worked). Its decisions still
   * reached KV, the event log and the notifications, but a restart falls back on KV's copy.
   */
  saveError: { at: string; message: string } | null;
  /** Stored document fields that were unreadable at the controller's start and fell back (absent: none). */
  stateRepaired?: { at: string; fields: string[] };
  /**
   * The `flags` document as the controller last read it (absent: not read yet); `error`: why the
   * version in KV is not used (the last good one is shown).
   */
  flags?: { fingerprint: string; flags: FlagStatus[]; error: string | null };
  /** Experiments over the goals (absent: no goals declared, or nothing counted yet). */
  experiments?: ExperimentStatus[];
  /** Where events are sent and how that goes (absent: no destination configured). */
  notifications?: NotificationsStatus;
}

export interface NotificationsStatus {
  /** Why NOTIFICATIONS was not used (null: it is valid or unset): nothing configured there is sent. */
  problem: string | null;
  destinations: DestinationStatus[];
}

/** One destination's answer to a test message (`edgeshift notify test`, one try, nothing queued). */
export interface NotificationTest {
  name: string;
  type: string;
  ok: boolean;
  /** "answered 200", or what went wrong: the receiver's answer, a missing secret, no connection. */
  detail: string;
}

export interface DestinationStatus {
  name: string;
  /** "slack", "teams", "discord", "pagerduty", "json", or "legacy" (the WEBHOOK_URL secret). */
  type: string;
  /** Event kinds sent; PagerDuty's change events as "change:<kind>". */
  events: string[];
  /** Why it cannot send now (a secret missing or malformed), or null. */
  problem: string | null;
  /** Requests delivered and given up since the controller's storage began. */
  sent: number;
  failed: number;
  /** Requests queued, the one being retried included. */
  waiting: number;
  lastSent: { at: string; eventId: number; kind: EventKind } | null;
  lastFailure: { at: string; eventId: number; kind: EventKind; tries: number; error: string } | null;
  /**
   * A request at the head of the queue, when it failed at least once and waits for its next try.
   * PagerDuty has two queues (docs/notifications.md, Delivery): the pages' head is shown here first,
   * the change events' (`lane: "change"`) when no page waits.
   */
  retrying: RetryingRequest | null;
  /** PagerDuty: the change events' head, when it waits too while `retrying` shows a page's. */
  retryingChange?: RetryingRequest;
  /** PagerDuty: incidents opened by rollbacks and not yet resolved by a healthy attempt. */
  openIncidents?: string[];
}

export interface RetryingRequest {
  eventId: number;
  kind: EventKind;
  tries: number;
  nextAt: string;
  error: string;
  /** Set for a PagerDuty change event (its own queue); absent for a page and every other destination's. */
  lane?: "change";
}

export type ActionKind = "pause" | "resume" | "promote" | "abort" | "approve";
export interface ActionRequest {
  /** Who is acting: the name of the admin token the request proved (src/admin/auth.ts), never body text. */
  actor?: string;
  /** Free text from the caller (e.g. who is at the keyboard of a shared CI token); recorded in the event's data. */
  note?: string;
  reason?: string;
}
