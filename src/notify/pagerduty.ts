// PagerDuty Events API v2 (developer.pagerduty.com/docs/events-api-v2/overview): a rollback opens an
// incident that the next healthy attempt resolves; releases can be sent as change events, which put
// "what changed" on the service's timeline without paging anyone. The routing key is added when the
// request is sent (./send.ts), so no stored body holds it. Pure.
import type { EventKind } from "../model/status";
import { clipped, type Message } from "./message";

export const PAGERDUTY_API = "https://events.pagerduty.com";
export const ENQUEUE_PATH = "/v2/enqueue";
export const CHANGE_PATH = "/v2/change/enqueue";

export type Severity = "critical" | "error" | "warning" | "info";

export interface PagerDutyRequest {
  path: typeof ENQUEUE_PATH | typeof CHANGE_PATH;
  body: Record<string, unknown>;
}

/**
 * Events that show an attempt after a rollback to be healthy: a plan only steps or completes on a
 * passing judgement, and a promotion is a person's (or the plan's) verdict that it is.
 */
const HEALTHY: ReadonlySet<EventKind> = new Set(["step", "plan-complete", "promote"]);

/**
 * An incident a rollback opened: its key, and the attempt it belongs to. Only these are tracked:
 * other paging events (a flag switched off, an invalid document) are a person's to resolve.
 */
export interface OpenIncident {
  key: string;
  attempt: number;
}

/** The dedup key of the incident a rollback of `attempt` opens: the same key for every retry. */
export function incidentKey(source: string, kind: EventKind, attempt: number | undefined, eventId: number): string {
  return kind === "rollback" ? `${source}/rollback/attempt-${attempt ?? 0}` : `${source}/${kind}/event-${eventId}`;
}

export function trigger(m: Message, source: string, severity: Severity | undefined, key: string): PagerDutyRequest {
  return {
    path: ENQUEUE_PATH,
    body: {
      event_action: "trigger",
      dedup_key: key,
      payload: {
        summary: clipped(m.text, 1024),
        source,
        severity: severity ?? (m.tone === "failure" ? "critical" : "warning"),
        timestamp: m.event.at,
        component: m.subject.canary ? `canary ${m.subject.canary}` : "edgeshift",
        group: "edgeshift",
        class: m.event.kind,
        custom_details: details(m),
      },
      client: "edgeshift",
      ...(m.link ? { client_url: m.link } : {}),
    },
  };
}

export function resolve(key: string): PagerDutyRequest {
  return { path: ENQUEUE_PATH, body: { event_action: "resolve", dedup_key: key } };
}

export function change(m: Message, source: string): PagerDutyRequest {
  return {
    path: CHANGE_PATH,
    body: {
      payload: { summary: clipped(m.text, 1024), timestamp: m.event.at, source, custom_details: details(m) },
      ...(m.link ? { links: [{ href: m.link, text: "edgeshift status" }] } : {}),
    },
  };
}

/**
 * The incidents `m` resolves: rollback incidents of earlier attempts, once this attempt shows
 * itself healthy. Other incidents (a flag switched off, an invalid document) are a person's to
 * resolve: nothing edgeshift sees says they are over.
 */
export function resolvedBy(m: Message, open: readonly OpenIncident[]): OpenIncident[] {
  if (!HEALTHY.has(m.event.kind) || m.subject.attempt === undefined) return [];
  const attempt = m.subject.attempt;
  return open.filter((i) => i.attempt < attempt);
}

function details(m: Message): Record<string, unknown> {
  return {
    reason: m.reason,
    ...Object.fromEntries(m.facts.map(([k, v]) => [k.toLowerCase(), v])),
    event: m.event.id,
    ...(m.event.data?.figures ? { figures: m.event.data.figures } : {}),
  };
}

/** Incidents tracked per destination, the oldest dropped past it (an abandoned release is never resolved). */
export const MAX_OPEN_INCIDENTS = 50;

/** The list with `i` (replacing one of the same key), the oldest dropped past MAX_OPEN_INCIDENTS. */
export function withIncident(list: OpenIncident[] | undefined, i: OpenIncident): OpenIncident[] {
  return [...(list ?? []).filter((x) => x.key !== i.key), i].slice(-MAX_OPEN_INCIDENTS);
}

export function withoutIncidents(list: OpenIncident[] | undefined, gone: readonly OpenIncident[]): OpenIncident[] {
  return (list ?? []).filter((x) => !gone.some((g) => g.key === x.key));
}
