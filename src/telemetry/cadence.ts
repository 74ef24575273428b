// When an isolate reports: pure policy (no clock, no I/O; the caller hands in times and a random
// source). At fleet scale every isolate's report is a request to one object of the tier, which
// takes about 1,000 requests/s before calls queue and fail as overloaded; an isolate therefore
// reports rarely when nothing it counts can change a verdict, never in step with its neighbours,
// less often when the tier is slow or failing, and never in a stampede during an incident.
//
// | situation                                   | next report                                          |
// |---------------------------------------------|------------------------------------------------------|
// | canary traffic possible (percent > 0, rules, | ACTIVE_EVERY_MS × (1 + JITTER·u) after the last      |
// | shadow, or canary requests in the batch)    | report ended (2–2.5 s)                               |
// | nothing can reach the canary (percent 0, no | QUIET_EVERY_MS × (1 + JITTER·u) (30–37.5 s): at most |
// | rules, no shadow, or rolled back)           | one report per isolate per 30 s                      |
// | ≥ ERROR_BURST canary errors since the last  | early, BURST_GAP_MS × (1 + JITTER·u) after the last  |
// | report (an incident)                        | one, if a burst token is left (BURST_TOKENS, one     |
// |                                             | back every BURST_REFILL_MS) and not backing off      |
// | the last report failed, was late, or was    | backoff: BACKOFF_BASE_MS·2^(level-1)·(1 + u), ≤      |
// | abandoned                                   | BACKOFF_MAX_MS·2; level +1, and at least 2 (4–8 s)   |
// |                                             | after "overloaded", which Cloudflare says must not   |
// |                                             | be retried at once (developers.cloudflare.com/       |
// |                                             | durable-objects/best-practices/error-handling);      |
// |                                             | no early reports while backing off                   |
// | a report succeeds on time                   | level halved (not 0: a recovered tier is not hit by  |
// |                                             | every isolate's full rate at the same instant; not   |
// |                                             | −1: from the cap that took minutes, and an isolate   |
// |                                             | that backs off learns of a rollback late)            |
// Worst case per isolate (gaps run from the end of the last report, so RTT only lowers these):
// 3 calls in any one second (a regular report, then two early ones BURST_GAP_MS apart), and over
// time ≤ 1/ACTIVE_EVERY_MS + 0.75/BURST_REFILL_MS = 0.65 calls/s through an incident (was 4/s, a
// report every 250 ms); while backing off ≤ 1 / (BACKOFF_BASE_MS·2^(level-1)), no early reports.
// `u` is a fresh uniform draw in [0, 1) per interval, so isolates that started together spread out.

export const ACTIVE_EVERY_MS = 2000;
export const QUIET_EVERY_MS = 30_000;
export const JITTER = 0.25;
export const ERROR_BURST = 3;
export const BURST_GAP_MS = 500;
export const BURST_TOKENS = 2;
export const BURST_REFILL_MS = 5000;
export const BACKOFF_BASE_MS = 2000;
export const BACKOFF_MAX_MS = 32_000;
const MAX_LEVEL = 1 + Math.floor(Math.log2(BACKOFF_MAX_MS / BACKOFF_BASE_MS));

/** How the last report ended, as far as the pace is concerned. */
export type ReportOutcome = "ok" | "late" | "failed" | "overloaded" | "abandoned";

export class Cadence {
  /** Backoff level: 0 is the normal pace. */
  level = 0;
  private tokens = BURST_TOKENS;
  private tokensAt = -Infinity;
  /** This interval's draw. */
  private u: number;

  constructor(private readonly random: () => number = Math.random) {
    this.u = this.draw();
  }

  /** The regular gap after the last report, ms (jitter and backoff included). */
  gapMs(quiet: boolean): number {
    const base = (quiet ? QUIET_EVERY_MS : ACTIVE_EVERY_MS) * (1 + JITTER * this.u);
    return Math.max(base, this.backoffMs());
  }

  /** Whether a report is due `since` ms after the last one ended, at time `now`. */
  due(now: number, since: number, quiet: boolean, canaryErrors: number): boolean {
    if (since >= this.gapMs(quiet)) return true;
    return this.burstAllowed(now) && canaryErrors >= ERROR_BURST && since >= BURST_GAP_MS * (1 + JITTER * this.u);
  }

  /** A report starts at `now`; `early` when it went before its regular gap (takes a burst token). */
  started(now: number, early: boolean): void {
    if (early) {
      this.refill(now);
      this.tokens--;
    }
  }

  /** The report's outcome: sets the pace of the next one and draws its jitter. */
  ended(outcome: ReportOutcome): void {
    if (outcome === "ok") this.level = Math.floor(this.level / 2);
    else this.level = Math.min(MAX_LEVEL, Math.max(this.level + 1, outcome === "overloaded" ? 2 : 1));
    this.u = this.draw();
  }

  private backoffMs(): number {
    if (this.level === 0) return 0;
    return BACKOFF_BASE_MS * 2 ** (this.level - 1) * (1 + this.u);
  }

  private burstAllowed(now: number): boolean {
    if (this.level > 0) return false;
    this.refill(now);
    return this.tokens >= 1;
  }

  private refill(now: number): void {
    if (this.tokensAt === -Infinity) this.tokensAt = now;
    const back = Math.floor((now - this.tokensAt) / BURST_REFILL_MS);
    if (back <= 0) return;
    this.tokens = Math.min(BURST_TOKENS, this.tokens + back);
    this.tokensAt = this.tokens === BURST_TOKENS ? now : this.tokensAt + back * BURST_REFILL_MS;
  }

  private draw(): number {
    const u = this.random();
    return u >= 0 && u < 1 ? u : 0;
  }
}

/** Whether an error from the transport is Cloudflare's "overloaded" (a property set by the runtime). */
export function isOverloaded(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { overloaded?: unknown }).overloaded === true;
}

/** Whether the error came from the object's own code (it ran: the report may have been counted). */
export function ranRemotely(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { remote?: unknown }).remote === true;
}
