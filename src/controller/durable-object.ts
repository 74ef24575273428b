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
import type { Env } from "../env";
import { ROLLOUT_KEY } from "../model/names";
import { otherSlot, type Rollout } from "../model/rollout";
import { parseRollout, type ParseResult } from "../model/parse";
import type { ControllerView, Report } from "../model/protocol";
import { addBatch, emptyVector, shadowCounters, slotCounters, type Include } from "../health/window";
import { evaluateHealth, type Health, type HealthInput } from "../health/rules";
import { ControllerStore } from "./store";
import {
  afterControllerWrite,
  initialState,
  knows,
  newAttempt,
  viewOf,
  type ControllerState,
  type ReportCounters,
} from "./state";
import { patchText, writeRolloutIfOurs } from "./kv-writer";
import { postWebhook, webhookBody } from "./webhook";
import { buildSnapshot } from "./snapshot";
import { ControllerWindows } from "./windows";
import type { ActionKind, ActionRequest, PlanStatus, RolloutEvent, StatusSnapshot } from "../model/status";
import type { ReportBatch } from "../model/protocol";
import { newVisitors } from "../health/window";
import {
  ActionNotApplicable,
  advance,
  complete,
  countReport,
  judge,
  markExtended,
  pausePlan,
  planStatus as planStatusOf,
  resumePlan,
  startPlan,
  type PlanState,
} from "../plan/machine";
import { withTimeout } from "../lib/timeout";

const KV_READ_MIN_GAP_MS = 1000;
const KV_TIMEOUT_MS = 2000;
const KV_RETRY_MS = 2000;
const DEFAULT_WINDOW_SECONDS = 60;
const MAX_BATCHES_PER_REPORT = 16;

type EventInput = { kind: RolloutEvent["kind"]; actor: string; reason: string; data?: Record<string, unknown> };

export class RolloutController extends DurableObject<Env> {
  protected readonly store: ControllerStore;
  protected s: ControllerState = initialState();
  protected reports: ReportCounters = { received: 0, droppedByIsolates: 0, mirrorsSkipped: 0, lastAt: null };
  protected windows!: ControllerWindows;
  private refreshing: Promise<void> | null = null;
  private writing: Promise<void> | null = null;
  private lastKvReadAt = -Infinity;
  private readonly triedUnknown = new Set<string>();
  /** Test seam: where webhooks go instead of env.WEBHOOK_URL (not persisted). */
  webhookUrlOverride: string | undefined;

  /** Alarm concerns. Plans add theirs ("plan"). */
  protected wakeHandlers: Record<string, (now: number) => Promise<void> | void> = {
    "kv-write": () => this.flushKvWrite(),
  };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.wakeHandlers.plan = () => this.drivePlan(this.evaluate(Date.now()));
    this.store = new ControllerStore(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => this.load());
  }

  private load() {
    this.s = { ...initialState(), ...(this.store.get<ControllerState>("controller") ?? {}) };
    // Counters stored before a field existed get it at zero.
    this.reports = { ...this.reports, ...(this.store.get<Partial<ReportCounters>>("reports") ?? {}) };
    this.windows = new ControllerWindows(this.store, this.s.attempt, windowSecondsOf(this.s.doc), nowSec(), () =>
      this.store.put("reports", this.reports),
    );
    // A KV write owed from before a restart: the alarm may not have been set before it stopped.
    if (this.s.pendingKvText && !("kv-write" in this.s.wake)) this.ctx.waitUntil(this.flushKvWrite());
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
    this.reports = {
      received: this.reports.received + 1,
      droppedByIsolates: this.reports.droppedByIsolates + (Number(r?.dropped) > 0 ? Number(r.dropped) : 0),
      mirrorsSkipped: this.reports.mirrorsSkipped + (Number(r?.mirrorsSkipped) > 0 ? Number(r.mirrorsSkipped) : 0),
      lastAt: new Date(now).toISOString(),
    };
    this.windows.add(sec, hv, sv);

    const h = this.evaluate(now);
    if (!h.healthy && !this.s.rolledBack) this.rollback(h);
    await this.afterEvaluate(h, now, batches);
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
      series: this.windows.series.bins(Math.floor(now / 1000)),
      events: this.store.events(20),
      reports: this.reports,
      plan: this.planStatus(now),
    });
  }

  /** Waits for background work (window rows, a pending KV write, a KV read) to finish. For tests and the CLI. */
  async settle(): Promise<void> {
    this.windows.persistNow();
    await this.refreshing;
    await this.flushKvWrite();
  }

  async history(limit = 50): Promise<RolloutEvent[]> {
    const n = Math.max(1, Math.min(1000, Math.floor(Number(limit)) || 50));
    return this.store.events(n);
  }

  /** Operator actions. Only "abort" lives here until plans are integrated. */
  async action(kind: ActionKind, req: ActionRequest = {}): Promise<StatusSnapshot> {
    // Act on what KV says now: an action on a document the operator has since replaced would be lost.
    await this.refreshFromKv(true);
    const actor = req.actor?.trim() || "operator";
    if (kind === "abort") {
      if (this.s.rolledBack)
        throw actionError(`nothing to abort: the canary is already rolled back (${this.s.rolledBack.reason})`);
      const reason = req.reason?.trim() || "aborted by the operator";
      const at = new Date().toISOString();
      this.applyChange(
        {
          percent: 0,
          rolledBack: { at, reason, by: actor, ...(this.s.doc.release ? { release: this.s.doc.release } : {}) },
        },
        { kind: "abort", actor, reason, data: { release: this.s.doc.release ?? null, percent: this.s.doc.percent } },
      );
      await this.flushKvWrite();
      return this.status();
    }
    return this.planAction(kind, actor, req);
  }

  async alarm(): Promise<void> {
    const now = this.clock();
    const due = Object.entries(this.s.wake)
      .filter(([, t]) => t <= now)
      .map(([k]) => k);
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
    const totals = this.windows.health.totals(Math.floor(now / 1000));
    const canary = this.s.doc.canary;
    const shadow = shadowCounters(totals);
    const input: HealthInput = {
      canary: slotCounters(totals, canary),
      stable: slotCounters(totals, otherSlot(canary)),
      shadow: shadow.mirrored > 0 ? shadow : null,
      windowSeconds: this.windows.health.span,
    };
    return { ...evaluateHealth(this.s.doc.rollback, input), input };
  }

  private rollback(h: Health) {
    const reason = h.reason ?? "health rules failed";
    const at = new Date().toISOString();
    const release = this.s.doc.release;
    this.applyChange(
      { percent: 0, rolledBack: { at, reason, ...(release ? { release } : {}), figures: h.figures } },
      {
        kind: "rollback",
        actor: "controller",
        reason,
        data: { release: release ?? null, canary: this.s.doc.canary, percent: this.s.doc.percent, figures: h.figures },
      },
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
    if (!p.ok)
      throw new Error(`controller produced an invalid rollout document (${p.summary}); patch ${JSON.stringify(patch)}`);
    const rb = p.doc.rolledBack;
    this.s = {
      ...afterControllerWrite(this.s, text, p.fingerprint, p.doc),
      rolledBack: rb ? { at: rb.at, reason: rb.reason, figures: rb.figures } : null,
      promotedAt: ev.kind === "promote" ? new Date().toISOString() : this.s.promotedAt,
    };
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
        const r = await withTimeout(
          writeRolloutIfOurs(this.env.ROLLOUT_CONFIG, text, (fp) => knows(this.s, fp)),
          KV_TIMEOUT_MS,
          "KV write",
        );
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
    // Forced only the first time: with KV failing, later calls fall under the 1/s limit instead of
    // turning every report into a KV read.
    if (this.s.attempt === 0) await this.refreshFromKv(this.lastKvReadAt === -Infinity);
  }

  /** Re-reads KV (at most once a second unless forced; one read at a time). */
  protected refreshFromKv(force: boolean): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const now = Date.now();
    if (!force && now - this.lastKvReadAt < KV_READ_MIN_GAP_MS) return Promise.resolve();
    this.lastKvReadAt = now;
    this.refreshing = (async () => {
      try {
        this.adoptKv(await withTimeout(this.env.ROLLOUT_CONFIG.get(ROLLOUT_KEY), KV_TIMEOUT_MS, "KV read"));
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
    this.windows.resetHealth(this.s.attempt, windowSecondsOf(p.doc));
    this.save();
    const d = p.doc;
    this.recordEvent({
      kind: "attempt",
      actor: "operator",
      reason: `attempt ${this.s.attempt}: ${d.release ? `release ${d.release}, ` : ""}canary ${d.canary} at ${d.percent} %${d.rolledBack ? " (document carries rolledBack: stays on stable)" : ""}`,
      data: {
        attempt: this.s.attempt,
        fingerprint: p.fingerprint,
        release: d.release ?? null,
        canary: d.canary,
        percent: d.percent,
      },
    });
    this.onAttempt(d, Date.now());
  }

  private noteConfigError(p: Extract<ParseResult, { ok: false }>) {
    if (this.s.configError?.fingerprint === p.fingerprint) return;
    this.s = {
      ...this.s,
      configError: {
        at: new Date().toISOString(),
        fingerprint: p.fingerprint,
        summary: p.summary,
        problems: p.problems,
      },
    };
    this.save();
    this.recordEvent({
      kind: "config-error",
      actor: "controller",
      reason: `KV document rejected, last good kept: ${p.summary}`,
      data: { fingerprint: p.fingerprint, problems: p.problems },
    });
  }

  // ───────────── events, webhook, alarms ─────────────

  protected recordEvent(ev: EventInput): RolloutEvent {
    const e = this.store.addEvent(new Date().toISOString(), ev.kind, ev.actor, ev.reason, ev.data);
    const url = this.webhookUrlOverride ?? this.env.WEBHOOK_URL;
    if (url && ev.kind !== "webhook-failed") {
      const body = webhookBody(e, { release: this.s.doc.release ?? null, canary: this.s.doc.canary });
      this.ctx.waitUntil(
        postWebhook(url, body).then((r) => {
          if (!r.ok)
            this.recordEvent({
              kind: "webhook-failed",
              actor: "controller",
              reason: `webhook for event ${e.id} (${e.kind}) failed after ${r.tries} tries: ${r.error}`,
              data: { eventId: e.id },
            });
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

  // ───────────── plan section (H4: src/plan/machine.ts) ─────────────
  // Plans (pure rules in src/plan/machine.ts): state in kv_state "plan", driven per report and
  // by the "plan" alarm concern. Counts come only from batches under the current step's document
  // (its fingerprint), so isolates still routing by the previous step do not skew the step's
  // request count or its sample ratio.

  /** Test seam: the plan's clock (workerd tests move it forward instead of sleeping). */
  clock: () => number = () => Date.now();
  private planLoaded = false;
  private planState: PlanState | null = null;
  private planPersistTimer: ReturnType<typeof setTimeout> | null = null;

  /** The plan of the current attempt, or null (none, another attempt's, or the canary rolled back). */
  protected get plan(): PlanState | null {
    if (!this.planLoaded) {
      this.planState = this.store.get<PlanState>("plan");
      this.planLoaded = true;
    }
    const p = this.planState;
    return p && p.attempt === this.s.attempt && !this.s.rolledBack ? p : null;
  }

  /** Decisions are written at once; `lazy` (per-report counts) at most every 250 ms, like the windows. */
  private setPlan(p: PlanState | null, lazy = false) {
    this.planState = p;
    this.planLoaded = true;
    if (lazy) {
      this.planPersistTimer ??= setTimeout(() => {
        this.planPersistTimer = null;
        this.store.put("plan", this.planState);
      }, 250);
      return;
    }
    if (this.planPersistTimer) clearTimeout(this.planPersistTimer);
    this.planPersistTimer = null;
    this.store.put("plan", p);
  }

  /** Called after every evaluation (per report). */
  protected async afterEvaluate(h: Health, _now: number, batches: ReportBatch[] = []): Promise<void> {
    let p = this.plan;
    if (!p) return;
    const { canary } = this.s.doc;
    const stable = otherSlot(canary);
    const vector = emptyVector();
    let any = false;
    for (const b of batches) {
      if (!b || typeof b !== "object" || b.fingerprint !== this.s.fingerprint) continue;
      addBatch(vector, b, { slots: ["blue", "green"], shadow: true, newVisitors: true });
      any = true;
    }
    if (any) {
      const nv = newVisitors(vector);
      p = countReport(p, {
        requests: slotCounters(vector, canary).requests,
        newCanary: nv[canary],
        newStable: nv[stable],
        vector,
      });
      this.setPlan(p, true);
    }
    await this.drivePlan(h);
  }

  /** The rules applied to the step's own totals (null before any report in the step). */
  private stepHealth(p: PlanState, now: number): (Health & { input: HealthInput }) | null {
    if (!p.counts) return null;
    const canary = this.s.doc.canary;
    const shadow = shadowCounters(p.counts);
    const input: HealthInput = {
      canary: slotCounters(p.counts, canary),
      stable: slotCounters(p.counts, otherSlot(canary)),
      shadow: shadow.mirrored > 0 ? shadow : null,
      windowSeconds: Math.max(1, Math.floor((now - p.stepStartedAt) / 1000)),
    };
    return { ...evaluateHealth(this.s.doc.rollback, input), input };
  }

  private async drivePlan(h: Health): Promise<void> {
    const p = this.plan;
    if (!p) return;
    const d = this.s.doc;
    const now = this.clock();
    const step = p.steps[p.index];
    // Thin traffic may never put minRequests into one window; the step's totals are judged too.
    const sh = this.stepHealth(p, now);
    if (sh && !sh.healthy && !this.s.rolledBack) {
      this.rollback(sh);
      await this.clearWake("plan");
      return;
    }
    const x = judge(p, {
      now,
      percent: d.percent,
      healthy: h.healthy && (sh?.healthy ?? true),
      minRequests: d.rollback === false ? null : d.rollback.minRequests,
      autoPromote: d.autoPromote,
      sampleRatioCheck: d.sampleRatioCheck,
    });
    const data = {
      index: p.index,
      percent: d.percent,
      step: step.percent,
      requestsInStep: p.requests,
      release: d.release ?? null,
    };
    switch (x.kind) {
      case "idle":
        return;
      case "hold":
        if (x.wakeAt !== null && this.s.wake.plan !== x.wakeAt) await this.requestWake("plan", x.wakeAt);
        return;
      case "extend":
        if (x.firstTime) {
          this.setPlan(markExtended(p));
          this.recordEvent({ kind: "plan-extended", actor: "controller", reason: x.waitingFor, data });
        }
        return;
      case "pause":
        this.setPlan(pausePlan(p, "controller", x.reason, "sample-ratio", now));
        this.recordEvent({
          kind: "sample-ratio",
          actor: "controller",
          reason: `${x.reason} Plan paused; resume once fixed`,
          data: {
            ...data,
            newVisitors: p.newVisitors,
            observedShare: x.srm.observedShare,
            expectedShare: x.srm.expectedShare,
            chi2: x.srm.chi2,
            p: x.srm.p,
          },
        });
        await this.clearWake("plan");
        return;
      case "advance":
        this.setPlan(advance(p, x.index, now));
        this.applyChange(
          { percent: x.percent },
          { kind: "step", actor: "controller", reason: x.reason, data: { ...data, to: x.percent, toIndex: x.index } },
        );
        await this.requestWake("plan", now + p.steps[x.index].seconds * 1000);
        return;
      case "complete":
        this.setPlan(complete(p));
        this.recordEvent({ kind: "plan-complete", actor: "controller", reason: x.reason, data });
        await this.clearWake("plan");
        return;
      case "promote":
        this.recordEvent({ kind: "plan-complete", actor: "controller", reason: x.reason, data });
        this.promoteNow("controller", "plan complete");
        await this.clearWake("plan");
        return;
    }
  }

  /** Called when an operator write starts a new attempt: a document with `steps` starts a plan. */
  protected onAttempt(doc: Rollout, _now: number): void {
    const now = this.clock();
    const started = startPlan(doc, this.s.attempt, now);
    this.setPlan(started?.plan ?? null);
    if (!started) {
      if ("plan" in this.s.wake) this.ctx.waitUntil(this.clearWake("plan"));
      return;
    }
    const p = started.plan;
    const first = p.steps[p.index];
    const ev = {
      kind: "plan-start" as const,
      actor: "operator",
      reason: `plan ${p.steps.map((s) => s.percent).join(" → ")} % started at step ${p.index + 1}/${p.steps.length}: ${first.percent} % held ${first.seconds} s`,
      data: { steps: p.steps, index: p.index, release: doc.release ?? null, canary: doc.canary },
    };
    if (started.percent !== null) this.applyChange({ percent: started.percent }, ev);
    else this.recordEvent(ev);
    this.ctx.waitUntil(this.requestWake("plan", now + first.seconds * 1000));
  }

  protected planStatus(_now: number): PlanStatus | null {
    const p = this.plan;
    if (!p) return null;
    const d = this.s.doc;
    const now = this.clock();
    const minRequests = d.rollback === false ? null : d.rollback.minRequests;
    const x = judge(p, {
      now,
      percent: d.percent,
      healthy: this.evaluate(Date.now()).healthy,
      minRequests,
      autoPromote: d.autoPromote,
      sampleRatioCheck: d.sampleRatioCheck,
    });
    const waitingFor =
      x.kind === "idle" || x.kind === "hold" || x.kind === "extend"
        ? x.waitingFor
        : x.kind === "pause"
          ? `sample ratio: ${x.reason}`
          : "due now (next report or alarm)";
    return planStatusOf(p, now, minRequests, waitingFor, d.sampleRatioCheck ? d.percent : null);
  }

  /** pause / resume / promote (abort is above: it is a rollback by hand). */
  private async planAction(kind: ActionKind, actor: string, req: ActionRequest): Promise<StatusSnapshot> {
    const now = this.clock();
    try {
      if (kind === "pause") {
        const reason = req.reason?.trim() || "paused by the operator";
        const p = pausePlan(this.plan, actor, reason, "operator", now);
        this.setPlan(p);
        this.recordEvent({ kind: "pause", actor, reason, data: { index: p.index, percent: p.steps[p.index].percent } });
        await this.clearWake("plan");
      } else if (kind === "resume") {
        const p = resumePlan(this.plan, now);
        this.setPlan(p);
        const step = p.steps[p.index];
        this.recordEvent({
          kind: "resume",
          actor,
          reason: req.reason?.trim() || `resumed by ${actor}: step ${p.index + 1} (${step.percent} %) starts over`,
          data: { index: p.index, percent: step.percent },
        });
        await this.requestWake("plan", now + step.seconds * 1000);
      } else if (kind === "promote") {
        const d = this.s.doc;
        if (this.s.rolledBack)
          throw new ActionNotApplicable(
            `nothing to promote: the canary was rolled back (${this.s.rolledBack.reason}); write a new attempt first`,
          );
        if (!this.plan && d.percent === 0 && !d.release && d.rules.every((r) => r.slot !== "canary")) {
          throw new ActionNotApplicable(
            `nothing to promote: ${d.canary} has no plan, no traffic and no release label (a second promote would switch straight back); write the new release first`,
          );
        }
        this.promoteNow(actor, req.reason?.trim() || `promoted by ${actor}`);
        await this.clearWake("plan");
      } else {
        throw new ActionNotApplicable(`unknown action "${kind}"`);
      }
    } catch (e) {
      if (e instanceof ActionNotApplicable) throw actionError(e.message);
      throw e;
    }
    await this.flushKvWrite();
    return this.status();
  }

  /**
   * The blue/green switch: the canary becomes stable at once (no 100 % step is needed for that),
   * the old stable becomes the idle canary at 0 %. Removed so nothing keeps routing to the old
   * build: `steps` (the plan), `release` (it labelled the build now stable; the event keeps it),
   * `shadowPercent`, canary-targeting rules. Kept: stickiness, rollback rules, stable rules, salt.
   */
  private promoteNow(actor: string, reason: string) {
    const d = this.s.doc;
    const from = d.canary;
    const to = otherSlot(from);
    const stableRules = d.rules.filter((r) => r.slot === "stable");
    this.setPlan(null);
    this.applyChange(
      {
        canary: to,
        percent: 0,
        steps: undefined,
        release: undefined,
        rolledBack: undefined,
        shadowPercent: undefined,
        rules: stableRules.length ? stableRules : undefined,
      },
      {
        kind: "promote",
        actor,
        reason: `${reason}: ${from}${d.release ? ` (${d.release})` : ""} is now stable; ${to} is the canary at 0 %`,
        data: { release: d.release ?? null, stable: from, canary: to, percentBefore: d.percent },
      },
    );
    // The window judged `from` as the canary; after the switch its numbers would be read as `to`'s.
    this.windows.resetHealth(this.s.attempt, windowSecondsOf(this.s.doc));
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
