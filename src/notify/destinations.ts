// What each destination is sent for an event, and the HTTP request that carries it. The bodies are
// decided when the event is recorded (what it was about then) and stored without credentials; the
// URL, routing key and signature are added from the Worker's secrets at each try. Pure, but for
// the signature's Web Crypto.
import {
  DEFAULT_CHANGE_EVENTS,
  DEFAULT_EVENTS,
  eventsOf,
  type Destination,
  type DestinationType,
} from "../model/notifications";
import { isHttpUrl } from "../lib/http-url";
import { discordBody, slackBody, teamsBody } from "./chat";
import { legacyBody, type Message } from "./message";
import { change, incidentKey, PAGERDUTY_API, resolve, resolvedBy, trigger, type OpenIncident } from "./pagerduty";
import { jsonBody, signatureHeaders } from "./signed-json";

/** The WEBHOOK_URL secret of earlier versions: every event, in the body it always had. */
export const LEGACY = "WEBHOOK_URL";
export type Kind = DestinationType | "legacy";

/** A destination as the controller uses it: its configuration, or the legacy WEBHOOK_URL. */
export type Target = Destination | { type: "legacy"; name: typeof LEGACY };

/** One request to make: where under the destination (PagerDuty's two APIs) and the body. */
export interface Outgoing {
  path?: string;
  body: unknown;
  /** PagerDuty: the incident this opens, or the keys it resolves (the caller keeps the open ones). */
  opens?: OpenIncident;
  resolves?: string[];
}

export function outgoingFor(t: Target, m: Message, open: readonly OpenIncident[]): Outgoing[] {
  const kind = m.event.kind;
  if (kind === "webhook-failed") return [];
  switch (t.type) {
    case "legacy":
      return [{ body: legacyBody(m) }];
    case "slack":
      return sends(t, kind) ? [{ body: slackBody(m) }] : [];
    case "teams":
      return sends(t, kind) ? [{ body: teamsBody(m) }] : [];
    case "discord":
      return sends(t, kind) ? [{ body: discordBody(m) }] : [];
    case "json":
      return sends(t, kind) ? [{ body: jsonBody(m) }] : [];
    case "pagerduty": {
      const source = t.source ?? "edgeshift";
      const out: Outgoing[] = resolvedBy(m, open).map((i) => ({ ...resolve(i.key), resolves: [i.key] }));
      if (sends(t, kind)) {
        const key = incidentKey(source, kind, m.subject.attempt, m.event.id);
        out.push({ ...trigger(m, source, t.severity, key), opens: { key, attempt: m.subject.attempt ?? 0 } });
      }
      if (eventsOf(t.changeEvents, DEFAULT_CHANGE_EVENTS).has(kind)) out.push(change(m, source));
      return out;
    }
  }
}

/**
 * The one request `edgeshift notify test` sends a destination, whatever its events: PagerDuty gets
 * a change event (a test must never page anyone), the JSON receiver the type "edgeshift.test".
 */
export function testOutgoing(t: Target, m: Message): Outgoing {
  switch (t.type) {
    case "legacy":
      return { body: legacyBody(m) };
    case "slack":
      return { body: slackBody(m) };
    case "teams":
      return { body: teamsBody(m) };
    case "discord":
      return { body: discordBody(m) };
    case "json":
      return { body: { ...jsonBody(m), type: "edgeshift.test" } };
    case "pagerduty":
      return change(m, t.source ?? "edgeshift");
  }
}

function sends(d: Destination, kind: Message["event"]["kind"]): boolean {
  return eventsOf(d.events, DEFAULT_EVENTS[d.type]).has(kind);
}

/** The events a destination is sent, as status shows them. */
export function eventsShown(t: Target): string[] {
  if (t.type === "legacy") return ["*"];
  const list = [...eventsOf(t.events, DEFAULT_EVENTS[t.type])];
  return t.type === "pagerduty"
    ? [...list, ...[...eventsOf(t.changeEvents, DEFAULT_CHANGE_EVENTS)].map((k) => `change:${k}`)]
    : list;
}

/** The secrets a destination reads, by role. */
function secretsOf(t: Target): { url?: string; routingKey?: string; signing?: string } {
  switch (t.type) {
    case "legacy":
      return { url: LEGACY };
    case "slack":
    case "teams":
    case "discord":
      return { url: t.urlSecret };
    case "pagerduty":
      return { routingKey: t.routingKeySecret };
    case "json":
      return { ...(t.urlSecret ? { url: t.urlSecret } : {}), signing: t.signingSecret };
  }
}

/**
 * Why the destination cannot send (a secret missing or malformed), or null. Checked when the
 * configuration is read and again at each try: a secret put since then is used without a restart.
 */
export function targetProblem(t: Target, secret: (name: string) => unknown): string | null {
  const names = secretsOf(t);
  for (const name of [names.url, names.routingKey, names.signing]) {
    if (name === undefined) continue;
    const v = secret(name);
    if (typeof v !== "string" || v === "")
      return `the secret ${name} is not set: \`wrangler secret put ${name} -c wrangler.control.toml\``;
  }
  if (names.url !== undefined && !isHttpUrl(String(secret(names.url))))
    return `the secret ${names.url} is not an http(s) URL: put the webhook's whole address in it`;
  if (names.signing !== undefined) {
    const key = String(secret(names.signing));
    if (key.startsWith("whsec_") && !/^[A-Za-z0-9+/]+={0,2}$/.test(key.slice(6)))
      return `the secret ${names.signing} starts with "whsec_" but what follows is not base64: \`echo whsec_$(openssl rand -base64 32)\` makes one`;
  }
  return null;
}

/** The request for one try; `id`: the message's id (Standard Webhooks' webhook-id, stable across tries). */
export async function requestFor(
  t: Target,
  o: Outgoing,
  secret: (name: string) => unknown,
  id: string,
  nowMs: number,
): Promise<{ url: string; init: RequestInit }> {
  const names = secretsOf(t);
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "edgeshift-controller" };
  let url: string;
  let body: string;
  if (t.type === "pagerduty") {
    url = `${(t.url ?? PAGERDUTY_API).replace(/\/+$/, "")}${o.path}`;
    body = JSON.stringify({ routing_key: String(secret(names.routingKey!)), ...(o.body as object) });
  } else {
    url = t.type === "json" && t.url ? t.url : String(secret(names.url!));
    body = JSON.stringify(o.body);
  }
  if (t.type === "json")
    Object.assign(headers, await signatureHeaders(String(secret(names.signing!)), id, Math.floor(nowMs / 1000), body));
  return { url, init: { method: "POST", headers, body } };
}
