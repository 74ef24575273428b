// The controller and the `rollout` KV key: what KV says (attempts, invalid documents) and what the
// controller writes back (rollback, plan steps, promotion, abort).
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | KV unreadable at start             | no attempt yet; reports count for stable only; retried ≤ 1/s   |
// | KV holds an invalid document       | last good kept; one "config-error" event per bad version      |
// | KV write fails                     | the view already protects traffic; retried by alarm (2 s)     |
// | operator wrote during our write    | operator wins: their document becomes a new attempt           |
// | report under an unknown version    | KV re-read (at once the first time, then ≤ 1/s)               |
import { ROLLOUT_KEY } from "../model/names";
import { parseRollout, type ParseResult } from "../model/parse";
import type { Rollout } from "../model/rollout";
import type { RolloutEvent } from "../model/status";
import { withTimeout } from "../lib/timeout";
import type { ControllerContext, EventInput, WakeRequests } from "./context";
import { kvWriteAction, patchText } from "./kv-patch";
import { afterControllerWrite, knows, startAttempt } from "./state";

const KV_READ_MIN_GAP_MS = 1000;
const KV_TIMEOUT_MS = 2000;
const KV_RETRY_MS = 2000;
/** Unknown fingerprints remembered as already re-read for: far more than versions isolates could hold at once. */
const REMEMBERED_UNKNOWN = 32;

export const KV_WRITE_CONCERN = "kv-write";

export class KvSync {
  private reading: Promise<void> | null = null;
  private writing: Promise<void> | null = null;
  private lastReadAt = -Infinity;
  private readonly triedUnknown = new Set<string>();

  constructor(
    private readonly kv: KVNamespace,
    private readonly context: ControllerContext,
    private readonly wakes: WakeRequests,
    /** An operator's write started a new attempt (the state already says so). */
    private readonly onNewAttempt: (doc: Rollout) => void,
  ) {}

  /** A write owed from before a restart: its alarm may not have been set before the object stopped. */
  resumeOwedWrite(): void {
    const state = this.context.state();
    if (state.pendingKvText && !(KV_WRITE_CONCERN in state.wake)) this.context.background(this.flush());
  }

  /** Reads KV once before the first attempt; with KV failing, later calls fall under the 1/s limit. */
  async ensureAttempt(): Promise<void> {
    if (this.context.state().attempt === 0) await this.refresh(this.lastReadAt === -Infinity);
  }

  /**
   * Re-reads KV for fingerprints the controller does not know. One never seen before is worth a read
   * at once (an operator just wrote it); one seen already and still unknown (KV not yet consistent
   * here) is re-read at most once a second.
   */
  async learn(fingerprints: string[]): Promise<void> {
    const unknown = fingerprints.filter((f) => !knows(this.context.state(), f));
    if (!unknown.length) return;
    const fresh = unknown.some((f) => !this.triedUnknown.has(f));
    for (const f of unknown) remember(this.triedUnknown, f, REMEMBERED_UNKNOWN);
    await this.refresh(fresh);
  }

  /** Re-reads KV (at most once a second unless forced; one read at a time). */
  refresh(force: boolean): Promise<void> {
    if (this.reading) return this.reading;
    const now = this.context.now();
    if (!force && now - this.lastReadAt < KV_READ_MIN_GAP_MS) return Promise.resolve();
    this.lastReadAt = now;
    this.reading = (async () => {
      try {
        this.adopt(await withTimeout(this.kv.get(ROLLOUT_KEY), KV_TIMEOUT_MS, "KV read"));
      } catch (e) {
        console.error(`controller: reading KV key "${ROLLOUT_KEY}" failed: ${(e as Error).message}`);
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  /**
   * The controller's one way to change the document: synchronous up to the view (so the next flush
   * answer already carries it, before any I/O), then the KV write and the webhook in the background.
   */
  change(patch: Record<string, unknown>, ev: EventInput): RolloutEvent {
    const state = this.context.state();
    let text = patchText(state.text, patch);
    let parsed = parseRollout(text);
    if (!parsed.ok && patch.rolledBack) {
      // A record over rolledBack's size limit (a long reason, large figures) must not cost the
      // decision: KV gets the short record, the event keeps everything.
      const rb = patch.rolledBack as { reason?: unknown; figures?: unknown };
      const reason = String(rb.reason ?? "");
      text = patchText(state.text, {
        ...patch,
        rolledBack: { ...rb, reason: reason.length > 1000 ? reason.slice(0, 1000) + "…" : reason, figures: undefined },
      });
      parsed = parseRollout(text);
    }
    if (!parsed.ok)
      throw new Error(
        `controller produced an invalid rollout document (${parsed.summary}); patch ${JSON.stringify(patch)}`,
      );
    const rolledBack = parsed.doc.rolledBack;
    this.context.update({
      ...afterControllerWrite(state, text, parsed.fingerprint, parsed.doc),
      rolledBack: rolledBack ? { at: rolledBack.at, reason: rolledBack.reason, figures: rolledBack.figures } : null,
      promotedAt: ev.kind === "promote" ? new Date(this.context.now()).toISOString() : state.promotedAt,
    });
    const event = this.context.recordEvent(ev);
    this.context.background(this.flush());
    return event;
  }

  /** Waits for a read under way and the owed write. */
  async settle(): Promise<void> {
    await this.reading;
    await this.flush();
  }

  /** Writes the owed document to KV; on failure retries by alarm. One write at a time. */
  flush(): Promise<void> {
    if (this.writing) return this.writing.then(() => (this.context.state().pendingKvText ? this.flush() : undefined));
    const text = this.context.state().pendingKvText;
    if (!text) return Promise.resolve();
    this.writing = (async () => {
      try {
        const current = await withTimeout(this.writeIfOurs(text), KV_TIMEOUT_MS, "KV write");
        if (this.context.state().pendingKvText === text) this.context.update({ pendingKvText: null });
        if (current.yielded) this.adopt(current.operatorText);
        await this.wakes.clear(KV_WRITE_CONCERN);
      } catch (e) {
        console.error(`controller: KV write of rollout failed, retrying in ${KV_RETRY_MS} ms: ${(e as Error).message}`);
        await this.wakes.request(KV_WRITE_CONCERN, this.context.now() + KV_RETRY_MS);
      } finally {
        this.writing = null;
      }
    })();
    return this.writing;
  }

  private async writeIfOurs(
    text: string,
  ): Promise<{ yielded: false } | { yielded: true; operatorText: string | null }> {
    const current = await this.kv.get(ROLLOUT_KEY);
    const known = knows(this.context.state(), parseRollout(current).fingerprint);
    const action = kvWriteAction(current, text, known);
    if (action === "yield") return { yielded: true, operatorText: current };
    if (action === "write") await this.kv.put(ROLLOUT_KEY, text);
    return { yielded: false };
  }

  private adopt(text: string | null) {
    const parsed = parseRollout(text);
    if (knows(this.context.state(), parsed.fingerprint)) return;
    if (!parsed.ok) return this.noteConfigError(parsed);
    const at = new Date(this.context.now()).toISOString();
    const state = startAttempt(this.context.state(), text, parsed.fingerprint, parsed.doc, at);
    this.context.update(state);
    const doc = parsed.doc;
    this.context.recordEvent({
      kind: "attempt",
      actor: "operator",
      reason: `attempt ${state.attempt}: ${doc.release ? `release ${doc.release}, ` : ""}canary ${doc.canary} at ${doc.percent} %${doc.rolledBack ? " (document carries rolledBack: stays on stable)" : ""}`,
      data: {
        attempt: state.attempt,
        fingerprint: parsed.fingerprint,
        release: doc.release ?? null,
        canary: doc.canary,
        percent: doc.percent,
      },
    });
    this.onNewAttempt(doc);
  }

  private noteConfigError(parsed: Extract<ParseResult, { ok: false }>) {
    if (this.context.state().configError?.fingerprint === parsed.fingerprint) return;
    this.context.update({
      configError: {
        at: new Date(this.context.now()).toISOString(),
        fingerprint: parsed.fingerprint,
        summary: parsed.summary,
        problems: parsed.problems,
      },
    });
    this.context.recordEvent({
      kind: "config-error",
      actor: "controller",
      reason: `KV document rejected, last good kept: ${parsed.summary}`,
      data: { fingerprint: parsed.fingerprint, problems: parsed.problems },
    });
  }
}

/** Adds `value` as the newest entry of a set bounded to `max` (the oldest goes). */
function remember(set: Set<string>, value: string, max: number) {
  set.delete(value);
  set.add(value);
  if (set.size > max) set.delete(set.values().next().value!);
}
