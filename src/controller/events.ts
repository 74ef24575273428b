// The durable record of the controller's decisions (`event` table), each then handed to the
// notifier (./notifier.ts), which sends it where NOTIFICATIONS says. A notification that fails is
// itself recorded, never sent (a failing receiver must not loop).
import type { RolloutEvent } from "../model/status";
import type { ControllerContext, EventInput } from "./context";
import type { ControllerStore } from "./store";

export class EventLog {
  constructor(
    private readonly store: ControllerStore,
    private readonly context: Pick<ControllerContext, "now">,
    /** Sends the stored event to the destinations that want it (./notifier.ts); never throws. */
    private readonly notify: (event: RolloutEvent) => void,
  ) {}

  /** Never throws: an event that cannot be stored (id 0) is still logged and notified. */
  record(ev: EventInput): RolloutEvent {
    const at = new Date(this.context.now()).toISOString();
    let event: RolloutEvent;
    try {
      event = this.store.addEvent(at, ev.kind, ev.actor, ev.reason, ev.data);
    } catch (e) {
      event = { id: 0, at, kind: ev.kind, actor: ev.actor, reason: ev.reason, ...(ev.data ? { data: ev.data } : {}) };
      console.error(JSON.stringify({ event: "event-save-failed", message: (e as Error).message, lost: event }));
    }
    this.notify(event);
    return event;
  }

  latest(limit: number): RolloutEvent[] {
    return this.store.events(limit);
  }
}
