// Closed-loop load for the throughput benchmarks (bench-proxy, bench-flags, bench-goals):
// `concurrency` clients, each sending its next request as soon as the last answer is read (one
// request over and over, or a mix taken in turn), for a fixed time, with the CPU
// the serving workerd spent meanwhile; and the back-to-back rounds of alternating order they are
// compared in, because this machine's speed drifts by more than the effects measured (shared cores).
import { median } from "./stats";
import { cpuTicks, TICKS_PER_S } from "./workerd-proc";

export interface LoadSettings {
  /** Per measurement. */
  seconds: number;
  concurrency: number;
  /** Per measurement: a cap for fast machines, so a run stays bounded in requests too. */
  maxRequests: number;
  /** Back-to-back pairs per comparison. */
  rounds: number;
}

/** The settings from BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_MAX_REQUESTS and BENCH_ROUNDS. */
export function loadSettings(defaults: { seconds: number; rounds: number }): LoadSettings {
  return {
    seconds: Number(process.env.BENCH_SECONDS ?? defaults.seconds),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 16),
    maxRequests: Number(process.env.BENCH_MAX_REQUESTS ?? 200_000),
    rounds: Number(process.env.BENCH_ROUNDS ?? defaults.rounds),
  };
}

/** One request of a load: GET unless `method` says otherwise. */
export interface BenchRequest {
  url: string;
  headers: Record<string, string>;
  method?: string;
  body?: string;
}

/**
 * The request every throughput benchmark sends, to either Worker alike: a path under the origin's
 * /fixed/ (one fixed body, so a proxy that adds request headers is not charged a bigger echo), a
 * query, a browser's headers and a session cookie beside edgeshift's visitor cookie when `vid` is given.
 */
export function benchRequest(base: string, vid: string | null): BenchRequest {
  return {
    url: base + "fixed/products/42?ref=bench&x=%20",
    headers: {
      "user-agent": "edgeshift-bench",
      accept: "application/json",
      cookie: vid ? `session=abc; edgeshift_vid=${vid}` : "session=abc",
    },
  };
}

export interface Measured {
  rps: number;
  requests: number;
  /** CPU clock ticks the serving workerd spent (NaN without /proc). */
  ticks: number;
}

/**
 * One measurement of `req`, or of a mix sent in turn (request k of the measurement is `req[k mod
 * length]`, whichever client sends it); any answer but 200 fails it, so a broken Worker cannot pass
 * for a fast one.
 */
export async function measureLoad(
  req: BenchRequest | BenchRequest[],
  pid: number | undefined,
  s: LoadSettings,
): Promise<Measured> {
  const mix = Array.isArray(req) ? req : [req];
  let sent = 0;
  let done = 0;
  let errors = 0;
  let failedUrl = "";
  const ticks0 = cpuTicks(pid);
  const deadline = performance.now() + s.seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: s.concurrency }, async () => {
      while (performance.now() < deadline && done < s.maxRequests) {
        const q = mix[sent++ % mix.length];
        const r = await fetch(q.url, { method: q.method, headers: q.headers, body: q.body });
        await r.arrayBuffer();
        if (r.status !== 200) (errors++, (failedUrl ||= q.url));
        done++;
      }
    }),
  );
  if (errors) throw new Error(`${errors} non-200 answers, the first from ${failedUrl}`);
  return { rps: done / ((performance.now() - t0) / 1000), requests: done, ticks: cpuTicks(pid) - ticks0 };
}

/**
 * `rounds` rounds in which every side is measured once, back to back, in the listed order and in
 * reverse on every other round, so over each two rounds a steady drift of the machine's speed
 * favours no side (for two sides: pairs of alternating order). `out[i]` is side i's measurements.
 * `beforeRound` runs before each round's first measurement (to rearrange what a side measures).
 */
export async function alternatingRounds<T>(
  rounds: number,
  sides: (() => Promise<T>)[],
  beforeRound?: (round: number) => Promise<void>,
): Promise<T[][]> {
  const out = sides.map(() => [] as T[]);
  for (let r = 0; r < rounds; r++) {
    await beforeRound?.(r);
    const order = sides.map((_, i) => (r % 2 === 0 ? i : sides.length - 1 - i));
    for (const i of order) out[i].push(await sides[i]());
  }
  return out;
}

/** workerd CPU µs per request over measurements: their ticks summed over their requests summed. */
export function cpuMicrosPerRequest(ms: Measured[]): number {
  const requests = ms.reduce((n, m) => n + m.requests, 0);
  return requests ? (ms.reduce((n, m) => n + m.ticks, 0) / requests) * (1e6 / TICKS_PER_S) : NaN;
}

export const medianRps = (ms: Measured[]) => median(ms.map((m) => m.rps));
