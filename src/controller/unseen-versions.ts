// Versions isolates route by that KV has not shown the controller yet (pure bookkeeping for
// ./kv-sync.ts). KV may take up to 60 s to carry a write from one location to another
// (https://developers.cloudflare.com/kv/concepts/how-kv-works/), so such a version is most likely an
// operator's raw put made elsewhere: the controller's own KV writes wait for it (UNSEEN_HOLD_MS),
// and one never shown in that time is given up on, and said so. Kept in memory only: after a
// restart the next reports name them again.

/** How long a version isolates report, still unknown to the controller, holds its KV writes back. */
export const UNSEEN_HOLD_MS = 60_000;
/** Far more than versions isolates could hold at once; the oldest goes first. */
const MAX_REMEMBERED = 32;

export class UnseenVersions {
  /** fingerprint → when isolates first reported it (epoch ms), oldest first. */
  private readonly since = new Map<string, number>();

  /** Isolates route by these, and a KV read just now did not show them (`known` is false). */
  note(fingerprints: readonly string[], known: (f: string) => boolean, now: number): void {
    for (const f of fingerprints) {
      if (known(f) || this.since.has(f)) continue;
      this.since.set(f, now);
      if (this.since.size > MAX_REMEMBERED) this.since.delete(this.since.keys().next().value!);
    }
  }

  /** One reported less than UNSEEN_HOLD_MS ago and still unknown, or null (known ones are forgotten). */
  awaited(known: (f: string) => boolean, now: number): string | null {
    for (const [f, at] of this.since) {
      if (known(f)) this.since.delete(f);
      else if (now - at < UNSEEN_HOLD_MS) return f;
    }
    return null;
  }

  /** Those reported UNSEEN_HOLD_MS ago or more and still unknown: forgotten, for the caller to report. */
  giveUp(known: (f: string) => boolean, now: number): { fingerprint: string; since: number }[] {
    const out: { fingerprint: string; since: number }[] = [];
    for (const [f, at] of this.since) {
      if (!known(f) && now - at < UNSEEN_HOLD_MS) continue;
      this.since.delete(f);
      if (!known(f)) out.push({ fingerprint: f, since: at });
    }
    return out;
  }
}
