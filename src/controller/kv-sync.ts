// The controller and the `rollout` KV key: what KV says (attempts, invalid documents), what the
// controller writes back (rollback, plan steps, promotion, abort), and operators' writes through
// the admin API (./operator-write.ts has their rules).
//
// KV has no compare-and-swap and is eventually consistent, so every KV operation of the controller
// (a read, a write with its check, an operator's write) runs in turn under one lock: awaits inside
// the object never interleave a KV write with another read-check-write. An operator's write through
// the API is therefore never lost; a raw `wrangler kv key put` is lost only if it lands between the
// controller's check and its put (docs/storage-schema.md, "Who writes the document").
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | KV unreadable at start             | no attempt yet; reports count for stable only; retried ≤ 1/s   |
// | KV holds an invalid document       | last good kept; one "config-error" event per bad version      |
// | KV write fails                     | the view already protects traffic; retried by alarm (2 s)     |
// | KV holds a version we do not know  | re-read just before each write: the operator's write wins, the |
// | when we are about to write         | owed write is dropped, event "operator-write-won" names both   |
// | isolates route by a version KV has | our KV write waits (≤ UNSEEN_HOLD_MS, retried by alarm) for KV |
// | not shown us yet                   | to show it, then it wins as above; never shown: we write, and  |
// |                                    | event "operator-write-unseen" says that version may be lost    |
// | API write, base ≠ version in force | refused (409) naming the version in force; nothing written     |
// | API write, KV unreadable           | refused (503): it could not be checked; nothing written        |
// | report under an unknown version    | KV re-read (at once the first time, then ≤ 1/s)               |
import { ROLLOUT_KEY } from "../model/names";
import { fingerprintOf } from "../model/fingerprint";
import { parseRollout, type ParseResult } from "../model/parse";
import type { Rollout } from "../model/rollout";
import type { RolloutEvent } from "../model/status";
import type { DocumentVersion, DocumentWriteOutcome, DocumentWriteRequest } from "../model/document-write";
import { withTimeout } from "../lib/timeout";
import type { ControllerContext, EventInput, WakeRequests } from "./context";
import { kvWriteAction, patchText } from "./kv-patch";
import {
  afterOperatorWrite,
  controllerMetadata,
  describeWriter,
  judgeOperatorWrite,
  type InvalidInKv,
} from "./operator-write";
import { afterControllerWrite, isEarlier, knows, rolledBackOf, startAttempt } from "./state";
import { UNSEEN_HOLD_MS, UnseenVersions } from "./unseen-versions";

const KV_READ_MIN_GAP_MS = 1000;
const KV_TIMEOUT_MS = 2000;
const KV_RETRY_MS = 2000;
/** How long the lock waits for a timed-out KV write to settle before other KV work goes ahead. */
const KV_IN_FLIGHT_MAX_MS = 8000;
/** Unknown fingerprints remembered as already re-read for: far more than versions isolates could hold at once. */
const REMEMBERED_UNKNOWN = 32;
export const KV_WRITE_CONCERN = "kv-write";

export class KvSync {
  private reading: Promise<void> | null = null;
  private writing: Promise<void> | null = null;
  /** The tail of the one lock: every KV read, checked write and operator write runs after it. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastReadAt = -Infinity;
  private readonly triedUnknown = new Set<string>();
  private readonly unseen = new UnseenVersions();
  /** Accounted for, or older than what KV holds: either way not an operator's write still on its way. */
  private readonly known = (fingerprint: string) =>
    knows(this.context.state(), fingerprint) || isEarlier(this.context.state(), fingerprint);
  /** What KV held at the last read when it was an invalid document (the last good one stays in force), else null. */
  private invalidInKv: InvalidInKv | null = null;
  /** Who asked for the owed write and why (KV metadata, and the event if an operator's write wins over it). */
  private owedFor = { by: "controller", why: "a change of the controller" };
  /** Test seam: awaited under the lock between a KV write's check and its put (stands for a slow KV). */
  beforePut: (() => Promise<void>) | null = null;
  /** Test seam: awaited under the lock before a KV read (stands for a slow KV read). */
  beforeRead: (() => Promise<void>) | null = null;

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
    this.unseen.note(unknown, this.known, this.context.now());
  }

  /** Whether every fingerprint is a version the controller knows (no KV read needed to count them). */
  knowsAll(fingerprints: string[]): boolean {
    return fingerprints.every((f) => knows(this.context.state(), f));
  }

  /** Re-reads KV (at most once a second unless forced; one read at a time). */
  refresh(force: boolean): Promise<void> {
    if (this.reading) return this.reading;
    const now = this.context.now();
    if (!force && now - this.lastReadAt < KV_READ_MIN_GAP_MS) return Promise.resolve();
    this.lastReadAt = now;
    this.reading = this.exclusive(async () => {
      await this.readAndAdopt();
    }).finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  /** The version in force, after reading KV (a raw put not yet seen becomes the version in force). */
  async version(): Promise<DocumentVersion> {
    await this.refresh(true);
    const s = this.context.state();
    // An invalid document in KV is what a write replaces: the operator sees it (and its problems) first.
    const shown = this.invalidInKv ?? s;
    return { fingerprint: shown.fingerprint, text: shown.text, attempt: s.attempt, revision: s.revision };
  }

  /**
   * An operator's write through the admin API. Under the lock: KV is read (a raw put is the version
   * in force from then on), the base is compared with the version in force, and the new document
   * becomes a new attempt, in the view at once and in KV before the answer (or owed, by alarm).
   */
  write(req: DocumentWriteRequest): Promise<DocumentWriteOutcome> {
    return this.exclusive(async () => {
      if (!(await this.readAndAdopt()))
        return {
          ok: false,
          reason: "kv-unavailable",
          current: this.context.state().fingerprint,
          error: `KV key "${ROLLOUT_KEY}" could not be read, so the write could not be checked against it: nothing was written; retry shortly`,
        };
      const before = this.context.state();
      const unseen = this.unseen.awaited(this.known, this.context.now());
      if (unseen)
        return {
          ok: false,
          reason: "conflict",
          current: unseen,
          error: `isolates already route by version ${unseen}, which KV has not shown the controller yet (a raw \`wrangler kv key put\` elsewhere, still propagating): nothing was written, so as not to overwrite it unseen; read the document again in a minute (at most ${UNSEEN_HOLD_MS / 1000} s) and re-apply your change`,
        };
      const verdict = judgeOperatorWrite(before, req.ifMatch, parseRollout(req.text), this.invalidInKv);
      if (verdict.kind === "refuse") return verdict.outcome;
      if (verdict.kind === "write") {
        this.context.update(
          afterOperatorWrite(
            before,
            req.text,
            verdict.fingerprint,
            verdict.doc,
            new Date(this.context.now()).toISOString(),
            this.invalidInKv?.fingerprint,
          ),
        );
        this.owedFor = { by: req.actor, why: `the operator's write (${req.actor})` };
        this.invalidInKv = null;
        this.recordAttempt(verdict.fingerprint, verdict.doc, req.actor, {
          via: "admin API",
          previous: before.fingerprint,
          ...(req.reason ? { reason: req.reason } : {}),
          ...(req.note ? { note: req.note } : {}),
        });
        // A plan in the new document may set its first step's percent: one more version, same write.
        this.onNewAttempt(verdict.doc);
      }
      const written = await this.writeOwed();
      const after = this.context.state();
      return {
        ok: true,
        changed: verdict.kind === "write",
        fingerprint: after.fingerprint,
        previous: before.fingerprint,
        attempt: after.attempt,
        revision: after.revision,
        kv: written && after.pendingKvText === null ? "written" : "pending",
      };
    });
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
    this.context.update({
      ...afterControllerWrite(state, text, parsed.fingerprint, parsed.doc),
      rolledBack: rolledBackOf(parsed.doc),
      promotedAt: ev.kind === "promote" ? new Date(this.context.now()).toISOString() : state.promotedAt,
    });
    this.owedFor = { by: ev.actor, why: `the controller's ${ev.kind} (${ev.reason})` };
    const event = this.context.recordEvent(ev);
    this.context.background(this.flush());
    return event;
  }

  /** Waits for a read under way and the owed write. */
  async settle(): Promise<void> {
    await this.reading;
    await this.flush();
  }

  /** Writes the owed document to KV; on failure retries by alarm. One write at a time, under the lock. */
  flush(): Promise<void> {
    if (this.writing) return this.writing.then(() => (this.context.state().pendingKvText ? this.flush() : undefined));
    if (!this.context.state().pendingKvText) return Promise.resolve();
    this.writing = this.exclusive(async () => {
      await this.writeOwed();
    }).finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  /** Runs `work` after every KV operation queued before it (never two at once, whatever awaits). */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Under the lock. False when KV could not be read. */
  private async readAndAdopt(): Promise<boolean> {
    try {
      if (this.beforeRead) await this.beforeRead();
      const got = await withTimeout(this.kv.getWithMetadata(ROLLOUT_KEY), KV_TIMEOUT_MS, "KV read");
      this.adopt(got.value, got.metadata);
      return true;
    } catch (e) {
      console.error(`controller: reading KV key "${ROLLOUT_KEY}" failed: ${(e as Error).message}`);
      return false;
    }
  }

  /** Under the lock: the owed document to KV, or the retry by alarm. True when nothing is owed any more. */
  private async writeOwed(): Promise<boolean> {
    if (!this.context.state().pendingKvText) return true;
    const attempt = this.checkAndPut();
    try {
      const held = await withTimeout(attempt, KV_TIMEOUT_MS, "KV write");
      if (held) {
        console.warn(
          `controller: KV write held: isolates route by version ${held}, which KV has not shown here yet (an operator's write elsewhere?); retrying in ${KV_RETRY_MS} ms`,
        );
        await this.wakes.request(KV_WRITE_CONCERN, this.context.now() + KV_RETRY_MS);
        return false;
      }
      await this.wakes.clear(KV_WRITE_CONCERN);
      return true;
    } catch (e) {
      console.error(`controller: KV write of rollout failed, retrying in ${KV_RETRY_MS} ms: ${(e as Error).message}`);
      await this.wakes.request(KV_WRITE_CONCERN, this.context.now() + KV_RETRY_MS);
      // A put still in flight after the timeout could land after a later write and replace it:
      // the lock stays held until it settles (bounded, so a hung KV cannot stop the object).
      await withTimeout(attempt, KV_IN_FLIGHT_MAX_MS, "a timed-out KV write").catch(() => undefined);
      return false;
    }
  }

  /**
   * Re-reads the key just before writing: a version the controller neither wrote nor read is an
   * operator's raw put, which wins. What is owed is read after the await, not before: a decision
   * made meanwhile (a rollback during a slow read) is what gets written. Returns the version it
   * waits for instead of writing (isolates route by it, KV has not shown it here yet), or null.
   */
  private async checkAndPut(): Promise<string | null> {
    const current = await this.kv.getWithMetadata(ROLLOUT_KEY);
    const text = this.context.state().pendingKvText;
    if (!text) return null;
    const inKv = parseRollout(current.value).fingerprint;
    // A version the controller read and rejected (its config-error event) is no unseen operator
    // write: the operator has been told it is invalid, and a rollback must not wait on it.
    const rejected = this.context.state().configError?.fingerprint === inKv;
    const known = knows(this.context.state(), inKv) || rejected;
    const action = kvWriteAction(current.value, text, known);
    if (action === "write" && rejected)
      console.log(`controller: KV holds invalid version ${inKv} (rejected earlier); writing over it`);
    if (action === "yield") {
      this.adopt(current.value, current.metadata);
      return null;
    }
    if (action === "write") {
      const awaited = this.awaitedVersion(text);
      if (awaited) return awaited;
      await this.beforePut?.();
      await this.kv.put(ROLLOUT_KEY, text, {
        metadata: controllerMetadata(this.context.state().revision, fingerprintOf(text), this.owedFor.by),
      });
    }
    if (this.context.state().pendingKvText === text) this.context.update({ pendingKvText: null });
    return null;
  }

  /**
   * A version isolates reported within UNSEEN_HOLD_MS that the controller still does not know, or
   * null. Those reported longer ago are given up on, and said so: the write about to be made may be
   * replacing them.
   */
  private awaitedVersion(owed: string): string | null {
    const now = this.context.now();
    const awaited = this.unseen.awaited(this.known, now);
    if (awaited) return awaited;
    for (const { fingerprint: f, since } of this.unseen.giveUp(this.known, now)) {
      const at = new Date(since).toISOString();
      this.context.recordEvent({
        kind: "operator-write-unseen",
        actor: "controller",
        reason: `isolates routed by version ${f} since ${at}, but KV never showed it to the controller within ${UNSEEN_HOLD_MS / 1000} s; the controller now writes version ${fingerprintOf(owed)} for ${this.owedFor.why}. If ${f} was an operator's write, it may be lost: check the document and write it again`,
        data: { unseen: f, since: at, writing: fingerprintOf(owed) },
      });
    }
    return null;
  }

  /** What KV holds, read under the lock: a version the controller does not know is an operator's write. */
  private adopt(text: string | null, metadata: unknown = null) {
    const parsed = parseRollout(text);
    this.invalidInKv =
      parsed.ok || text === null ? null : { text, fingerprint: parsed.fingerprint, summary: parsed.summary };
    if (knows(this.context.state(), parsed.fingerprint)) return;
    const owed = this.context.state().pendingKvText;
    if (owed !== null) this.operatorWon(parsed.fingerprint, owed, metadata);
    if (!parsed.ok) return this.noteConfigError(parsed);
    const at = new Date(this.context.now()).toISOString();
    this.context.update(startAttempt(this.context.state(), text, parsed.fingerprint, parsed.doc, at));
    this.recordAttempt(parsed.fingerprint, parsed.doc, "operator", { writer: describeWriter(metadata) });
    this.onNewAttempt(parsed.doc);
  }

  /** The controller owed a write when an operator's version reached KV: theirs stays, ours is dropped, and said so. */
  private operatorWon(operator: string, owed: string, metadata: unknown) {
    const dropped = fingerprintOf(owed);
    this.context.update({ pendingKvText: null });
    this.context.recordEvent({
      kind: "operator-write-won",
      actor: "operator",
      reason: `KV holds version ${operator} (${describeWriter(metadata)}), written while the controller was about to write version ${dropped} for ${this.owedFor.why}: the operator's version stays and the controller's is not written`,
      data: { operator, dropped, droppedFor: this.owedFor.why },
    });
  }

  private recordAttempt(fingerprint: string, doc: Rollout, actor: string, extra: Record<string, unknown>) {
    const attempt = this.context.state().attempt;
    const via = typeof extra.via === "string" ? ` (written through the ${extra.via})` : "";
    this.context.recordEvent({
      kind: "attempt",
      actor,
      reason: `attempt ${attempt}: ${doc.release ? `release ${doc.release}, ` : ""}canary ${doc.canary} at ${doc.percent} %${doc.rolledBack ? " (document carries rolledBack: stays on stable)" : ""}${via}`,
      data: {
        attempt,
        fingerprint,
        release: doc.release ?? null,
        canary: doc.canary,
        percent: doc.percent,
        ...extra,
      },
    });
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
      data: { document: "rollout", fingerprint: parsed.fingerprint, problems: parsed.problems },
    });
  }
}

/** Adds `value` as the newest entry of a set bounded to `max` (the oldest goes). */
function remember(set: Set<string>, value: string, max: number) {
  set.delete(value);
  set.add(value);
  if (set.size > max) set.delete(set.values().next().value!);
}
