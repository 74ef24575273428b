// RolloutController: the one Durable Object (instance "rollout") that judges the canary from the
// isolates' reports, rolls it back, and tells isolates faster than KV propagates. This class is the
// RPC surface and the wiring; each concern is a module named for it, sharing one context
// (./context.ts), with its fail-safe defaults written where it decides them:
// - the state, read at start-up and saved on each change: ./saved-state.ts
// - KV, attempts and operators' writes: ./kv-sync.ts
// - reports counted: ./report-counter.ts, into the windows (./windows.ts, ./write-behind.ts)
// - the canary judged, rolled back or aborted: ./rollback.ts (over src/health/judge.ts)
// - the staged plan: ./plan-runner.ts; guarded flags: ./flag-guard.ts; experiments: ./experiments.ts
// - the shared alarm: ./wakes.ts; events: ./events.ts, sent by ./notifier.ts; held watches: ./watchers.ts
//
// | situation                          | behaviour                                                     |
// |------------------------------------|---------------------------------------------------------------|
// | status while KV (or a report's KV  | waits ≤ STATUS_WAIT_MS, then answers from memory: reports     |
// | read) is slow                      | never hold an operator's status; document()/actions read KV   |
// |                                    | themselves (their base must be current), so wait for KV only  |
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { ActionNotApplicable } from "../model/action-error";
import type { ControllerView, Report } from "../model/protocol";
import type { ActionKind, ActionRequest, NotificationTest, RolloutEvent, StatusSnapshot } from "../model/status";
import type { DocumentVersion, DocumentWriteOutcome, DocumentWriteRequest } from "../model/document-write";
import { withTimeout } from "../lib/timeout";
import type { ControllerContext } from "./context";
import { EventLog } from "./events";
import { Notifier, NOTIFY_CONCERN } from "./notifier";
import { notifierSource } from "./notifier-source";
import { KV_WRITE_CONCERN, KvSync } from "./kv-sync";
import { noteOf, PLAN_CONCERN, PlanRunner } from "./plan-runner";
import { ReportCounter } from "./report-counter";
import { CanaryRollback } from "./rollback";
import { SavedState } from "./saved-state";
import { buildSnapshot } from "./snapshot";
import { viewOf, windowSecondsOf, type ControllerState } from "./state";
import { FlagGuardKeeper } from "./flag-guard";
import { ControllerStore } from "./store";
import { Wakes } from "./wakes";
import { ControllerWindows, secondsOf } from "./windows";
import { Watchers, type WatchAnswer } from "./watchers";
import { ControllerExperiments } from "./experiments";
import { ExperimentArchive } from "./experiment-archive";
import { WriteBehind } from "./write-behind";

/** How long status() waits for KV (and reports counted after a KV read) before answering from memory. */
const STATUS_WAIT_MS = 500;
const EVENTS_IN_STATUS = 20;

export class RolloutController extends DurableObject<Env> {
  /** Test seam: the object's one clock (epoch ms). Workerd tests move it forward instead of sleeping. */
  clock: () => number = () => Date.now();
  /** Test seam: where webhooks go instead of env.WEBHOOK_URL (not persisted). */
  webhookUrlOverride: string | undefined;
  /** Test seam: NOTIFICATIONS and the secrets it names, instead of env's (not persisted). */
  notificationsOverride: { config: unknown; secrets: Record<string, string> } | undefined;

  private readonly store: ControllerStore;
  private readonly writeBehind = new WriteBehind();
  /** Experiments: counted, judged by guardrails, shown (./experiments.ts); saved across restarts (./experiment-archive.ts). */
  private readonly experiments: ControllerExperiments;
  private readonly archive: ExperimentArchive;
  private readonly context: ControllerContext;
  private readonly events: EventLog;
  private readonly notifier: Notifier;
  private readonly wakes: Wakes;
  private readonly kv: KvSync;
  /** Guarded flags: their batches judged, a failing one switched off (./flag-guard.ts). */
  private readonly flagGuards: FlagGuardKeeper;
  /** The state, read at start-up and saved on every change (./saved-state.ts). */
  private readonly saved: SavedState;
  /** Reports counted into the windows, then judged and passed to the plan (./report-counter.ts). */
  private readonly reports: ReportCounter;
  private readonly windows: ControllerWindows;
  private readonly plan: PlanRunner;
  /** The canary judged on its window, rolled back, aborted (./rollback.ts). */
  private readonly canary: CanaryRollback;
  /** Aggregators' held watches (./watchers.ts); the wall clock, not the seam: heldMs is a duration the caller trusts. */
  private readonly watchers = new Watchers(
    () => Date.now(),
    () => viewOf(this.state),
  );

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new ControllerStore(ctx.storage.sql, (fn) => ctx.storage.transactionSync(fn));
    this.archive = new ExperimentArchive(this.store);
    this.saved = new SavedState(this.store, () => this.clock());
    this.context = {
      now: () => this.clock(),
      state: () => this.state,
      update: (change) => {
        this.saved.update(change);
        this.watchers.changed();
      },
      recordEvent: (ev) => this.events.record(ev),
      background: (work) => ctx.waitUntil(work),
    };
    this.events = new EventLog(this.store, this.context, (event) => this.notifier.notify(event));
    this.wakes = new Wakes(this.context, ctx.storage);
    this.notifier = new Notifier(
      this.store,
      this.context,
      this.wakes,
      () => notifierSource(env, this.notificationsOverride, this.webhookUrlOverride),
      () => ({
        release: this.state.doc.release ?? null,
        canary: this.state.doc.canary,
        percent: this.state.doc.percent,
        attempt: this.state.attempt,
      }),
    );
    this.experiments = new ControllerExperiments(
      this.context,
      () => this.windows,
      () => this.flagGuards,
    );
    this.windows = new ControllerWindows(
      this.store,
      this.writeBehind,
      () => secondsOf(this.clock()),
      this.state.attempt,
      windowSecondsOf(this.state.doc),
      this.state.doc.rollback,
      this.archive,
    );
    this.flagGuards = new FlagGuardKeeper(env.ROLLOUT_CONFIG, this.context, this.archive);
    this.kv = new KvSync(env.ROLLOUT_CONFIG, this.context, this.wakes, (doc) => {
      this.windows.resetHealth(this.state.attempt, windowSecondsOf(doc), doc.rollback);
      this.plan.onAttempt(doc);
    });
    this.canary = new CanaryRollback({
      context: this.context,
      windows: this.windows,
      regression: (health) => this.experiments.regression(health),
      changeDocument: (patch, ev) => this.kv.change(patch, ev),
    });
    this.plan = new PlanRunner({
      context: this.context,
      store: this.store,
      writeBehind: this.writeBehind,
      wakes: this.wakes,
      changeDocument: (patch, ev) => this.kv.change(patch, ev),
      rollback: (judgement) => this.canary.rollback(judgement),
      windowHealth: () => this.canary.health(),
      guardrail: () => this.experiments.pending(),
      rolesSwitched: () =>
        this.windows.resetHealth(this.state.attempt, windowSecondsOf(this.state.doc), this.state.doc.rollback),
    });
    this.reports = new ReportCounter({
      context: this.context,
      store: this.store,
      writeBehind: this.writeBehind,
      versions: this.kv,
      flagGuards: this.flagGuards,
      windows: this.windows,
      sampling: () => this.experiments.sampling(),
      counted: (batches) => this.plan.afterReport(batches, this.canary.judge()),
    });
    this.wakes.handle(KV_WRITE_CONCERN, () => this.kv.flush());
    this.wakes.handle(PLAN_CONCERN, () => this.plan.drive(this.canary.health()));
    // In the background: a backlog of retries must not hold the alarm's other concerns (a plan step,
    // a rollback's KV write) behind it; each try is written down first, so an eviction loses none.
    this.wakes.handle(NOTIFY_CONCERN, () => this.context.background(this.notifier.drain()));
    this.kv.resumeOwedWrite();
  }

  // ───────────── RPC ─────────────

  async report(r: Report): Promise<ControllerView> {
    await this.kv.ensureAttempt();
    await this.reports.take(r);
    return viewOf(this.state);
  }

  /** Liveness, for smoke tests and the bench baseline (a no-op RPC to the same object). */
  async ping(): Promise<string> {
    return "pong";
  }

  async view(): Promise<ControllerView> {
    await this.kv.ensureAttempt();
    return viewOf(this.state);
  }

  /**
   * An aggregator's watch: the view at once if the revision is not `knownRevision`, else when it
   * changes or after `maxWaitMs` (./watchers.ts). Only awaits: reports and operator calls run meanwhile.
   */
  async watch(knownRevision: number, maxWaitMs: number): Promise<WatchAnswer> {
    await this.kv.ensureAttempt();
    return this.watchers.watch(knownRevision, maxWaitMs);
  }

  async status(): Promise<StatusSnapshot> {
    // Operators ask rarely and want what KV says now (and reports waiting on a KV read counted):
    // always re-read, but a slow KV read, whoever started it, never holds the answer past STATUS_WAIT_MS.
    const [, flags] = await Promise.all([
      withTimeout(Promise.all([this.kv.refresh(true), this.reports.settled()]), STATUS_WAIT_MS, "KV").catch(
        () => undefined,
      ),
      withTimeout(this.flagGuards.status(), STATUS_WAIT_MS, "the flags document").catch(() => undefined),
    ]);
    const now = this.clock();
    return buildSnapshot({
      now,
      state: this.state,
      health: this.canary.health(),
      series: this.windows.seriesBins(secondsOf(now)),
      events: this.events.latest(EVENTS_IN_STATUS),
      reports: this.reports.totals,
      plan: this.plan.status(),
      saveError: this.saved.saveError,
      stateRepaired: this.saved.repaired,
      flags: flags ?? undefined,
      experiments: this.experiments.status(),
      notifications: this.notifier.status(),
    });
  }

  /** The version in force (KV read first): the base of an operator's read-modify-write. */
  async document(): Promise<DocumentVersion> {
    return this.kv.version();
  }

  /** An operator's write against the version it was based on (./operator-write.ts): never lost, never overwriting. */
  async writeDocument(req: DocumentWriteRequest): Promise<DocumentWriteOutcome> {
    return this.kv.write(req);
  }

  /** Writes what the write-behind holds and waits for KV work under way. For tests, the CLI and benchmarks. */
  async settle(): Promise<void> {
    await this.reports.settled();
    this.writeBehind.flush();
    this.archive.flush();
    await Promise.all([this.kv.settle(), this.notifier.idle()]);
  }

  /** A test message to each notification destination (or the one named), one try each, now. */
  async testNotifications(actor: string, destination?: string): Promise<NotificationTest[]> {
    return this.notifier.test(actor, destination);
  }

  async history(limit = 50): Promise<RolloutEvent[]> {
    return this.events.latest(Math.max(1, Math.min(1000, Math.floor(Number(limit)) || 50)));
  }

  /** Operator actions: abort (a rollback by hand) in ./rollback.ts, pause / resume / promote / approve in the plan. */
  async action(kind: ActionKind, req: ActionRequest = {}): Promise<StatusSnapshot> {
    // Act on what KV says now: an action on a document the operator has since replaced would be lost.
    await this.kv.refresh(true);
    const actor = req.actor?.trim() || "operator";
    if (kind === "abort") this.canary.abort(actor, req.reason?.trim() || "aborted by the operator", noteOf(req));
    else if (kind === "pause" || kind === "resume" || kind === "promote" || kind === "approve")
      await this.plan.act(kind, actor, req);
    else throw new ActionNotApplicable(`unknown action "${kind}": use pause, resume, promote, approve or abort`);
    await this.kv.flush();
    return this.status();
  }

  async alarm(): Promise<void> {
    await this.wakes.ring();
  }

  private get state(): ControllerState {
    return this.saved.state;
  }
}
