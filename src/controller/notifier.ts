// Sends the controller's events to the destinations in NOTIFICATIONS (and to the legacy WEBHOOK_URL):
// an outbox in the object's SQLite (table `notification`, docs/storage-schema.md), drained at once
// and by the shared alarm, so a notification outlives a restart and a receiver that is down for a
// while. What is sent is ../notify/destinations.ts; when it is tried again, ../notify/retry.ts.
//
// | situation                              | behaviour                                                  |
// |----------------------------------------|------------------------------------------------------------|
// | NOTIFICATIONS invalid                  | none of it is used (WEBHOOK_URL still is); status and the  |
// |                                        | log say why; fixed by the next deploy                      |
// | a destination's secret missing         | its requests fail at once (no retry), counted and shown    |
// | receiver down, slow, rate-limiting     | retried with backoff (../notify/retry.ts), in order per    |
// |                                        | destination; status shows the one waiting and why          |
// | given up                               | event "webhook-failed" naming destination, event and error |
// |                                        | (never itself sent: a failing receiver must not loop)      |
// | the object restarts mid-try            | each try is written before it is made: the alarm retries   |
// |                                        | it (a receiver may see it twice: the message id is stable) |
// | more than MAX_WAITING queued           | the event is not queued for that destination; counted as   |
// |                                        | failed ("queue full"), its webhook-failed event says so    |
// | a destination removed from the config  | what was queued for it is dropped                          |
// Sending never blocks or undoes a decision: it runs after the event is stored, in the background.
import type { Env } from "../env";
import type { Destination } from "../model/notifications";
import { parseNotifications } from "../model/parse";
import { ActionNotApplicable } from "../model/action-error";
import type {
  DestinationStatus,
  EventKind,
  NotificationsStatus,
  NotificationTest,
  RolloutEvent,
} from "../model/status";
import {
  eventsShown,
  LEGACY,
  outgoingFor,
  requestFor,
  targetProblem,
  testOutgoing,
  type Outgoing,
  type Target,
} from "../notify/destinations";
import { messageOf, testMessage, type Subject } from "../notify/message";
import type { OpenIncident } from "../notify/pagerduty";
import { answerOutcome, failureOutcome, nextTryAt, TRY_TIMEOUT_MS, type TryOutcome } from "../notify/retry";
import type { ControllerContext, WakeRequests } from "./context";
import type { ControllerStore, QueuedNotification } from "./store";

export const NOTIFY_CONCERN = "notify";
/** Per destination: a receiver down for hours must not grow the object's storage without bound. */
export const MAX_WAITING = 200;
const STATS_KEY = "notify";

/** Where the configuration and the secrets come from: the Worker's env, or a test's. */
export interface NotifierSource {
  /** The NOTIFICATIONS value (a JSON string or object), undefined when unset. */
  config(): unknown;
  /** A Worker secret (or var) by name. */
  secret(name: string): unknown;
}

interface Stats {
  destinations: Record<
    string,
    Pick<DestinationStatus, "sent" | "failed" | "lastSent" | "lastFailure"> & { incidents?: OpenIncident[] }
  >;
}

export class Notifier {
  private stats: Stats;
  private parsed: { raw: unknown; targets: Destination[]; statusUrl?: string; problem: string | null } | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly store: ControllerStore,
    private readonly context: Pick<ControllerContext, "now" | "background" | "recordEvent">,
    private readonly wakes: WakeRequests,
    private readonly source: () => NotifierSource,
    /** What an event is about when it is recorded (release, canary, percent, attempt). */
    private readonly subject: () => Subject,
  ) {
    this.stats = store.get<Stats>(STATS_KEY) ?? { destinations: {} };
  }

  /** Queues `event` for every destination that wants it and starts sending. Never throws. */
  notify(event: RolloutEvent): void {
    if (event.kind === "webhook-failed") return;
    try {
      const config = this.config();
      const targets = this.targets();
      if (targets.length === 0) return;
      const message = messageOf(event, this.subject(), config.statusUrl);
      const now = this.context.now();
      const waiting = this.store.notificationsWaiting();
      const late: string[] = [];
      for (const t of targets) {
        const stat = this.statOf(t.name);
        const out = outgoingFor(t, message, stat.incidents ?? []);
        if (out.length === 0) continue;
        if ((waiting.get(t.name) ?? 0) + out.length > MAX_WAITING) {
          late.push(t.name);
          continue;
        }
        for (const o of out) {
          this.store.addNotification({
            destination: t.name,
            eventId: event.id,
            kind: event.kind,
            messageId: `msg_${Date.parse(event.at)}_${event.id}`,
            outgoing: o,
            nextAt: now,
          });
          if (o.opens) stat.incidents = [...(stat.incidents ?? []).filter((i) => i.key !== o.opens!.key), o.opens];
          if (o.resolves) stat.incidents = (stat.incidents ?? []).filter((i) => !o.resolves!.includes(i.key));
        }
      }
      this.saveStats();
      for (const name of late)
        this.givenUp(
          name,
          event.id,
          event.kind,
          0,
          `queue full (${MAX_WAITING} waiting): the receiver has been failing`,
        );
      this.context.background(this.drain());
    } catch (e) {
      console.error(
        JSON.stringify({ event: "notify-failed", eventId: event.id, message: (e as Error).message, lost: event.kind }),
      );
    }
  }

  /** Sends what is due, one request per destination at a time, until nothing is; then sets the alarm. */
  drain(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })()
      .catch((e: unknown) => console.error(`controller: sending notifications failed: ${(e as Error).message}`))
      .finally(() => (this.running = null));
    return this.running;
  }

  /** Waits for sending under way (not for retries the alarm will make). For tests and settle(). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Sends a test message to each destination (or the one named) now, one try each, and says how
   * each went: for checking a new destination or secret without waiting for a rollback.
   */
  async test(actor: string, name?: string): Promise<NotificationTest[]> {
    const config = this.config();
    const targets = this.targets().filter((t) => name === undefined || t.name === name);
    if (name !== undefined && targets.length === 0) {
      const known = this.targets().map((t) => t.name);
      throw new ActionNotApplicable(
        `no notification destination "${name}"${known.length ? `: known are ${known.join(", ")}` : ": none is configured (NOTIFICATIONS)"}`,
      );
    }
    const at = new Date(this.context.now()).toISOString();
    const message = testMessage(at, actor, this.subject(), config.statusUrl);
    const source = this.source();
    const secret = (n: string) => source.secret(n);
    return Promise.all(
      targets.map(async (t) => {
        const problem = targetProblem(t, secret);
        const outcome: TryOutcome = problem
          ? { ok: false, retry: false, error: problem }
          : await this.send(t, testOutgoing(t, message), secret, `msg_${Date.parse(at)}_test`);
        return {
          name: t.name,
          type: t.type,
          ok: outcome.ok,
          detail: outcome.ok ? `answered ${outcome.status}` : outcome.error,
        };
      }),
    );
  }

  status(): NotificationsStatus | undefined {
    const config = this.config();
    const targets = this.targets();
    if (targets.length === 0 && !config.problem) return undefined;
    const waiting = this.store.notificationsWaiting();
    const heads = new Map(this.store.notificationHeads().map((h) => [h.destination, h]));
    const source = this.source();
    return {
      problem: config.problem,
      destinations: targets.map((t) => {
        const s = this.statOf(t.name);
        const head = heads.get(t.name);
        return {
          name: t.name,
          type: t.type,
          events: eventsShown(t),
          problem: targetProblem(t, (n) => source.secret(n)),
          sent: s.sent,
          failed: s.failed,
          waiting: waiting.get(t.name) ?? 0,
          lastSent: s.lastSent,
          lastFailure: s.lastFailure,
          retrying:
            head && head.tries > 0 && head.error
              ? {
                  eventId: head.eventId,
                  kind: head.kind,
                  tries: head.tries,
                  nextAt: new Date(head.nextAt).toISOString(),
                  error: head.error,
                }
              : null,
          ...(t.type === "pagerduty" ? { openIncidents: (s.incidents ?? []).map((i) => i.key) } : {}),
        };
      }),
    };
  }

  private async pass(): Promise<void> {
    const now = this.context.now();
    const targets = new Map(this.targets().map((t) => [t.name, t]));
    const dropped = this.store.deleteNotificationsExcept([...targets.keys()]);
    if (dropped > 0) console.log(`controller: dropped the queued notifications of ${dropped} removed destination(s)`);
    const due = this.store.notificationHeads().filter((h) => h.nextAt <= now);
    // Each try is written before it is made: one cut short by a restart is made again by the alarm.
    for (const h of due)
      this.store.retryNotification(h.id, h.tries + 1, nextTryAt(now, h.tries + 1) ?? now + 2 * TRY_TIMEOUT_MS, h.error);
    if (due.length) await this.schedule();
    const done = await Promise.all(due.map((h) => this.deliver(targets.get(h.destination)!, h)));
    if (done.some(Boolean)) this.again = true;
    await this.schedule();
  }

  /** One try of the head `h`: true when it left the queue, delivered or given up (the next may be due). */
  private async deliver(t: Target, h: QueuedNotification): Promise<boolean> {
    const tries = h.tries + 1;
    const source = this.source();
    const secret = (n: string) => source.secret(n);
    const problem = targetProblem(t, secret);
    let outcome: TryOutcome;
    if (problem) outcome = { ok: false, retry: false, error: problem };
    else outcome = await this.send(t, h.outgoing, secret, h.messageId);
    const now = this.context.now();
    if (outcome.ok) {
      this.store.deleteNotification(h.id);
      const s = this.statOf(t.name);
      s.sent++;
      s.lastSent = { at: new Date(now).toISOString(), eventId: h.eventId, kind: h.kind };
      this.saveStats();
      return true;
    }
    const next = outcome.retry ? nextTryAt(now, tries, outcome.retryAfterMs) : null;
    if (next !== null) this.store.retryNotification(h.id, tries, next, outcome.error);
    else {
      this.store.deleteNotification(h.id);
      this.givenUp(t.name, h.eventId, h.kind, tries, outcome.error);
    }
    return next === null;
  }

  private async send(t: Target, o: Outgoing, secret: (n: string) => unknown, messageId: string): Promise<TryOutcome> {
    try {
      const { url, init } = await requestFor(t, o, secret, messageId, this.context.now());
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(TRY_TIMEOUT_MS) });
      const excerpt = r.ok ? "" : (await r.text()).slice(0, 300);
      if (r.ok) await r.body?.cancel();
      return answerOutcome(r.status, excerpt, r.headers.get("retry-after"), this.context.now());
    } catch (e) {
      return failureOutcome(e);
    }
  }

  private givenUp(name: string, eventId: number, kind: EventKind, tries: number, error: string): void {
    const s = this.statOf(name);
    s.failed++;
    s.lastFailure = { at: new Date(this.context.now()).toISOString(), eventId, kind, tries, error };
    this.saveStats();
    const after = tries > 0 ? ` after ${tries} ${tries === 1 ? "try" : "tries"}` : "";
    this.context.recordEvent({
      kind: "webhook-failed",
      actor: "controller",
      reason: `notification to "${name}" for event ${eventId} (${kind}) given up${after}: ${error}`,
      data: { destination: name, eventId, tries, error },
    });
  }

  private async schedule(): Promise<void> {
    const next = this.store.nextNotificationAt();
    if (next === null) await this.wakes.clear(NOTIFY_CONCERN);
    else await this.wakes.request(NOTIFY_CONCERN, next);
  }

  private config(): { targets: Destination[]; statusUrl?: string; problem: string | null } {
    const raw = this.source().config();
    if (this.parsed && this.parsed.raw === raw) return this.parsed;
    const r = parseNotifications(raw);
    this.parsed = r.ok
      ? { raw, targets: r.doc.destinations, statusUrl: r.doc.statusUrl, problem: null }
      : { raw, targets: [], problem: `NOTIFICATIONS is invalid, nothing in it is used: ${r.summary}` };
    if (!r.ok)
      console.error(JSON.stringify({ level: "error", event: "notifications-invalid", problem: this.parsed.problem }));
    return this.parsed;
  }

  private targets(): Target[] {
    const legacy = this.source().secret(LEGACY);
    return [
      ...this.config().targets,
      ...(typeof legacy === "string" && legacy !== "" ? [{ type: "legacy" as const, name: LEGACY } as const] : []),
    ];
  }

  private statOf(name: string): Stats["destinations"][string] {
    return (this.stats.destinations[name] ??= { sent: 0, failed: 0, lastSent: null, lastFailure: null });
  }

  private saveStats(): void {
    try {
      this.store.put(STATS_KEY, this.stats);
    } catch (e) {
      console.error(`controller: saving notification figures failed: ${(e as Error).message}`);
    }
  }
}

/** NOTIFICATIONS and the secrets it names from the Worker's env, or a test's instead. */
export function notifierSource(
  env: Env,
  override: { config: unknown; secrets: Record<string, string> } | undefined,
  webhookUrl: string | undefined,
): NotifierSource {
  const vars = env as unknown as Record<string, unknown>;
  return {
    config: () => (override ? override.config : vars.NOTIFICATIONS),
    secret: (name) =>
      name === "WEBHOOK_URL" && webhookUrl !== undefined ? webhookUrl : override ? override.secrets[name] : vars[name],
  };
}
