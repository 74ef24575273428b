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
import { isHttpUrl, isLocalUrl } from "../lib/http-url";
import { discordBody, slackBody, teamsBody } from "./chat";
import { legacyBody, type Message } from "./message";
import {
  change,
  CHANGE_PATH,
  ENQUEUE_PATH,
  incidentKey,
  PAGERDUTY_API,
  resolve,
  resolvedBy,
  trigger,
  type OpenIncident,
} from "./pagerduty";
import { MAX_TRIES, PAGE_MAX_TRIES } from "./retry";
import { jsonBody, signatureHeaders, signingKey } from "./signed-json";

/** The WEBHOOK_URL secret of earlier versions: every event, in the body it always had. */
export const LEGACY = "WEBHOOK_URL";
export type Kind = DestinationType | "legacy";

/** A destination as the controller uses it: its configuration, or the legacy WEBHOOK_URL. */
export type Target = Destination | { type: "legacy"; name: typeof LEGACY };

/** One request to make: where under the destination (PagerDuty's two APIs) and the body. */
export interface Outgoing {
  path?: string;
  body: unknown;
  /** PagerDuty: the rollback incident this opens, or the ones it resolves (the caller keeps the open ones). */
  opens?: OpenIncident;
  resolves?: OpenIncident[];
}

/**
 * A destination's requests go out in order, one at a time, per lane. PagerDuty's change events have
 * a lane of their own: a failing /v2/change/enqueue (a release note) must not hold a page queued
 * behind it for its ~13 min of retries, nor a failing page a release note; order matters between a
 * trigger and its resolve, which share the lane "". Every other request, and every row stored before
 * lanes existed, is in "" too.
 */
export type Lane = "" | "change";

export function laneOf(o: Outgoing): Lane {
  return o.path === CHANGE_PATH ? "change" : "";
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
      const source = t.source;
      const out: Outgoing[] = resolvedBy(m, open).map((i) => ({ ...resolve(i.key), resolves: [i] }));
      if (sends(t, kind)) {
        const key = incidentKey(source, kind, m.subject.attempt, m.event.id);
        const opens = kind === "rollback" ? { opens: { key, attempt: m.subject.attempt ?? 0 } } : {};
        out.push({ ...trigger(m, source, t.severity, key), ...opens });
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
      return change(m, t.source);
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
  if (names.url !== undefined) {
    const url = String(secret(names.url));
    if (!isHttpUrl(url)) return `the secret ${names.url} is not an http(s) URL: put the webhook's whole address in it`;
    // The URL is the credential (Slack's, Discord's, Teams'): never sent in the clear.
    if (!url.startsWith("https:") && !isLocalUrl(url))
      return `the secret ${names.url} is an http:// URL: it carries the channel's credential, so only https is used (http only for 127.0.0.1 or localhost)`;
  }
  if (names.signing !== undefined && signingKey(String(secret(names.signing))) === null)
    return `the secret ${names.signing} is not a Standard Webhooks key: "whsec_" and the base64 of 24–64 random bytes, e.g. \`echo whsec_$(openssl rand -base64 32)\``;
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
    Object.assign(
      headers,
      await signatureHeaders(signingKey(String(secret(names.signing!)))!, id, Math.floor(nowMs / 1000), body),
    );
  // A redirect is not followed: it would carry the routing key or the signed body to another address.
  return { url, init: { method: "POST", headers, body, redirect: "manual" } };
}

/** The secret values a destination's requests carry, for taking them out of any error text. */
export function secretValues(t: Target, secret: (name: string) => unknown): string[] {
  const names = secretsOf(t);
  return [names.url, names.routingKey, names.signing]
    .map((n) => (n === undefined ? undefined : secret(n)))
    .filter((v): v is string => typeof v === "string" && v.length >= 8);
}

/** How many tries a request gets: a page (PagerDuty's incident API) more than a chat line or a change event. */
export function triesOf(o: Outgoing): number {
  return o.path === ENQUEUE_PATH ? PAGE_MAX_TRIES : MAX_TRIES;
}
