// Sends the controller's events to the destinations in NOTIFICATIONS (and to the legacy WEBHOOK_URL):
// an outbox in the object's SQLite (table `notification`, docs/storage-schema.md), drained at once
// and by the shared alarm, so a notification outlives a restart and a receiver that is down for a
// while. What is sent is ../notify/destinations.ts; when it is tried again, ../notify/retry.ts.
//
// | situation                              | behaviour                                                  |
// |----------------------------------------|------------------------------------------------------------|
// | NOTIFICATIONS invalid                  | none of it is used (WEBHOOK_URL still is); status and the  |
// |                                        | log say why; fixed by the next deploy                      |
// | a destination's secret missing         | its requests fail at once (no retry), each counted; said   |
// |                                        | once while it lasts (../notify/unsendable.ts)              |
// | receiver down, slow, rate-limiting     | retried with backoff (../notify/retry.ts), in order per    |
// |                                        | lane of a destination (PagerDuty: pages, change events);   |
// |                                        | status shows the ones waiting and why                      |
// | given up                               | event "webhook-failed" naming destination, event and error |
// |                                        | (never itself sent: a failing receiver must not loop)      |
// | the object restarts mid-try            | each try is written before it is made: the alarm retries   |
// |                                        | it (a receiver may see it twice: the message id is stable) |
// | more than MAX_WAITING queued in a lane | the event is not queued in that lane; counted as failed    |
// |                                        | ("queue full"), its webhook-failed event says so           |
// | a destination removed from the config  | what was queued for it is dropped                          |
// Sending never blocks or undoes a decision: it runs after the event is stored, in the background.
import { parseNotifications, type Destination } from "../model/notifications";
import { ActionNotApplicable } from "../model/action-error";
import type {
  DestinationStatus,
  NotificationsStatus,
  NotificationTest,
  RetryingRequest,
  RolloutEvent,
} from "../model/status";
import {
  eventsShown,
  laneOf,
  LEGACY,
  outgoingFor,
  targetProblem,
  triesOf,
  testOutgoing,
  type Lane,
  type Target,
} from "../notify/destinations";
import { messageOf, testMessage, type Subject } from "../notify/message";
import { withIncident, withoutIncidents, type OpenIncident } from "../notify/pagerduty";
import { unsendableFailed, type Unsendable } from "../notify/unsendable";
import { nextTryAt, TRY_TIMEOUT_MS, type TryOutcome } from "../notify/retry";
import { sendOnce } from "../notify/send";
import { closest } from "../lib/closest";
import type { ControllerContext, WakeRequests } from "./context";
import type { NotifierSource } from "./notifier-source";
import type { ControllerStore, QueuedNotification } from "./store";

export const NOTIFY_CONCERN = "notify";
/**
 * Per lane of a destination: a receiver down for hours must not grow the object's storage without
 * bound. Per lane, not per destination: a change-event endpoint failing for hours would otherwise
 * fill the destination's share and leave no room for the page that follows (PagerDuty keeps 400).
 */
export const MAX_WAITING = 200;
const STATS_KEY = "notify";
/** A try in flight is due again after its timeout and this: the alarm never rings in the middle of it. */
const IN_FLIGHT_MARGIN_MS = 1000;
/** While NOTIFICATIONS is invalid, how often the queue is looked at again. */
const INVALID_RECHECK_MS = 60_000;

interface Stats {
  destinations: Record<
    string,
    Pick<DestinationStatus, "sent" | "failed" | "lastSent" | "lastFailure"> & {
      incidents?: OpenIncident[];
      /** Its secret missing or malformed since, and said (../notify/unsendable.ts); absent once seen in order. */
      unsendable?: Unsendable;
    }
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
    private readonly wakes: WakeRequests & { isRequested(concern: string, at?: number): boolean },
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
      const late: { name: string; lane: Lane; count: number }[] = [];
      for (const t of targets) {
        const stat = this.statOf(t.name);
        const out = outgoingFor(t, message, stat.incidents ?? []);
        const full = new Set<Lane>();
        for (const lane of new Set(out.map(laneOf))) {
          const count = out.filter((o) => laneOf(o) === lane).length;
          if (this.store.notificationsWaitingIn(t.name, lane) + count <= MAX_WAITING) continue;
          full.add(lane);
          late.push({ name: t.name, lane, count });
        }
        for (const o of out) {
          if (full.has(laneOf(o))) continue;
          this.store.addNotification({
            destination: t.name,
            lane: laneOf(o),
            eventId: event.id,
            kind: event.kind,
            messageId: `msg_${Date.parse(event.at)}_${event.id}`,
            outgoing: o,
            nextAt: now,
          });
          // Kept as queued, so the next event sees them (a resolve goes behind its trigger); a
          // request given up puts them back as PagerDuty still has them (./givenUp).
          if (o.opens) stat.incidents = withIncident(stat.incidents, o.opens);
          if (o.resolves) stat.incidents = withoutIncidents(stat.incidents, o.resolves);
        }
      }
      this.saveStats();
      for (const { name, lane, count } of late)
        this.givenUp(
          { destination: name, eventId: event.id, kind: event.kind, outgoing: { body: null } },
          0,
          `${lane === "change" ? "change events' " : ""}queue full (${MAX_WAITING} waiting): the receiver has been failing`,
          count,
        );
      this.context.background(this.drain());
    } catch (e) {
      console.error(
        JSON.stringify({ event: "notify-failed", eventId: event.id, message: (e as Error).message, lost: event.kind }),
      );
    }
  }

  /** Sends what is due, one request per lane of a destination at a time, until nothing is; then sets the alarm. */
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
      const near = closest(name, known);
      throw new ActionNotApplicable(
        `no notification destination "${name}"${near ? ` (did you mean "${near}"?)` : ""}${known.length ? `: known are ${known.join(", ")}` : ": none is configured (NOTIFICATIONS)"}`,
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
          : await sendOnce(t, testOutgoing(t, message), secret, `msg_${Date.parse(at)}_test`, () => this.context.now());
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
    // Heads come lane "" first: a page's wait is shown before a change event's.
    const retrying = this.store.notificationHeads().filter((h) => h.tries > 0 && h.error);
    const source = this.source();
    return {
      problem: config.problem,
      destinations: targets.map((t) => {
        const s = this.statOf(t.name);
        const [head, other] = retrying.filter((h) => h.destination === t.name).map(retryingOf);
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
          retrying: head ?? null,
          ...(other ? { retryingChange: other } : {}),
          ...(t.type === "pagerduty" ? { openIncidents: (s.incidents ?? []).map((i) => i.key) } : {}),
        };
      }),
    };
  }

  private async pass(): Promise<void> {
    const now = this.context.now();
    if (this.config().problem && this.store.notificationsWaiting().size > 0) {
      // Nothing configured is sent while the variable is invalid, and nothing queued is dropped:
      // looked at again in a while (a deploy with the fix restarts the object before that, too).
      await this.wakes.request(NOTIFY_CONCERN, now + INVALID_RECHECK_MS);
      return;
    }
    const targets = new Map(this.targets().map((t) => [t.name, t]));
    this.dropRemoved(targets);
    const heads = this.store.notificationHeads().filter((h) => targets.has(h.destination));
    const due = heads.filter((h) => h.nextAt <= now);
    const done: boolean[] = [];
    for (const h of due.filter((h) => h.tries >= triesOf(h.outgoing))) {
      // Its last try was cut short by a restart: given up as if it had failed.
      this.store.deleteNotification(h.id);
      this.givenUp(h, h.tries, h.error ?? "the last try was cut short");
      done.push(true);
    }
    const trying = due.filter((h) => h.tries < triesOf(h.outgoing));
    // Each try is written before it is made, due after the try's own timeout: one cut short by a
    // restart is made again by the alarm, and the alarm never rings while the try is still running.
    for (const h of trying)
      this.store.retryNotification(h.id, h.tries + 1, now + TRY_TIMEOUT_MS + IN_FLIGHT_MARGIN_MS, h.error);
    if (trying.length) await this.schedule(targets);
    done.push(...(await Promise.all(trying.map((h) => this.deliver(targets.get(h.destination)!, h)))));
    if (done.some(Boolean)) this.again = true;
    await this.schedule(targets);
  }

  /**
   * What is queued for a destination no longer configured is dropped, each counted as failed with
   * one event. While NOTIFICATIONS is invalid nothing is dropped: the fix brings its destinations back.
   */
  private dropRemoved(targets: ReadonlyMap<string, Target>): void {
    if (this.config().problem) return;
    for (const [name, n] of this.store.notificationsWaiting()) {
      if (targets.has(name)) continue;
      const head = this.store.notificationHeads().find((h) => h.destination === name)!;
      this.store.deleteNotificationsOf(name);
      this.givenUp(
        head,
        head.tries,
        `the destination was removed from NOTIFICATIONS: ${n} queued message(s) dropped`,
        n,
      );
    }
  }

  /** One try of the head `h`: true when it left the queue, delivered or given up (the next may be due). */
  private async deliver(t: Target, h: QueuedNotification): Promise<boolean> {
    const tries = h.tries + 1;
    const source = this.source();
    const secret = (n: string) => source.secret(n);
    const problem = targetProblem(t, secret);
    let outcome: TryOutcome;
    // The secret seen in order: a problem after this is a new one, said again.
    const seen = this.statOf(t.name);
    if (!problem && seen.unsendable) {
      delete seen.unsendable;
      this.saveStats();
    }
    if (problem) outcome = { ok: false, retry: false, error: problem };
    else outcome = await sendOnce(t, h.outgoing, secret, h.messageId, () => this.context.now());
    const now = this.context.now();
    if (outcome.ok) {
      this.store.deleteNotification(h.id);
      const s = this.statOf(t.name);
      s.sent++;
      s.lastSent = { at: new Date(now).toISOString(), eventId: h.eventId, kind: h.kind };
      this.saveStats();
      return true;
    }
    const next = outcome.retry ? nextTryAt(now, tries, outcome.retryAfterMs, Math.random, triesOf(h.outgoing)) : null;
    if (next !== null) this.store.retryNotification(h.id, tries, next, outcome.error);
    else {
      this.store.deleteNotification(h.id);
      this.givenUp(h, tries, outcome.error, 1, problem !== null);
    }
    return next === null;
  }

  /**
   * Counts `q` (or `count` requests of its destination) as failed, puts its incidents back, records
   * why; `unsendable`: `error` is the destination's own problem (a secret), said once while it lasts.
   */
  private givenUp(
    q: Pick<QueuedNotification, "destination" | "eventId" | "kind" | "outgoing">,
    tries: number,
    error: string,
    count = 1,
    unsendable = false,
  ): void {
    const { destination: name, eventId, kind } = q;
    const s = this.statOf(name);
    s.failed += count;
    s.lastFailure = { at: new Date(this.context.now()).toISOString(), eventId, kind, tries, error };
    if (q.outgoing.opens) s.incidents = withoutIncidents(s.incidents, [q.outgoing.opens]);
    for (const i of q.outgoing.resolves ?? []) s.incidents = withIncident(s.incidents, i);
    let said = error;
    if (unsendable) {
      const u = unsendableFailed(s.unsendable, error, count, this.context.now());
      s.unsendable = u.state;
      if (u.say === null) return this.saveStats();
      said = u.say;
    }
    this.saveStats();
    const after = tries > 0 ? ` after ${tries} ${tries === 1 ? "try" : "tries"}` : "";
    this.context.recordEvent({
      kind: "webhook-failed",
      actor: "controller",
      reason: `notification to "${name}" for event ${eventId} (${kind}) given up${after}: ${said}`,
      data: { destination: name, eventId, tries, error },
    });
  }

  /** The alarm at the earliest head that can be sent (not the rows behind a waiting head: those are not due). */
  private async schedule(targets: ReadonlyMap<string, Target>): Promise<void> {
    const heads = this.store.notificationHeads().filter((h) => targets.has(h.destination));
    const next = heads.length ? Math.min(...heads.map((h) => h.nextAt)) : null;
    if (next === null) await this.wakes.clear(NOTIFY_CONCERN);
    else if (!this.wakes.isRequested(NOTIFY_CONCERN, next)) await this.wakes.request(NOTIFY_CONCERN, next);
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

function retryingOf(h: QueuedNotification): RetryingRequest {
  return {
    eventId: h.eventId,
    kind: h.kind,
    tries: h.tries,
    nextAt: new Date(h.nextAt).toISOString(),
    error: h.error ?? "",
    ...(h.lane === "change" ? { lane: "change" as const } : {}),
  };
}
