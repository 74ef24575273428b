// Where the controller's events go: the control Worker's `NOTIFICATIONS` variable (wrangler.control.toml
// `[vars]`, a JSON string or a JSON object), documented in docs/notifications.md. Destinations are
// configuration that belongs in version control and changes with a deploy, as Argo Rollouts'
// notification ConfigMap does; what grants access to a channel (a Slack webhook URL, a PagerDuty
// routing key, a signing key) is a Worker secret named here, never the value. Pure.
import * as z from "../lib/zod";
import { closest } from "../lib/closest";
import { isHttpUrl, isLocalUrl } from "../lib/http-url";
import { EVENT_KINDS, type EventKind } from "./status";
import { NO_DOCUMENT } from "./fingerprint";
import { fail, parseDocument, textSize, type DocumentResult } from "./parse";

export const NOTIFICATION_LIMITS = { destinations: 10 } as const;

export const DESTINATION_TYPES = ["slack", "teams", "discord", "pagerduty", "json"] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/**
 * What each type sends when `events` is not given. Chat gets what a person on the release wants to
 * see; PagerDuty pages only for a rollback (and records the releases as change events); a JSON
 * receiver is a program and gets everything.
 */
export const DEFAULT_EVENTS: Record<DestinationType, readonly EventKind[]> = {
  slack: chatEvents(),
  teams: chatEvents(),
  discord: chatEvents(),
  pagerduty: ["rollback"],
  json: EVENT_KINDS.filter((k) => k !== "webhook-failed"),
};
export const DEFAULT_CHANGE_EVENTS: readonly EventKind[] = ["attempt", "promote", "abort"];

function chatEvents(): EventKind[] {
  return [
    "attempt",
    "rollback",
    "would-roll-back",
    "step",
    "plan-complete",
    "pause",
    "resume",
    "approval-wait",
    "approve",
    "approval-timeout",
    "promote",
    "abort",
    "config-error",
    "flag-killed",
  ];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;
// Upper case only: `wrangler secret put` accepts other names, but a routing key or a base64 signing
// key pasted here by mistake (the secret itself) is then refused instead of shown as a "name".
const SECRET = /^[A-Z_][A-Z0-9_]{0,63}$/;
/**
 * The Worker's own credentials: a change to NOTIFICATIONS alone must never be able to send them to
 * a receiver of its choosing (src/env.ts).
 */
export const RESERVED_SECRETS = ["ADMIN_TOKEN", "ADMIN_TOKENS", "OVERRIDE_SECRET", "FLAGS_TOKEN"] as const;
/** The legacy WEBHOOK_URL destination's name in status: no configured destination may take it. */
export const LEGACY_NAME = "WEBHOOK_URL";

const name = z.string().check(
  z.regex(NAME, 'a destination\'s name must be 1–40 letters, digits, "_" or "-", e.g. "ops-slack"'),
  z.refine(
    (n) => n !== LEGACY_NAME,
    `"${LEGACY_NAME}" names the legacy WEBHOOK_URL secret's destination: choose another`,
  ),
);
const secretName = (what: string, example: string) =>
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? `required: the name of the Worker secret holding ${what}, e.g. "${example}"; the value is never written here (store it with \`wrangler secret put ${example} -c wrangler.control.toml\`)`
          : `the name of a Worker secret, e.g. "${example}"`,
    })
    .check(
      z.regex(
        SECRET,
        `the NAME of the Worker secret holding ${what} (upper-case letters, digits, "_"), e.g. "${example}", not the secret itself: store the value with \`wrangler secret put ${example} -c wrangler.control.toml\``,
      ),
      z.refine(
        (n) => !(RESERVED_SECRETS as readonly string[]).includes(n),
        `names one of the Worker's own credentials (${RESERVED_SECRETS.join(", ")}), which are never sent anywhere: put ${what} in a secret of its own, e.g. "${example}"`,
      ),
    );
const eventKind = z.union([z.literal("*"), z.enum(EVENT_KINDS)], {
  error: (issue) => {
    const guess = typeof issue.input === "string" ? closest(issue.input, EVENT_KINDS) : undefined;
    return guess
      ? `unknown event kind (did you mean "${guess}"?)`
      : `unknown event kind: use "*" or some of ${EVENT_KINDS.join(", ")}`;
  },
});
const events = z.optional(
  z
    .array(eventKind)
    .check(z.minLength(1, 'events lists at least one event kind (or "*" for all); leave it out for the default')),
);
const httpUrl = (what: string) =>
  z
    .string()
    .check(
      z.refine(
        (u) => isHttpUrl(u) && (u.startsWith("https:") || isLocalUrl(u)),
        `${what} must be an https URL such as "https://hooks.example.com/edgeshift" (http only for 127.0.0.1 or localhost)`,
      ),
    );
/** PagerDuty's Events API hosts; a local address too, for a receiver standing in for it in tests. */
const PAGERDUTY_HOSTS = ["https://events.pagerduty.com", "https://events.eu.pagerduty.com"];
const pagerDutyUrl = z
  .string()
  .check(
    z.refine(
      (u) => PAGERDUTY_HOSTS.includes(u.replace(/\/+$/, "")) || (isHttpUrl(u) && isLocalUrl(u)),
      `url is PagerDuty's Events API, ${PAGERDUTY_HOSTS.join(" or ")} (EU accounts), or a local address for testing: the routing key is sent nowhere else`,
    ),
  );

const chat = <T extends "slack" | "teams" | "discord">(type: T, example: string) =>
  z.strictObject({
    type: z.literal(type),
    name,
    events,
    urlSecret: secretName(`the ${type} webhook URL (it carries the channel's credential)`, example),
  });

export const destinationSchema = z.discriminatedUnion(
  "type",
  [
    chat("slack", "SLACK_WEBHOOK_URL"),
    chat("teams", "TEAMS_WEBHOOK_URL"),
    chat("discord", "DISCORD_WEBHOOK_URL"),
    z.strictObject({
      type: z.literal("pagerduty"),
      name,
      /** Events that open an incident (a rollback's is resolved by the next healthy attempt). */
      events,
      /** Events recorded as PagerDuty change events (context on the service's timeline, no page). */
      changeEvents: z.optional(z.array(eventKind)),
      routingKeySecret: secretName("the PagerDuty integration's routing key (Events API v2)", "PAGERDUTY_ROUTING_KEY"),
      severity: z.optional(
        z.enum(["critical", "error", "warning", "info"], {
          error: 'severity must be "critical", "error", "warning" or "info" (PagerDuty Events API v2)',
        }),
      ),
      /** The Events API's base (https://events.eu.pagerduty.com for EU accounts). */
      url: z.optional(pagerDutyUrl),
      /**
       * `payload.source`, and the prefix of the incidents' dedup keys. Required: two installations
       * sharing a default would share dedup keys, one's rollback merging into (and resolving) the other's.
       */
      source: z
        .string({
          error:
            "source is required: this installation's name in PagerDuty, e.g. \"shop-edge\" (it prefixes the incidents' dedup keys, which must differ between installations)",
        })
        .check(
          z.regex(
            /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
            'source is 1–100 letters, digits, ".", "_" or "-", e.g. "shop-edge"',
          ),
        ),
    }),
    z
      .strictObject({
        type: z.literal("json"),
        name,
        events,
        url: z.optional(httpUrl("url")),
        urlSecret: z.optional(secretName("the receiver's URL", "AUDIT_WEBHOOK_URL")),
        signingSecret: secretName(
          'the Standard Webhooks signing key ("whsec_" and base64, e.g. from `echo whsec_$(openssl rand -base64 32)`)',
          "AUDIT_SIGNING_SECRET",
        ),
      })
      .check(
        z.refine(
          (d) => (d.url === undefined) !== (d.urlSecret === undefined),
          "a json destination needs its URL: either url (in the clear) or urlSecret (the name of a Worker secret holding it), not both",
        ),
      ),
  ],
  {
    error: (issue) =>
      issue.code === "invalid_union"
        ? `type must be one of ${DESTINATION_TYPES.map((t) => `"${t}"`).join(", ")}`
        : undefined,
  },
);
export type Destination = z.output<typeof destinationSchema>;

const destinations = z.array(destinationSchema).check(
  z.maxLength(NOTIFICATION_LIMITS.destinations, `at most ${NOTIFICATION_LIMITS.destinations} destinations`),
  z.superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((d, i) => {
      if (seen.has(d.name))
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          message: `two destinations are named "${d.name}": names must differ (status and failures are shown by name)`,
        });
      seen.add(d.name);
    });
  }),
);

export const notificationsSchema = z.strictObject({
  /** The status page's address (e.g. https://shop.example.com/__edgeshift/): a link in each message. */
  statusUrl: z.optional(httpUrl("statusUrl")),
  destinations,
});
export type Notifications = z.output<typeof notificationsSchema>;

export const NO_NOTIFICATIONS: Notifications = { destinations: [] };

/** The events a destination is sent (its own list, or its type's default); "*": every kind but webhook-failed. */
export function eventsOf(list: readonly string[] | undefined, fallback: readonly EventKind[]): Set<EventKind> {
  if (!list) return new Set(fallback);
  if (list.includes("*")) return new Set(EVENT_KINDS.filter((k) => k !== "webhook-failed"));
  return new Set(list.filter((k): k is EventKind => k !== "webhook-failed" && k !== "*"));
}

/**
 * The control Worker's NOTIFICATIONS variable: a JSON string (`[vars]` or `--var`) or the object
 * wrangler binds for a JSON value. Absent or empty: no destinations.
 */
export function parseNotifications(value: unknown): DocumentResult<Notifications> {
  if (value === undefined || value === null || value === "")
    return { ok: true, doc: NO_NOTIFICATIONS, fingerprint: NO_DOCUMENT };
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const r = parseDocument(
    text,
    notificationsSchema,
    '{"destinations": [{"type": "slack", "name": "releases", "urlSecret": "SLACK_WEBHOOK_URL"}]}',
    textSize,
  );
  if (r.ok) return r;
  // What was given for a *Secret field may be the secret itself, pasted by mistake: never repeated
  // (status, the log and the CLI show these problems).
  const problems = r.problems.map((p) =>
    /Secret$/.test(p.path) ? { ...p, message: p.message.replace(/ \(got .*\)$/s, "") } : p,
  );
  return fail(r.fingerprint, problems);
}
