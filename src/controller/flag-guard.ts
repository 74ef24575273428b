// The controller's side of guarded flags: it counts the flag batches of every report into its
// FlagGuards (src/flags/guard.ts, the judgement) and switches a flag off when its treatment fails.
//
// | situation                                    | behaviour                                              |
// |----------------------------------------------|--------------------------------------------------------|
// | flag batches of a flags version not known    | `flags` is read from KV (at most once a second, in the |
// |                                              | background: no report waits on it); later batches count|
// | the document unreadable or invalid           | nothing is judged until a valid one is read            |
// | a guard trips, mode "enforce"                | at once: the view tells isolates (`killedFlags`, with  |
// |                                              | the versions it applies to) and its revision moves, so |
// |                                              | watches answer; event "flag-killed" and its webhook;   |
// |                                              | then `flags` in KV rewritten with `"on": false`        |
// | a guard trips, mode "observe"                | event "would-kill-flag", nothing changed               |
// | the KV rewrite fails                         | logged; isolates still serve the flag off by the view  |
// |                                              | (for the versions judged); the operator sees the event |
// | the operator writes the flags again          | last writer wins in KV (no compare-and-set there); a   |
// |                                              | version the kill does not name is the operator's call  |
// Counts live in memory only: a restarted object starts each comparison again (the kill itself is in
// the stored state and keeps being told).
import type { ControllerContext } from "./context";
import type { ReportBatch } from "../model/protocol";
import { FLAGS_KEY } from "../model/names";
import { parseFlags } from "../model/parse";
import { FlagGuards, flagBatchOf, type FlagTrip } from "../flags/guard";
import { fingerprintOf } from "../model/fingerprint";
import { readTextUpTo } from "../lib/bounded-read";
import { MAX_TEXT_BYTES } from "../model/limits";
import type { FlagsDocument } from "../model/flags";
import type { StatusSnapshot } from "../model/status";
import { flagStatuses } from "../flags/status";

/** Kills the view keeps telling (oldest dropped): far more than FLAG_LIMITS.guarded. */
const MAX_KILLS = 20;
const READ_EVERY_MS = 1000;

export class FlagGuardKeeper {
  private readonly guards = new FlagGuards();
  private lastReadAt = -Infinity;
  private reading: Promise<void> | null = null;
  /** The last valid flags document read, and why the one in KV is not (for the status). */
  private last: { doc: FlagsDocument; fingerprint: string } | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly kv: KVNamespace,
    private readonly context: ControllerContext,
  ) {}

  /** The flag batches of a report: counted now, or once the flags document they name has been read. */
  count(batches: readonly ReportBatch[]): void {
    const flagBatches = batches.filter((b) => flagBatchOf(String(b?.fingerprint)) !== null);
    if (flagBatches.length === 0) return;
    const unknown = flagBatches.some((b) => !this.guards.knows(flagBatchOf(b.fingerprint)!.fingerprint));
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
    if (this.last === null) return undefined;
    // Killed by its guard: off by the view (a judged version) or by the controller's own write since,
    // not switched on again by the operator.
    const { doc, fingerprint } = this.last;
    const killed = new Set(
      (this.context.state().killedFlags ?? [])
        .filter((k) => k.versions.includes(fingerprint) || doc.flags[k.key]?.on === false)
        .map((k) => k.key),
    );
    return {
      fingerprint: this.last.fingerprint,
      flags: flagStatuses(this.last.doc, this.guards.status(Math.floor(this.context.now() / 1000)), killed),
      error: this.lastError,
    };
  }

  private judge(batches: readonly ReportBatch[]): void {
    for (const trip of this.guards.add(Math.floor(this.context.now() / 1000), batches)) this.tripped(trip);
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
      return;
    }
    this.lastError = null;
    this.last = { doc: r.doc, fingerprint: r.fingerprint };
    this.guards.configure(r.doc, r.fingerprint, Math.floor(this.context.now() / 1000));
  }

  private async readText(): Promise<string | null> {
    const body = await this.kv.get(FLAGS_KEY, { type: "stream" });
    if (body === null) return null;
    const got = await readTextUpTo(body, MAX_TEXT_BYTES);
    return got.whole ? got.text : null;
  }

  private tripped(t: FlagTrip): void {
    const reason = t.judgement.reason ?? "its guard's rules failed";
    const data = { flag: t.key, figures: t.judgement.figures, versions: t.versions };
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
    const killed = [...(s.killedFlags ?? []).filter((k) => k.key !== t.key), { key: t.key, versions: t.versions }];
    this.context.update({ killedFlags: killed.slice(-MAX_KILLS), revision: s.revision + 1 });
    this.context.recordEvent({
      kind: "flag-killed",
      actor: "controller",
      reason: `flag "${t.key}" switched off: ${reason}`,
      data,
    });
    this.context.background(this.writeOff(t.key));
  }

  /** `flags` in KV with the flag's `on` false, the rest of the text as the operator wrote it. */
  private async writeOff(key: string): Promise<void> {
    try {
      const text = await this.readText();
      if (text === null) return;
      const raw = JSON.parse(text) as { flags?: Record<string, { on?: boolean }> };
      const flag = raw.flags?.[key];
      if (flag === undefined || flag.on === false) return;
      flag.on = false;
      const next = JSON.stringify(raw, null, 2);
      // Never write what isolates would refuse: the edit only turns a switch off, but check anyway.
      const parsed = parseFlags(next);
      if (!parsed.ok) throw new Error(`the edited document would be invalid: ${parsed.summary}`);
      await this.kv.put(FLAGS_KEY, next);
      this.last = { doc: parsed.doc, fingerprint: fingerprintOf(next) };
      this.guards.configure(parsed.doc, this.last.fingerprint, Math.floor(this.context.now() / 1000));
    } catch (e) {
      console.error(
        JSON.stringify({
          level: "error",
          event: "flag-kill-write-failed",
          flag: key,
          message: (e as Error)?.message ?? String(e),
          note: "isolates still serve the flag off for the versions judged (the controller's view); write flags with it off to make it stick",
        }),
      );
    }
  }
}
