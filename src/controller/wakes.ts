// One Durable Object alarm shared by concerns ("kv-write": a KV write to retry; "plan": a step's
// end). Each concern asks for a time; the alarm is always set to the earliest, and when it rings
// only the concerns that are due run. Requests live in the state (`wake`), so they survive a restart.
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | an alarm concern fails             | logged; the other concerns still run, the alarm is re-armed   |
import type { ControllerContext, WakeRequests } from "./context";

export type WakeHandler = (now: number) => Promise<void> | void;

export class Wakes implements WakeRequests {
  private readonly handlers = new Map<string, WakeHandler>();

  constructor(
    private readonly context: Pick<ControllerContext, "now" | "state" | "update">,
    private readonly alarms: Pick<DurableObjectStorage, "setAlarm" | "deleteAlarm">,
  ) {}

  handle(concern: string, handler: WakeHandler): void {
    this.handlers.set(concern, handler);
  }

  isRequested(concern: string, at?: number): boolean {
    const wake = this.context.state().wake;
    return concern in wake && (at === undefined || wake[concern] === at);
  }

  async request(concern: string, at: number): Promise<void> {
    this.context.update({ wake: { ...this.context.state().wake, [concern]: at } });
    await this.schedule();
  }

  async clear(concern: string): Promise<void> {
    if (!this.isRequested(concern)) return;
    const { [concern]: _cleared, ...rest } = this.context.state().wake;
    this.context.update({ wake: rest });
    await this.schedule();
  }

  /** The alarm rang: runs the concerns that are due (a failing one does not stop the others), then re-arms. */
  async ring(): Promise<void> {
    const now = this.context.now();
    const wake = { ...this.context.state().wake };
    const due = Object.keys(wake).filter((concern) => wake[concern] <= now);
    for (const concern of due) delete wake[concern];
    this.context.update({ wake });
    for (const concern of due) {
      try {
        await this.handlers.get(concern)?.(now);
      } catch (e) {
        console.error(`controller: alarm concern "${concern}" failed: ${(e as Error).message}`);
      }
    }
    await this.schedule();
  }

  private async schedule() {
    const next = Math.min(...Object.values(this.context.state().wake));
    if (Number.isFinite(next)) await this.alarms.setAlarm(next);
    else await this.alarms.deleteAlarm();
  }
}
