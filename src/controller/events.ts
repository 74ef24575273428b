// The durable record of the controller's decisions (`event` table) and the webhook that tells
// people about each one (./webhook.ts has its fail-safe table). A webhook failure is itself
// recorded, never sent (a failing receiver must not loop).
import type { RolloutEvent } from "../model/status";
import type { ControllerContext, EventInput } from "./context";
import type { ControllerStore } from "./store";
import { postWebhook, webhookBody, type WebhookContext } from "./webhook";

export class EventLog {
  constructor(
    private readonly store: ControllerStore,
    private readonly context: Pick<ControllerContext, "now" | "background">,
    /** The receiver now (WEBHOOK_URL, or a test's), undefined when none. */
    private readonly webhookUrl: () => string | undefined,
    /** What the event is about: the release and canary in force. */
    private readonly subject: () => WebhookContext,
  ) {}

  /** Never throws: an event that cannot be stored (id 0) is still logged and sent to the webhook. */
  record(ev: EventInput): RolloutEvent {
    const at = new Date(this.context.now()).toISOString();
    let event: RolloutEvent;
    try {
      event = this.store.addEvent(at, ev.kind, ev.actor, ev.reason, ev.data);
    } catch (e) {
      event = { id: 0, at, kind: ev.kind, actor: ev.actor, reason: ev.reason, ...(ev.data ? { data: ev.data } : {}) };
      console.error(JSON.stringify({ event: "event-save-failed", message: (e as Error).message, lost: event }));
    }
    const url = this.webhookUrl();
    if (url && ev.kind !== "webhook-failed") this.context.background(this.send(url, event));
    return event;
  }

  latest(limit: number): RolloutEvent[] {
    return this.store.events(limit);
  }

  private async send(url: string, event: RolloutEvent) {
    const result = await postWebhook(url, webhookBody(event, this.subject()));
    if (!result.ok)
      this.record({
        kind: "webhook-failed",
        actor: "controller",
        reason: `webhook for event ${event.id} (${event.kind}) failed after ${result.tries} tries: ${result.error}`,
        data: { eventId: event.id },
      });
  }
}
