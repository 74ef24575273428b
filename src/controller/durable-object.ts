// RolloutController: the one Durable Object (instance "rollout") that judges the canary from the
// isolates' reports, rolls it back, and tells isolates faster than KV propagates.
//
// PLAN-HOOKS-READY
// Hooks for plans and operator actions (kept stable for the plan work):
// - `applyChange(patch, event)`: the one way the controller changes the document — rewrites KV
//   (read-modify-write), supersedes the attempt's older fingerprints, bumps the revision (every flush
//   answer carries the new view), records the event, fires the webhook.
// - `evaluate(now)`: window totals + rule verdicts for the current attempt; called per report and
//   from alarms.
// - `requestWake(concern, at)` / `wakeHandlers[concern]`: alarms shared by concerns; the alarm is
//   always set to the earliest requested time.
// - `afterEvaluate`, `onAttempt`, `planStatus`: plan section, empty until plans are integrated.
//
// Fail-safe defaults:
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | KV unreadable at start             | no attempt yet; reports count for stable only; retried ≤ 1/s   |
// | KV holds an invalid document       | last good kept; one "config-error" event per bad version      |
// | KV write of a rollback fails       | view already protects traffic; write retried by alarm (2 s)   |
// | operator wrote during our write    | operator wins: their document becomes a new attempt           |
// | report under an unknown version    | KV re-read (≤ 1/s); still unknown → counted for stable only   |
// | report under a superseded version  | counted for stable only; never re-opens the canary            |
// | webhook fails                      | one retry, then a "webhook-failed" event; rollback unaffected |
import { DurableObject } from "cloudflare:workers";
import { ROLLOUT_KEY, type Env } from "../env";
import { otherSlot, type Rollout } from "../config/schema";
import { parseRollout, type ParseResult } from "../config/parse";
import type { ControllerView, Report } from "../telemetry/protocol";
import { addBatch, emptyVector, shadowCounters, slotCounters, SlidingWindow, type Include } from "../health/window";
import { evaluateHealth, type Health, type HealthInput } from "../health/rules";
import { ControllerStore } from "./store";
import { afterControllerWrite, initialState, knows, newAttempt, viewOf, type ControllerState, type ReportCounters } from "./state";
import { patchText, writeRolloutIfOurs } from "./kv-writer";
import { postWebhook, webhookBody } from "./webhook";
import { buildSnapshot } from "./snapshot";
import type { ActionKind, ActionRequest, PlanStatus, RolloutEvent, StatusSnapshot } from "./status-types";

const KV_READ_MIN_GAP_MS = 1000;
const KV_TIMEOUT_MS = 2000;
const KV_RETRY_MS = 2000;
/** Status series: 10 s bins over 10 minutes. */
export const SERIES_BIN_SECONDS = 10;
export const SERIES_BINS = 60;
const DEFAULT_WINDOW_SECONDS = 60;
const MAX_BATCHES_PER_REPORT = 16;
const PERSIST_EVERY_MS = 250;

type EventInput = { kind: RolloutEvent["kind"]; actor: string; reason: string; data?: Record<string, unknown> };

export class RolloutController extends DurableObject<Env> {
  protected readonly store: ControllerStore;
  protected s: ControllerState = initialState();
  protected reports: ReportCounters = { received: 0, droppedByIsolates: 0, lastAt: null };
  protected health!: SlidingWindow;
  protected series!: SlidingWindow;
  private refreshing: Promise<void> | null = null;
  private writing: Promise<void> | null = null;
  private lastKvReadAt = -Infinity;
  private readonly triedUnknown = new Set<string>();
  /** Window rows changed since the last persist, keyed kind:t. */
  private readonly dirty = new Map<string, { attempt: number; kind: string; row: { t: number; v: number[] } }>();
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private prunedAt = { health: 0, series: 0 };
  /** Test seam: where webhooks go instead of env.WEBHOOK_URL (not persisted). */
  webhookUrlOverride: string | undefined;

  /** Alarm concerns. Plans add theirs ("plan"). */
  protected wakeHandlers: Record<string, (now: number) => Promise<void> | void> = {
    "kv-write": () => this.flushKvWrite(),
  };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ControllerStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => this.load());
  }

  private load() {
    this.s = { ...initialState(), ...(this.store.get<ControllerState>("controller") ?? {}) };
    this.reports = this.store.get<ReportCounters>("reports") ?? this.reports;
    const sec = nowSec();
    const ws = windowSecondsOf(this.s.doc);
    this.health = SlidingWindow.fromRows(1, ws, this.store.buckets(this.s.attempt, "health", sec - ws), sec);
    this.series = SlidingWindow.fromRows(SERIES_BIN_SECONDS, SERIES_BINS, this.store.buckets(0, "series", sec - SERIES_BIN_SECONDS * SERIES_BINS), sec);
  }

  protected save() {
    this.store.put("controller", this.s);
  }

  // ───────────── RPC ─────────────

  async report(r: Report): Promise<ControllerView> {
    await this.ensureAttempt();
    const batches = Array.isArray(r?.batches) ? r.batches.slice(0, MAX_BATCHES_PER_REPORT) : [];
    const unknown = batches.map((b) => String(b?.fingerprint)).filter((f) => !knows(this.s, f));
    if (unknown.length) {
      // A version never seen before is worth a read at once (an operator just wrote it); one seen
      // already and still unknown (KV not yet consistent here) is re-read at most once a second.
      const fresh = unknown.some((f) => !this.triedUnknown.has(f));
      for (const f of unknown) remember(this.triedUnknown, f, 32);
      await this.refreshFromKv(fresh);
    }

    const now = Date.now();
    const sec = Math.floor(now / 1000);
    const stableOnly: Include = { slots: [otherSlot(this.s.doc.canary)], shadow: false, newVisitors: false };
    const all: Include = { slots: ["blue", "green"], shadow: true, newVisitors: true };
    const hv = emptyVector();
    const sv = emptyVector();
    for (const b of batches) {
      if (!b || typeof b !== "object") continue;
      addBatch(hv, b, this.s.fingerprints.includes(b.fingerprint) ? all : stableOnly);
      addBatch(sv, b, all);
    }
    const hr = this.health.add(sec, hv);
    const sr = this.series.add(sec, sv);
    if (hr) this.dirty.set(`health:${hr.t}`, { attempt: this.s.attempt, kind: "health", row: hr });
    if (sr) this.dirty.set(`series:${sr.t}`, { attempt: 0, kind: "series", row: sr });
    this.reports = {
      received: this.reports.received + 1,
      droppedByIsolates: this.reports.droppedByIsolates + (Number(r?.dropped) > 0 ? Number(r.dropped) : 0),
      lastAt: new Date(now).toISOString(),
    };
    this.persistSoon();

    const h = this.evaluate(now);
    if (!h.healthy && !this.s.rolledBack) this.rollback(h);
    await this.afterEvaluate(h, now);
    return viewOf(this.s);
  }

  /** Liveness, for smoke tests and the bench baseline (a no-op RPC to the same object). */
  async ping(): Promise<string> {
    return "pong";
  }

  async view(): Promise<ControllerView> {
    await this.ensureAttempt();
    return viewOf(this.s);
  }

  async status(): Promise<StatusSnapshot> {
    // Operators ask rarely and want what KV says now: always re-read.
    await this.refreshFromKv(true);
    const now = Date.now();
    return buildSnapshot({
      now,
      s: this.s,
      health: this.evaluate(now),
      series: this.series.bins(Math.floor(now / 1000)),
      events: this.store.events(20),
      reports: this.reports,
      plan: this.planStatus(now),
    });
  }

  /** Waits for background work (window rows, a pending KV write, a KV read) to finish. For tests and the CLI. */
  async settle(): Promise<void> {
    this.persistNow();
    await this.refreshing;
    await this.flushKvWrite();
  }

  async history(limit = 50): Promise<RolloutEvent[]> {
    const n = Math.max(1, Math.min(1000, Math.floor(Number(limit)) || 50));
    return this.store.events(n);
  }

  /** Operator actions. Only "abort" lives here until plans are integrated. */
  async action(kind: ActionKind, req: ActionRequest = {}): Promise<StatusSnapshot> {
    await this.ensureAttempt();
    const actor = req.actor?.trim() || "operator";
    if (kind === "abort") {
      if (this.s.rolledBack) throw actionError(`nothing to abort: the canary is already rolled back (${this.s.rolledBack.reason})`);
      const reason = req.reason?.trim() || "aborted by the operator";
      const at = new Date().toISOString();
      this.applyChange(
        { percent: 0, rolledBack: { at, reason, by: actor, ...(this.s.doc.release ? { release: this.s.doc.release } : {}) } },
        { kind: "abort", actor, reason, data: { release: this.s.doc.release ?? null, percent: this.s.doc.percent } },
      );
      await this.flushKvWrite();
      return this.status();
    }
    throw actionError(`"${kind}" is not available: this controller has no staged plan support yet`);
  }

  async alarm(): Promise<void> {
    const now = Date.now();
    const due = Object.entries(this.s.wake).filter(([, t]) => t <= now).map(([k]) => k);
    for (const k of due) delete this.s.wake[k];
    this.save();
    for (const k of due) {
      try {
        await this.wakeHandlers[k]?.(now);
      } catch (e) {
        console.error(`controller: alarm concern "${k}" failed: ${(e as Error).message}`);
      }
    }
    await this.scheduleAlarm();
  }

  // ───────────── health ─────────────

  /** Window totals of the current attempt and the rules' verdicts on them. */
  protected evaluate(now: number): Health & { input: HealthInput } {
    const totals = this.health.totals(Math.floor(now / 1000));
    const canary = this.s.doc.canary;
    const shadow = shadowCounters(totals);
    const input: HealthInput = {
      canary: slotCounters(totals, canary),
      stable: slotCounters(totals, otherSlot(canary)),
      shadow: shadow.mirrored > 0 ? shadow : null,
      windowSeconds: this.health.span,
    };
    return { ...evaluateHealth(this.s.doc.rollback, input), input };
  }

  private rollback(h: Health) {
    const tripped = h.verdicts.filter((v) => !v.ok && !v.rule.startsWith("relative-"));
    const reason = tripped.map((v) => v.detail).join("; ") || "health rules failed";
    const at = new Date().toISOString();
    const release = this.s.doc.release;
    this.applyChange(
      { percent: 0, rolledBack: { at, reason, ...(release ? { release } : {}), figures: h.figures } },
      { kind: "rollback", actor: "controller", reason, data: { release: release ?? null, canary: this.s.doc.canary, percent: this.s.doc.percent, figures: h.figures } },
    );
  }

  // ───────────── changing the document ─────────────

  /**
   * The controller's one way to change the document: synchronous up to the view (so the next flush
   * answer already carries it, before any I/O), then the KV write and the webhook in the background.
   */
  protected applyChange(patch: Record<string, unknown>, ev: EventInput): RolloutEvent {
    const text = patchText(this.s.text, patch);
    const p = parseRollout(text);
    if (!p.ok) throw new Error(`controller produced an invalid rollout document (${p.summary}); patch ${JSON.stringify(patch)}`);
    const rb = p.doc.rolledBack;
    this.s = { ...afterControllerWrite(this.s, text, p.fingerprint, p.doc), rolledBack: rb ? { at: rb.at, reason: rb.reason, figures: rb.figures } : null };
    this.save();
    const event = this.recordEvent(ev);
    this.ctx.waitUntil(this.flushKvWrite());
    return event;
  }

  /** Writes the pending document to KV; on failure retries by alarm. One write at a time. */
  protected flushKvWrite(): Promise<void> {
    if (this.writing) return this.writing.then(() => (this.s.pendingKvText ? this.flushKvWrite() : undefined));
    const text = this.s.pendingKvText;
    if (!text) return Promise.resolve();
    this.writing = (async () => {
      try {
        const r = await withTimeout(writeRolloutIfOurs(this.env.ROLLOUT_CONFIG, text, (fp) => knows(this.s, fp)), KV_TIMEOUT_MS);
        if (this.s.pendingKvText === text) this.s.pendingKvText = null;
        this.save();
        if (!r.written) this.adoptKv(r.operatorText);
        await this.clearWake("kv-write");
      } catch (e) {
        console.error(`controller: KV write of rollout failed, retrying in ${KV_RETRY_MS} ms: ${(e as Error).message}`);
        await this.requestWake("kv-write", Date.now() + KV_RETRY_MS);
      } finally {
        this.writing = null;
      }
    })();
    return this.writing;
  }

  // ───────────── attempts (what KV says) ─────────────

  private async ensureAttempt() {
    if (this.s.attempt === 0) await this.refreshFromKv(true);
  }

  /** Re-reads KV (at most once a second unless forced; one read at a time). */
  protected refreshFromKv(force: boolean): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const now = Date.now();
    if (!force && now - this.lastKvReadAt < KV_READ_MIN_GAP_MS) return Promise.resolve();
    this.lastKvReadAt = now;
    this.refreshing = (async () => {
      try {
        this.adoptKv(await withTimeout(this.env.ROLLOUT_CONFIG.get(ROLLOUT_KEY), KV_TIMEOUT_MS));
      } catch (e) {
        console.error(`controller: reading KV key "${ROLLOUT_KEY}" failed: ${(e as Error).message}`);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private adoptKv(text: string | null) {
    const p = parseRollout(text);
    if (knows(this.s, p.fingerprint)) return;
    if (!p.ok) return this.noteConfigError(p);
    const at = new Date().toISOString();
    this.s = newAttempt(this.s, text, p.fingerprint, p.doc, at);
    const ws = windowSecondsOf(p.doc);
    this.health = new SlidingWindow(1, ws);
    this.store.pruneBuckets(this.s.attempt, "health", Number.MAX_SAFE_INTEGER);
    this.save();
    const d = p.doc;
    this.recordEvent({
      kind: "attempt",
      actor: "operator",
      reason: `attempt ${this.s.attempt}: ${d.release ? `release ${d.release}, ` : ""}canary ${d.canary} at ${d.percent} %${d.rolledBack ? " (document carries rolledBack: stays on stable)" : ""}`,
      data: { attempt: this.s.attempt, fingerprint: p.fingerprint, release: d.release ?? null, canary: d.canary, percent: d.percent },
    });
    this.onAttempt(d, Date.now());
  }

  private noteConfigError(p: Extract<ParseResult, { ok: false }>) {
    if (this.s.configError?.fingerprint === p.fingerprint) return;
    this.s = { ...this.s, configError: { at: new Date().toISOString(), fingerprint: p.fingerprint, summary: p.summary, problems: p.problems } };
    this.save();
    this.recordEvent({ kind: "config-error", actor: "controller", reason: `KV document rejected, last good kept: ${p.summary}`, data: { fingerprint: p.fingerprint, problems: p.problems } });
  }

  // ───────────── events, webhook, alarms ─────────────

  protected recordEvent(ev: EventInput): RolloutEvent {
    const e = this.store.addEvent(new Date().toISOString(), ev.kind, ev.actor, ev.reason, ev.data);
    const url = this.webhookUrlOverride ?? this.env.WEBHOOK_URL;
    if (url && ev.kind !== "webhook-failed") {
      const body = webhookBody(e, { release: this.s.doc.release ?? null, canary: this.s.doc.canary });
      this.ctx.waitUntil(
        postWebhook(url, body).then((r) => {
          if (!r.ok) this.recordEvent({ kind: "webhook-failed", actor: "controller", reason: `webhook for event ${e.id} (${e.kind}) failed after ${r.tries} tries: ${r.error}`, data: { eventId: e.id } });
        }),
      );
    }
    return e;
  }

  protected async requestWake(concern: string, at: number): Promise<void> {
    this.s.wake[concern] = at;
    this.save();
    await this.scheduleAlarm();
  }

  protected async clearWake(concern: string): Promise<void> {
    if (!(concern in this.s.wake)) return;
    delete this.s.wake[concern];
    this.save();
    await this.scheduleAlarm();
  }

  private async scheduleAlarm() {
    const next = Math.min(...Object.values(this.s.wake));
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
    else await this.ctx.storage.deleteAlarm();
  }

  /**
   * Window rows and report counters are written at most every PERSIST_EVERY_MS, not per report:
   * each storage commit costs far more than the report's arithmetic, and one commit then covers
   * every report of the interval (bench-controller: ~4× the reports/s). What a crash can lose is
   * the counts of that last fraction of a second; decisions (rollback, events, state) are written
   * synchronously by the event that makes them.
   */
  private persistSoon() {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => this.persistNow(), PERSIST_EVERY_MS);
  }

  private persistNow() {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    for (const d of this.dirty.values()) if (d.kind !== "health" || d.attempt === this.s.attempt) this.store.putBucket(d.attempt, d.kind, d.row);
    this.dirty.clear();
    this.store.put("reports", this.reports);
    this.prune(nowSec());
  }

  private prune(sec: number) {
    // Once per bucket, not per report: a DELETE per report would be wasted work.
    if (sec !== this.prunedAt.health) {
      this.prunedAt.health = sec;
      this.store.pruneBuckets(this.s.attempt, "health", sec - this.health.span);
    }
    const bin = sec - (sec % SERIES_BIN_SECONDS);
    if (bin !== this.prunedAt.series) {
      this.prunedAt.series = bin;
      this.store.pruneBuckets(0, "series", sec - this.series.span);
    }
  }

  // ───────────── plan section (empty until staged plans are integrated) ─────────────

  /** Called after every evaluation (per report). */
  protected async afterEvaluate(_h: Health, _now: number): Promise<void> {}
  /** Called when an operator write starts a new attempt. */
  protected onAttempt(_doc: Rollout, _now: number): void {}
  protected planStatus(_now: number): PlanStatus | null {
    return null;
  }
  // ───────────── end of plan section ─────────────
}

function remember(set: Set<string>, v: string, max: number) {
  set.delete(v);
  set.add(v);
  if (set.size > max) set.delete(set.values().next().value!);
}

function windowSecondsOf(doc: Rollout): number {
  return doc.rollback === false ? DEFAULT_WINDOW_SECONDS : doc.rollback.windowSeconds;
}

function nowSec() {
  return Math.floor(Date.now() / 1000);
}

/** Thrown for an action that does not apply now; the admin API answers 409 with its message. */
function actionError(message: string): Error {
  const e = new Error(message);
  e.name = "ActionNotApplicable";
  return e;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
