// The controller's side of guarded flags: it counts the flag batches of every report into its
// FlagGuards (src/flags/guard.ts, the judgement) and switches a flag off when its treatment fails.
//
// | situation                                    | behaviour                                              |
// |----------------------------------------------|--------------------------------------------------------|
// | flag batches of a flags version not known    | `flags` is read from KV (at most once a second, in the |
// |                                              | background: no report waits on it); later batches count|
// | the document unreadable or invalid           | nothing is judged until a valid one is read; an invalid|
// |                                              | version: one "config-error" event (data.document flags)|
// | a guard trips, mode "enforce"                | at once: the view tells isolates (`killedFlags`: the   |
// |                                              | flag's definition judged, whichever document version   |
// |                                              | holds it) and its revision moves, so watches answer;   |
// |                                              | event "flag-killed" and its notifications; then `flags` in   |
// |                                              | KV rewritten with `"on": false`                        |
// | several trips at once                        | one writer: every pending kill applied to a fresh read |
// |                                              | in one put (KV takes one write a second per key),      |
// |                                              | retried up to 3 times 1.1 s apart                      |
// | a guard trips, mode "observe"                | event "would-kill-flag", nothing changed               |
// | the KV rewrite fails for good                | logged; isolates still serve the flag off by the view  |
// | KV shows the flag off, later on again        | the operator switched it back on (even to the very text|
// |                                              | judged): the kill is withdrawn, a new comparison starts|
// | the flag's definition changes, or it is gone | the kill no longer applies (not the flag judged)       |
// | the operator writes the flags meanwhile      | last writer wins in KV (no compare-and-set there)      |
// Counts live in memory only: a restarted object starts each comparison again (the kill itself is in
// the stored state and keeps being told).
import type { ControllerContext } from "./context";
import type { ReportBatch } from "../model/protocol";
import { FLAGS_KEY } from "../model/names";
import { parseFlags } from "../model/parse";
import { FlagGuards, flagBatchOf, type ExperimentKeeper, type FlagTrip } from "../flags/guard";
import { NO_DOCUMENT, fingerprintOf } from "../model/fingerprint";
import { readTextUpTo } from "../lib/bounded-read";
import { MAX_TEXT_BYTES } from "../model/limits";
import { withTimeout } from "../lib/timeout";
import { definitionOf, type FlagsDocument } from "../model/flags";
import type { ExperimentStatus, StatusSnapshot } from "../model/status";
import { flagStatuses } from "../flags/status";

/** Kills the view keeps telling (oldest dropped): far more than FLAG_LIMITS.guarded. */
const MAX_KILLS = 20;
const READ_EVERY_MS = 1000;
const WRITE_ATTEMPTS = 3;
/** How often a standing kill has KV read again for the operator's "on" (with reports, not on a timer). */
const RECHECK_KILLS_MS = 5000;
/** Past KV's one write a second per key. */
const WRITE_RETRY_MS = 1100;
/** As the rollout's reads (./kv-sync.ts): a stalled read must not stop every later one. */
const READ_TIMEOUT_MS = 2000;

export class FlagGuardKeeper {
  private readonly guards: FlagGuards;
  private lastReadAt = -Infinity;
  private reading: Promise<void> | null = null;
  /** The last valid flags document read, and why the one in KV is not (for the status). */
  private last: { doc: FlagsDocument; fingerprint: string } | null = null;
  private lastError: string | null = null;
  /** The invalid version a config-error event was recorded for. */
  private rejected: string | null = null;
  /** Kills still to be written to KV, and the one writer doing it (./writeOff). */
  private readonly pendingOff = new Set<string>();
  private writing: Promise<void> | null = null;

  constructor(
    private readonly kv: KVNamespace,
    private readonly context: ControllerContext,
    experiments?: ExperimentKeeper,
  ) {
    this.guards = new FlagGuards(experiments);
  }

  /** The flag batches of a report: counted now, or once the flags document they name has been read. */
  count(batches: readonly ReportBatch[]): void {
    const flagBatches = batches.filter((b) => flagBatchOf(String(b?.fingerprint)) !== null);
    if (flagBatches.length === 0) return;
    const unknown = flagBatches.some((b) => !this.guards.knows(flagBatchOf(b.fingerprint)!.fingerprint));
    // While a kill stands, KV is read now and then even when every version is known: the operator
    // switching the flag on again may restore the very text judged, whose version nothing flags as new.
    const recheck =
      (this.context.state().killedFlags ?? []).length > 0 && this.context.now() - this.lastReadAt >= RECHECK_KILLS_MS;
    if (recheck) this.context.background(this.learn().catch(() => {}));
    if (!unknown) return this.judge(flagBatches);
    this.context.background(
      this.learn()
        .then(() => this.judge(flagBatches))
        .catch((e: unknown) => console.error(`controller: counting flag batches failed: ${(e as Error).message}`)),
    );
  }

  /** The flags for the status: `flags` read again (at most once a second), each flag with its guard's judgement. */
  async status(): Promise<StatusSnapshot["flags"]> {
    await this.learn();
    // Never a valid version yet: say why, with no flags, rather than nothing at all.
    if (this.last === null)
      return this.lastError === null ? undefined : { fingerprint: NO_DOCUMENT, flags: [], error: this.lastError };
    // Killed by its guard: off by the view (a judged version) or by the controller's own write since,
    // not switched on again by the operator.
    const killed = new Map((this.context.state().killedFlags ?? []).map((k) => [k.key, k]));
    return {
      fingerprint: this.last.fingerprint,
      flags: flagStatuses(this.last.doc, this.guards.status(Math.floor(this.context.now() / 1000)), killed),
      error: this.lastError,
    };
  }

  /** The goals declared in the flags document last read (experiments count them). */
  goals(): string[] {
    return this.last === null ? [] : Object.keys(this.last.doc.goals);
  }

  /**
   * The goals, read again in the background when the last read is older than `maxAgeMs`: the
   * rollout's guardrails need them even when no flag is guarded (nothing else would read `flags`).
   */
  goalsWithin(maxAgeMs: number): string[] {
    if (this.context.now() - this.lastReadAt >= maxAgeMs) this.context.background(this.learn().catch(() => {}));
    return this.goals();
  }

  /** Each guarded flag's experiment over the declared goals. */
  experiments(goals: readonly string[]): ExperimentStatus[] {
    return this.guards.experiments(goals);
  }

  private judge(batches: readonly ReportBatch[]): void {
    for (const trip of this.guards.add(Math.floor(this.context.now() / 1000), batches, this.goals()))
      this.tripped(trip);
  }

  /** Reads `flags` (shared by concurrent callers, at most once a second) and configures the guards. */
  private learn(): Promise<void> {
    if (this.reading) return this.reading;
    if (this.context.now() - this.lastReadAt < READ_EVERY_MS) return Promise.resolve();
    this.lastReadAt = this.context.now();
    this.reading = this.read().finally(() => (this.reading = null));
    return this.reading;
  }

  private async read(): Promise<void> {
    const text = await this.readText();
    const r = parseFlags(text);
    if (!r.ok) {
      this.lastError = r.summary;
      // Once per bad version while it stays in KV (kept in memory: a restart may say it once more).
      if (this.rejected !== r.fingerprint)
        this.context.recordEvent({
          kind: "config-error",
          actor: "controller",
          reason: `flags document in KV rejected, last good kept: ${r.summary}`,
          data: { document: "flags", fingerprint: r.fingerprint, problems: r.problems },
        });
      this.rejected = r.fingerprint;
      return;
    }
    this.lastError = null;
    this.rejected = null;
    this.adopt(r.doc, r.fingerprint);
  }

  /** A valid flags document read (or written by us): guards configured, kills kept or withdrawn. */
  private adopt(doc: FlagsDocument, fingerprint: string): void {
    const nowSec = Math.floor(this.context.now() / 1000);
    this.last = { doc, fingerprint };
    this.guards.configure(doc, fingerprint, nowSec);
    const s = this.context.state();
    const before = s.killedFlags ?? [];
    const after: typeof before = [];
    for (const k of before) {
      const f = doc.flags[k.key];
      if (f === undefined || definitionOf(f) !== k.definition) continue; // not the flag judged any more
      if (!f.on) after.push(k.seenOff ? k : { ...k, seenOff: true });
      else if (!k.seenOff)
        after.push(k); // a copy from before the kill: KV has not shown it off yet
      else this.guards.restart(k.key, nowSec); // off in KV, then on: the operator's call
    }
    const changed = after.length !== before.length || after.some((k, i) => k !== before[i]);
    if (!changed) return;
    const withdrawn = after.length < before.length;
    this.context.update(withdrawn ? { killedFlags: after, revision: s.revision + 1 } : { killedFlags: after });
  }

  /** `flags` as text (null: missing or oversized); a read that hangs fails after READ_TIMEOUT_MS. */
  private readText(): Promise<string | null> {
    const read = async () => {
      const body = await this.kv.get(FLAGS_KEY, { type: "stream" });
      if (body === null) return null;
      const got = await readTextUpTo(body, MAX_TEXT_BYTES);
      return got.whole ? got.text : null;
    };
    return withTimeout(read(), READ_TIMEOUT_MS, `KV read of "${FLAGS_KEY}"`);
  }

  private tripped(t: FlagTrip): void {
    const reason = t.judgement.reason ?? "its guard's rules failed";
    const data = { flag: t.key, figures: t.judgement.figures };
    if (t.rules.mode === "observe") {
      this.context.recordEvent({
        kind: "would-kill-flag",
        actor: "controller",
        reason: `observe mode, nothing changed: would have switched flag "${t.key}" off: ${reason}`,
        data,
      });
      return;
    }
    const s = this.context.state();
    const kill = { key: t.key, definition: t.definition, at: new Date(this.context.now()).toISOString(), reason };
    const killed = [...(s.killedFlags ?? []).filter((k) => k.key !== t.key), kill];
    this.context.update({ killedFlags: killed.slice(-MAX_KILLS), revision: s.revision + 1 });
    this.context.recordEvent({
      kind: "flag-killed",
      actor: "controller",
      reason: `flag "${t.key}" switched off: ${reason}`,
      data,
    });
    this.pendingOff.add(t.key);
    if (this.writing === null)
      this.context.background((this.writing = this.writeOff().finally(() => (this.writing = null))));
  }

  /**
   * `flags` in KV with every pending kill's `on` false, the rest of the text as the operator wrote it:
   * one writer, one put for all (KV takes one write a second per key), a fresh read each attempt.
   */
  private async writeOff(): Promise<void> {
    for (let attempt = 1; this.pendingOff.size > 0; attempt++) {
      const keys = [...this.pendingOff];
      try {
        const text = await this.readText();
        if (text === null) return void this.pendingOff.clear();
        const raw = JSON.parse(text) as { flags?: Record<string, { on?: boolean }> };
        let edited = false;
        for (const key of keys) {
          const flag = raw.flags?.[key];
          if (flag !== undefined && flag.on !== false) ((flag.on = false), (edited = true));
        }
        if (edited) {
          const next = JSON.stringify(raw, null, 2);
          // Never write what isolates would refuse: the edit only turns switches off, but check anyway.
          const parsed = parseFlags(next);
          if (!parsed.ok) throw new Error(`the edited document would be invalid: ${parsed.summary}`);
          await this.kv.put(FLAGS_KEY, next);
          this.adopt(parsed.doc, fingerprintOf(next));
        }
        for (const key of keys) this.pendingOff.delete(key);
      } catch (e) {
        if (attempt >= WRITE_ATTEMPTS) {
          console.error(
            JSON.stringify({
              level: "error",
              event: "flag-kill-write-failed",
              flags: keys,
              message: (e as Error)?.message ?? String(e),
              note: "isolates still serve these flags off by the controller's view; write flags with them off to make it stick",
            }),
          );
          for (const key of keys) this.pendingOff.delete(key);
          return;
        }
        await new Promise((ok) => setTimeout(ok, WRITE_RETRY_MS));
      }
    }
  }
}
