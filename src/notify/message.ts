// One event as a person reads it, whatever the channel: a title, the reason, a tone and a few facts.
// The chat formats (./chat.ts) and PagerDuty (./pagerduty.ts) lay this out; the signed JSON
// (./signed-json.ts) also carries the event itself. Pure.
import type { EventKind, RolloutEvent } from "../model/status";

/** What the event is about, taken from the controller's state when the event was recorded. */
export interface Subject {
  release: string | null;
  canary?: string;
  percent?: number;
  attempt?: number;
}

export type Tone = "failure" | "warning" | "success" | "info";

export interface Message {
  /** "Rolled back release v7 (green)": a header, a card's title, a page's summary start. */
  title: string;
  /** The event's own reason, unchanged. */
  reason: string;
  /** The one line the legacy webhook and every fallback text show: title, actor, reason. */
  text: string;
  tone: Tone;
  /** Name and value pairs, in reading order; empty values left out. */
  facts: [string, string][];
  event: RolloutEvent;
  subject: Subject;
  /** The status page, when NOTIFICATIONS names it. */
  link?: string;
}

const TITLES: Record<EventKind, string> = {
  attempt: "new attempt",
  rollback: "rolled back",
  "would-roll-back": "would roll back (observe mode: nothing was changed)",
  step: "plan step",
  "plan-start": "plan started",
  "plan-extended": "plan step extended",
  "plan-complete": "plan complete",
  pause: "paused",
  resume: "resumed",
  approve: "plan step approved",
  "approval-wait": "waiting for approval",
  "approval-timeout": "approval timed out",
  promote: "promoted",
  abort: "aborted",
  "sample-ratio": "sample-ratio mismatch",
  "config-error": "invalid rollout document",
  "operator-write-won": "an operator's write won over the controller's",
  "operator-write-unseen": "wrote over a version KV never showed the controller",
  "webhook-failed": "notification failed",
  "flag-killed": "flag switched off",
  "would-kill-flag": "would switch a flag off (observe mode: nothing was changed)",
};

const TONES: Partial<Record<EventKind, Tone>> = {
  rollback: "failure",
  abort: "failure",
  "flag-killed": "failure",
  "config-error": "failure",
  "webhook-failed": "failure",
  "would-roll-back": "warning",
  "would-kill-flag": "warning",
  pause: "warning",
  "approval-wait": "warning",
  "approval-timeout": "warning",
  "sample-ratio": "warning",
  "operator-write-unseen": "warning",
  promote: "success",
  "plan-complete": "success",
  approve: "success",
};

export function messageOf(event: RolloutEvent, recorded: Subject, link?: string): Message {
  const subject = subjectOf(event, recorded);
  const about = subject.release
    ? `release ${subject.release}${subject.canary ? ` (${subject.canary})` : ""}`
    : subject.canary
      ? `canary ${subject.canary}`
      : "";
  // A rejected flags document is the same kind of event as a rejected rollout document.
  const what =
    event.kind === "config-error" && event.data?.document === "flags" ? "invalid flags document" : TITLES[event.kind];
  const title = capitalized(`${what ?? event.kind}${about ? ` ${about}` : ""}`);
  const by = event.actor && event.actor !== "controller" ? ` by ${event.actor}` : "";
  const data = event.data ?? {};
  const percent = typeof data.percent === "number" ? data.percent : subject.percent;
  const tripped = (data.figures as { tripped?: unknown } | undefined)?.tripped;
  const facts: [string, string][] = [
    ["Release", subject.release ?? ""],
    ["Canary", subject.canary ?? ""],
    ["Percent", typeof percent === "number" ? `${percent} %` : ""],
    ...(event.kind === "step" && typeof data.to === "number" ? ([["To", `${data.to} %`]] as [string, string][]) : []),
    ["Attempt", subject.attempt !== undefined ? String(subject.attempt) : ""],
    ["Tripped", Array.isArray(tripped) ? tripped.join(", ") : ""],
    ["Flag", typeof data.flag === "string" ? data.flag : ""],
    ["By", by ? event.actor : ""],
  ];
  return {
    title,
    reason: event.reason,
    text: `edgeshift ${what ?? event.kind}${about ? ` ${about}` : ""}${by}: ${event.reason}`,
    tone: TONES[event.kind] ?? "info",
    facts: facts.filter(([, v]) => v !== ""),
    event,
    subject,
    ...(link ? { link } : {}),
  };
}

/** What `edgeshift notify test` sends: the layout of every message, saying it is a test and who sent it. */
export function testMessage(at: string, actor: string, subject: Subject, link?: string): Message {
  const reason = `a test message sent by ${actor} with \`edgeshift notify test\`: this destination receives edgeshift's events`;
  const event: RolloutEvent = { id: 0, at, kind: "attempt", actor, reason };
  return {
    ...messageOf(event, subject, link),
    title: "Test message from edgeshift",
    text: `edgeshift test message: ${reason}`,
    tone: "info",
  };
}

/** The body WEBHOOK_URL has always received: Slack-compatible `text` plus the structured event. */
export function legacyBody(m: Message): {
  text: string;
  event: RolloutEvent & { release: string | null; canary?: string };
} {
  return { text: m.text, event: { ...m.event, release: m.subject.release, canary: m.subject.canary } };
}

/** At most `max` characters, an ellipsis marking the cut: each channel has its own field limits. */
export function clipped(s: string, max: number): string {
  if (s.length <= max) return s;
  // Never half of a surrogate pair (an emoji in a release name): a lone half is invalid text.
  const end = /[\uD800-\uDBFF]/.test(s.charAt(max - 2)) ? max - 2 : max - 1;
  return `${s.slice(0, end)}…`;
}

/**
 * What the event is about. The state is read after the decision took effect: a promotion has
 * already made the canary stable and dropped the release, so its own data names them; a rejected
 * flags document is not about the release in force.
 */
function subjectOf(event: RolloutEvent, recorded: Subject): Subject {
  const data = event.data ?? {};
  if (event.kind === "promote")
    return {
      ...recorded,
      release: typeof data.release === "string" ? data.release : recorded.release,
      canary: typeof data.stable === "string" ? data.stable : recorded.canary,
      percent: typeof data.percentBefore === "number" ? data.percentBefore : recorded.percent,
    };
  if (event.kind === "config-error" && data.document === "flags") return { release: null };
  return recorded;
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
