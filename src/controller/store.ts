// The controller's SQLite tables (Durable Object storage, `ctx.storage.sql`). Documented in
// docs/storage-schema.md ("Durable Object"); keep the two in step. Thin: SQL in, plain values out.
import type { EventKind, RolloutEvent } from "../model/status";
import type { WindowRow } from "../health/window";
import type { Lane, Outgoing } from "../notify/destinations";

/** Events kept; older ones are pruned so storage stays bounded over years of rollouts. */
export const MAX_EVENTS = 10_000;

export class ControllerStore {
  constructor(
    private readonly sql: SqlStorage,
    /** Runs `fn` as one SQLite transaction (`ctx.storage.transactionSync`): all its rows or none. */
    private readonly transaction: <T>(fn: () => T) => T = (fn) => fn(),
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS kv_state (k TEXT PRIMARY KEY, v TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS window_bucket (
      attempt INTEGER NOT NULL, kind TEXT NOT NULL, t INTEGER NOT NULL, v TEXT NOT NULL,
      PRIMARY KEY (attempt, kind, t))`);
    sql.exec(`CREATE TABLE IF NOT EXISTS event (
      id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,
      actor TEXT NOT NULL, reason TEXT NOT NULL, data TEXT)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS experiment_part (
      name TEXT NOT NULL, part INTEGER NOT NULL, v TEXT NOT NULL, PRIMARY KEY (name, part))`);
    sql.exec(`CREATE TABLE IF NOT EXISTS notification (
      id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, event_id INTEGER NOT NULL,
      kind TEXT NOT NULL, message_id TEXT NOT NULL, outgoing TEXT NOT NULL,
      tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, error TEXT, lane TEXT NOT NULL DEFAULT '')`);
    // Added after the table was first deployed: rows stored before have lane '', one FIFO per
    // destination as they were queued.
    if (
      !sql
        .exec<{ name: string }>(`PRAGMA table_info(notification)`)
        .toArray()
        .some((c) => c.name === "lane")
    )
      sql.exec(`ALTER TABLE notification ADD COLUMN lane TEXT NOT NULL DEFAULT ''`);
  }

  /** Queues one request for a destination (./notifier.ts); due at `nextAt`. */
  addNotification(n: Omit<QueuedNotification, "id" | "tries" | "error">): void {
    this.sql.exec(
      `INSERT INTO notification (destination, lane, event_id, kind, message_id, outgoing, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      n.destination,
      n.lane,
      n.eventId,
      n.kind,
      n.messageId,
      JSON.stringify(n.outgoing),
      n.nextAt,
    );
  }

  /** Each lane's oldest queued request: they go out in order, one at a time per lane of a destination. */
  notificationHeads(): QueuedNotification[] {
    return this.sql
      .exec<NotificationRow>(
        `SELECT n.* FROM notification n JOIN (SELECT MIN(id) AS id FROM notification GROUP BY destination, lane) h ON n.id = h.id ORDER BY n.destination, n.lane`,
      )
      .toArray()
      .map(notificationOf);
  }

  /** Queued requests per destination. */
  notificationsWaiting(): Map<string, number> {
    const rows = this.sql
      .exec<{ destination: string; n: number }>(
        `SELECT destination, COUNT(*) AS n FROM notification GROUP BY destination`,
      )
      .toArray();
    return new Map(rows.map((r) => [r.destination, r.n]));
  }

  /** Queued requests in one lane of a destination. */
  notificationsWaitingIn(destination: string, lane: Lane): number {
    return this.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM notification WHERE destination = ? AND lane = ?`,
        destination,
        lane,
      )
      .one().n;
  }

  /** A try is about to be made, or failed and waits until `nextAt`. */
  retryNotification(id: number, tries: number, nextAt: number, error: string | null): void {
    this.sql.exec(`UPDATE notification SET tries = ?, next_at = ?, error = ? WHERE id = ?`, tries, nextAt, error, id);
  }

  deleteNotification(id: number): void {
    this.sql.exec(`DELETE FROM notification WHERE id = ?`, id);
  }

  /** Drops what is queued for a destination (it is no longer configured). */
  deleteNotificationsOf(destination: string): void {
    this.sql.exec(`DELETE FROM notification WHERE destination = ?`, destination);
  }

  /**
   * Writes parts of the experiment `name` (./experiment-archive.ts) in one transaction: part −1 its
   * state, 0… its visitors' groups. Only the parts given are rewritten.
   */
  putExperiment(name: string, parts: readonly (readonly [number, unknown])[]): void {
    this.transaction(() => {
      for (const [part, v] of parts)
        this.sql.exec(
          `INSERT INTO experiment_part (name, part, v) VALUES (?, ?, ?) ON CONFLICT(name, part) DO UPDATE SET v = excluded.v`,
          name,
          part,
          JSON.stringify(v),
        );
    });
  }

  /** The experiment `name`'s parts by number (an unreadable part is left out). */
  experiment(name: string): Map<number, unknown> {
    const out = new Map<number, unknown>();
    for (const r of this.sql
      .exec<{ part: number; v: string }>(`SELECT part, v FROM experiment_part WHERE name = ?`, name)
      .toArray()) {
      try {
        out.set(r.part, JSON.parse(r.v));
      } catch {
        // One unreadable group costs its visitors, not the experiment.
      }
    }
    return out;
  }

  /** Drops the experiment `name` (its flag is gone or no longer guarded). */
  deleteExperiment(name: string): void {
    this.sql.exec(`DELETE FROM experiment_part WHERE name = ?`, name);
  }

  /** A JSON value under `k` in the small state table (null if absent or unreadable). */
  get<T>(k: string): T | null {
    const rows = this.sql.exec<{ v: string }>(`SELECT v FROM kv_state WHERE k = ?`, k).toArray();
    if (!rows.length) return null;
    try {
      return JSON.parse(rows[0].v) as T;
    } catch {
      return null;
    }
  }

  put(k: string, v: unknown): void {
    this.sql.exec(
      `INSERT INTO kv_state (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`,
      k,
      JSON.stringify(v),
    );
  }

  /**
   * Writes the object `value` under `k` with each field named in `apart` in a row of its own
   * (`k.field`), so no row holds more than one of them: fields that can each hold a whole document
   * would otherwise add up in one value past SQLite's 2 MB limit (docs/storage-schema.md,
   * "Limits"). `changed`: only those `apart` rows are rewritten (the main row always is); one
   * transaction, so a failure leaves every row as it was.
   */
  putParts(k: string, value: object, apart: readonly string[], changed?: readonly string[]): void {
    const fields = value as Record<string, unknown>;
    const main: Record<string, unknown> = { ...fields };
    for (const f of apart) delete main[f];
    this.transaction(() => {
      this.put(k, main);
      for (const f of apart) if (!changed || changed.includes(f)) this.put(`${k}.${f}`, fields[f] ?? null);
    });
  }

  /**
   * What putParts wrote (a main row written before the split, holding every field, reads the same).
   * An unreadable part row costs that field only: it is left out and its name pushed to `corrupt`,
   * the caller decides its fallback. Dropping the whole value for one bad row would reset every
   * other field (the attempt, the rollback) to its initial value.
   */
  getParts<T>(k: string, apart: readonly string[], corrupt?: string[]): T | null {
    const main = this.get<Record<string, unknown>>(k);
    if (!main) return null;
    for (const f of apart) {
      const rows = this.sql.exec<{ v: string }>(`SELECT v FROM kv_state WHERE k = ?`, `${k}.${f}`).toArray();
      if (!rows.length) continue;
      try {
        main[f] = JSON.parse(rows[0].v);
      } catch {
        // The part row is newer than any copy a pre-split main row holds: that copy is stale.
        delete main[f];
        corrupt?.push(f);
      }
    }
    return main as T;
  }

  putBucket(attempt: number, kind: string, row: WindowRow): void {
    this.sql.exec(
      `INSERT INTO window_bucket (attempt, kind, t, v) VALUES (?, ?, ?, ?) ON CONFLICT(attempt, kind, t) DO UPDATE SET v = excluded.v`,
      attempt,
      kind,
      row.t,
      JSON.stringify(row.v),
    );
  }

  buckets(attempt: number, kind: string, sinceT: number): WindowRow[] {
    return this.sql
      .exec<{ t: number; v: string }>(
        `SELECT t, v FROM window_bucket WHERE attempt = ? AND kind = ? AND t >= ? ORDER BY t`,
        attempt,
        kind,
        sinceT,
      )
      .toArray()
      .map((r) => ({ t: r.t, v: JSON.parse(r.v) as number[] }));
  }

  /** Drops the buckets of `attempt` and `kind` that left the window: a range of the primary key, run once a second. */
  pruneBuckets(attempt: number, kind: string, beforeT: number): void {
    this.sql.exec(`DELETE FROM window_bucket WHERE attempt = ? AND kind = ? AND t < ?`, attempt, kind, beforeT);
  }

  /** Drops every bucket of `kind`, whatever its attempt: once, when the window starts over (new attempt, promotion). */
  clearBuckets(kind: string): void {
    this.sql.exec(`DELETE FROM window_bucket WHERE kind = ?`, kind);
  }

  addEvent(at: string, kind: EventKind, actor: string, reason: string, data?: Record<string, unknown>): RolloutEvent {
    const row = this.sql
      .exec<{ id: number }>(
        `INSERT INTO event (at, kind, actor, reason, data) VALUES (?, ?, ?, ?, ?) RETURNING id`,
        at,
        kind,
        actor,
        reason,
        data ? JSON.stringify(data) : null,
      )
      .one();
    if (row.id % 100 === 0) this.sql.exec(`DELETE FROM event WHERE id <= ?`, row.id - MAX_EVENTS);
    return { id: row.id, at, kind, actor, reason, ...(data ? { data } : {}) };
  }

  /** Newest first. */
  events(limit: number): RolloutEvent[] {
    return this.sql
      .exec<{ id: number; at: string; kind: EventKind; actor: string; reason: string; data: string | null }>(
        `SELECT id, at, kind, actor, reason, data FROM event ORDER BY id DESC LIMIT ?`,
        limit,
      )
      .toArray()
      .map((r) => ({
        id: r.id,
        at: r.at,
        kind: r.kind,
        actor: r.actor,
        reason: r.reason,
        ...(r.data ? { data: JSON.parse(r.data) } : {}),
      }));
  }
}

export interface QueuedNotification {
  id: number;
  destination: string;
  /** Its FIFO within the destination (../notify/destinations.ts, Lane). */
  lane: Lane;
  eventId: number;
  kind: EventKind;
  /** Standard Webhooks' webhook-id: the same on every try. */
  messageId: string;
  outgoing: Outgoing;
  tries: number;
  nextAt: number;
  error: string | null;
}

type NotificationRow = {
  id: number;
  destination: string;
  lane: Lane;
  event_id: number;
  kind: EventKind;
  message_id: string;
  outgoing: string;
  tries: number;
  next_at: number;
  error: string | null;
};

function notificationOf(r: NotificationRow): QueuedNotification {
  return {
    id: r.id,
    destination: r.destination,
    lane: r.lane,
    eventId: r.event_id,
    kind: r.kind,
    messageId: r.message_id,
    outgoing: JSON.parse(r.outgoing) as Outgoing,
    tries: r.tries,
    nextAt: r.next_at,
    error: r.error,
  };
}
