// Rollback speed through the real stack (wrangler dev, two real origins, real local KV): drives
// ~50 GET/s from new visitors at a 50 % canary, makes the canary answer 500, and prints
//   - seconds from the first canary failure to the last request the canary origin received
//     (goal ≤ 5 s), and
//   - how many 5xx users saw (goal 0 for GETs: failed canary answers are replaced by stable's).
// Baseline in the same run: the seconds until the rollback is readable in KV (`wrangler kv key
// get`); in production KV itself may take up to 60 s to reach every location, which is why the
// controller's view rides on the flush answers.
// Usage: tsx scripts/bench-rollback.ts [--rate 50] [--seconds 40]
import { startDevStack, waitFor } from "./lib/dev-stack";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RATE = arg("rate", 50);
const MAX_SECONDS = arg("seconds", 40);

async function main() {
  const stack = await startDevStack();
  try {
    await stack.putRollout({ percent: 50, release: "bench-rollback", rollback: { minRequests: 20, windowSeconds: 30 } });
    const tally = { sent: 0, status5xx: 0, noAnswer: 0, blue: 0, green: 0 };
    let running = true;
    let n = 0;
    const inFlight = new Set<Promise<void>>();
    const one = async () => {
      tally.sent++;
      try {
        const r = await fetch(`${stack.url}/bench/${n++}`, { signal: AbortSignal.timeout(15_000) });
        await r.arrayBuffer();
        if (r.status >= 500) tally.status5xx++;
        const o = r.headers.get("x-origin");
        if (o === "blue" || o === "green") tally[o]++;
      } catch {
        tally.noAnswer++;
      }
    };
    const driver = (async () => {
      const every = 1000 / RATE;
      let next = performance.now();
      while (running) {
        // Bounded: never more than 2 s worth of requests in flight if the Worker is slow.
        if (inFlight.size < RATE * 2) {
          const p = one().finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        next += every;
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      }
      await Promise.all(inFlight);
    })();

    await waitFor("the canary to receive traffic", async () => stack.green.hits > 20, 30_000, 100);
    const before = { ...tally };
    // Canary breaks now. Every canary request from here on is a failure.
    stack.green.setMode({ errorRate: 1, failStatus: 500 });
    const hitsAtBreak = stack.green.hits;
    let firstFailureAt = 0;
    let lastCanaryAt = 0;
    let lastHits = hitsAtBreak;
    let kvAt = 0;
    const t0 = performance.now();
    const poll = setInterval(() => {
      if (stack.green.hits !== lastHits) {
        lastHits = stack.green.hits;
        lastCanaryAt = performance.now();
        if (!firstFailureAt) firstFailureAt = lastCanaryAt;
      }
    }, 5);
    const kvPoll = (async () => {
      while (!kvAt && performance.now() - t0 < MAX_SECONDS * 1000) {
        const d = await stack.getRollout().catch(() => null);
        if (d?.rolledBack) kvAt = performance.now();
      }
    })();
    // Run until the canary has been silent for 5 s (or the time limit).
    await waitFor("the canary to go quiet", async () => firstFailureAt > 0 && performance.now() - lastCanaryAt > 5000, MAX_SECONDS * 1000, 100).catch(() => null);
    await kvPoll;
    running = false;
    await driver;
    clearInterval(poll);

    const failures = stack.green.hits - hitsAtBreak;
    const toZero = (lastCanaryAt - firstFailureAt) / 1000;
    const toKv = kvAt ? (kvAt - firstFailureAt) / 1000 : NaN;
    const after = { sent: tally.sent - before.sent, status5xx: tally.status5xx - before.status5xx, noAnswer: tally.noAnswer - before.noAnswer };
    console.log(`bench-rollback: ~${RATE} GET/s from new visitors, canary at 50 %, rollback { minRequests: 20 }, wrangler dev + real origins`);
    console.log(`  first canary failure → last canary request: ${toZero.toFixed(2)} s   (goal ≤ 5 s)   canary failures absorbed: ${failures}`);
    console.log(`  user-visible 5xx GETs after the break: ${after.status5xx} of ${after.sent} (goal 0); no answer: ${after.noAnswer}`);
    console.log(`  baseline: rollback readable in KV after ${toKv.toFixed(2)} s (ratio view/KV ${(toZero / toKv).toFixed(2)}); KV's worst-case global propagation is 60 s`);
  } finally {
    await stack.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
