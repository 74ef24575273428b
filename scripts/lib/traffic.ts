// Simulated visitors for the demo: a fixed population, each with its own cookie jar (so edgeshift's
// sticky visitor cookie is kept like a browser would), at a bounded rate and concurrency. Counts
// what users actually saw, per second: which origin answered and how many 5xx reached them.
// With `flag`, it also counts what the origin says each request carried for that feature flag.
// Each visitor comes from its own network (CF-Connecting-IP, see `addressOf`), as real visitors do:
// the controller rolls back only on failures from several visitors on several networks.
import { flagsReceived } from "./origin-server";

/**
 * The address of simulated client `i`: its own /24. `wrangler dev` keeps a CF-Connecting-IP the
 * client sent (miniflare fills it in only when absent), so local traffic can look like many networks.
 */
export function addressOf(i: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.${1 + ((i >> 16) & 127)}`;
}

export interface TrafficOptions {
  url: string;
  visitors?: number;
  /** Requests per second, spread evenly. */
  rate?: number;
  /** In-flight cap: when the Worker is slow the generator skips ticks instead of piling up. */
  maxInFlight?: number;
  /** Share (0–1) of POSTs: never replayed on stable, so a failing canary shows through. */
  postShare?: number;
  /**
   * A feature flag to follow: its value in the x-edgeshift-flags the origin received, as the origin's
   * answer tells it (./origin-server.ts `flagsReceived`), counted per second and kept per visitor.
   */
  flag?: string;
}

export interface Second {
  /** Answers by the origin that produced them (x-origin header). */
  blue: number;
  green: number;
  /** Status >= 500 delivered to users, and how many of them answered a GET (failover's job). */
  errors5xx: number;
  get5xx: number;
  /** Requests that got no answer at all. */
  failed: number;
  skipped: number;
  /** Requests whose origin received `flag` true, and false (neither: no answer said). */
  flagOn: number;
  flagOff: number;
}

const emptySecond = (): Second => ({
  blue: 0,
  green: 0,
  errors5xx: 0,
  get5xx: 0,
  failed: 0,
  skipped: 0,
  flagOn: 0,
  flagOff: 0,
});

export interface Traffic {
  /** The last complete second, and totals since start. */
  lastSecond(): Second;
  totals: Second & { requests: number };
  /** Visitors whose last answer came from each origin. */
  visitorsOn(): { blue: number; green: number };
  /** Indexes of the visitors whose last answer came from `slot` (to check stickiness across changes). */
  visitorIdsOn(slot: "blue" | "green"): Set<number>;
  /**
   * Visitors by what their origin received for `flag`: `given` it true at least once; of those, how
   * many `cameBack` (asked again after), and how many of those `lost` it (received it false since).
   */
  flagVisitors(): { given: number; cameBack: number; lost: number };
  /** Requests from now on go under `prefix` (e.g. "/__flagfail/new-layout/500"); "" for the plain paths. */
  setPathPrefix(prefix: string): void;
  stop(): Promise<void>;
}

export function startTraffic(o: TrafficOptions): Traffic {
  const visitors = Array.from({ length: o.visitors ?? 300 }, (_, i) => ({
    cookies: new Map<string, string>(),
    last: "",
    address: addressOf(i),
    flag: { given: false, cameBack: false, lost: false },
  }));
  const rate = o.rate ?? 40;
  const maxInFlight = o.maxInFlight ?? 32;
  const postShare = o.postShare ?? 0.1;
  let inFlight = 0;
  let current = emptySecond();
  let previous = emptySecond();
  const totals = { ...emptySecond(), requests: 0 };
  let n = 0;
  let prefix = "";
  const pending = new Set<Promise<void>>();

  const one = async (): Promise<void> => {
    const v = visitors[Math.floor(Math.random() * visitors.length)];
    const post = Math.random() < postShare;
    const headers: Record<string, string> = { "cf-connecting-ip": v.address };
    if (v.cookies.size) headers.cookie = [...v.cookies].map(([k, val]) => `${k}=${val}`).join("; ");
    try {
      const r = await fetch(`${o.url}${prefix}/${post ? "checkout" : "page"}/${n++ % 50}`, {
        method: post ? "POST" : "GET",
        headers: post ? { ...headers, "content-type": "application/json" } : headers,
        body: post ? '{"cart":[1,2]}' : undefined,
        redirect: "manual",
        signal: AbortSignal.timeout(15_000),
      });
      const body = await r.text();
      for (const c of (r.headers as unknown as { getSetCookie(): string[] }).getSetCookie()) {
        const m = /^([^=;\s]+)=([^;]*)/.exec(c);
        if (m) v.cookies.set(m[1], m[2]);
      }
      const from = r.headers.get("x-origin");
      if (from === "blue" || from === "green") {
        current[from]++;
        totals[from]++;
        v.last = from;
      }
      const flag = o.flag === undefined ? undefined : flagsReceived(body)?.[o.flag];
      if (flag !== undefined) {
        const on = flag === true;
        current[on ? "flagOn" : "flagOff"]++;
        totals[on ? "flagOn" : "flagOff"]++;
        if (v.flag.given) {
          v.flag.cameBack = true;
          v.flag.lost ||= !on;
        }
        v.flag.given ||= on;
      }
      if (r.status >= 500) {
        (current.errors5xx++, totals.errors5xx++);
        if (!post) (current.get5xx++, totals.get5xx++);
      }
    } catch {
      current.failed++;
      totals.failed++;
    }
    totals.requests++;
  };

  const tick = setInterval(() => {
    if (inFlight >= maxInFlight) {
      current.skipped++;
      return;
    }
    inFlight++;
    const p = one().finally(() => {
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  }, 1000 / rate);
  const roll = setInterval(() => {
    previous = current;
    current = emptySecond();
  }, 1000);

  return {
    lastSecond: () => previous,
    totals,
    visitorsOn() {
      const on = { blue: 0, green: 0 };
      for (const v of visitors) if (v.last === "blue" || v.last === "green") on[v.last]++;
      return on;
    },
    visitorIdsOn(slot) {
      return new Set(visitors.flatMap((v, i) => (v.last === slot ? [i] : [])));
    },
    flagVisitors() {
      const count = (k: "given" | "cameBack" | "lost") => visitors.filter((v) => v.flag[k]).length;
      return { given: count("given"), cameBack: count("cameBack"), lost: count("lost") };
    },
    setPathPrefix(p) {
      prefix = p;
    },
    async stop() {
      clearInterval(tick);
      clearInterval(roll);
      await Promise.allSettled([...pending]);
    },
  };
}
