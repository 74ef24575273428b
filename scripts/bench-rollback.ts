// Rollback speed through the real stack (wrangler dev, two real origins, real local KV): drives
// ~50 GET/s from new visitors at a 50 % canary, makes the canary answer 500, and prints
//   - seconds from the first canary failure to the last request the canary origin received
//     (goal ≤ 5 s), and
//   - how many 5xx users saw (goal 0 for GETs: failed canary answers are replaced by stable's).
// Baseline in the same run: the seconds until the rollback is readable in KV (`wrangler kv key
// get`); in production KV itself may take up to 60 s to reach every location, which is why the
// controller's view rides on the flush answers.
// Usage: tsx scripts/bench-rollback.ts [--rate 50] [--seconds 40]
import { numberFlag } from "./lib/args";
import { startDevStack, waitFor } from "./lib/dev-stack";
import { addressOf } from "./lib/traffic";

const RATE = numberFlag("rate", 50);
const MAX_SECONDS = numberFlag("seconds", 40);

interface Tally {
  sent: number;
  status5xx: number;
  noAnswer: number;
}

/** GETs from new visitors at RATE/s until stopped; bounded in flight. */
function drive(url: string) {
  const tally: Tally = { sent: 0, status5xx: 0, noAnswer: 0 };
  let running = true;
  let n = 0;
  const inFlight = new Set<Promise<void>>();
  const one = async () => {
    tally.sent++;
    try {
      // Each request a new visitor on its own network: the controller needs failures from several.
      const headers = { "cf-connecting-ip": addressOf(n) };
      const r = await fetch(`${url}/bench/${n++}`, { headers, signal: AbortSignal.timeout(15_000) });
      await r.arrayBuffer();
      if (r.status >= 500) tally.status5xx++;
    } catch {
      tally.noAnswer++;
    }
  };
  const done = (async () => {
    const every = 1000 / RATE;
    let next = performance.now();
    while (running) {
      // Never more than 2 s worth of requests in flight if the Worker is slow.
      if (inFlight.size < RATE * 2) {
        const p = one().finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      next += every;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    await Promise.all(inFlight);
  })();
  return {
    tally,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

type Stack = Awaited<ReturnType<typeof startDevStack>>;

/**
 * Watches the canary origin from the moment it starts failing: first failing request → last
 * request it ever gets (the canary is silent for 5 s), and when KV shows the rollback.
 */
async function watchCanary(stack: Stack, release: string) {
  const hitsAtStart = stack.green.hits;
  let lastHits = hitsAtStart;
  let first = 0;
  let last = 0;
  let kvAt = 0;
  const t0 = performance.now();
  const poll = setInterval(() => {
    if (stack.green.hits !== lastHits) {
      lastHits = stack.green.hits;
      last = performance.now();
      if (!first) first = last;
    }
  }, 5);
  const kvPoll = (async () => {
    while (!kvAt && performance.now() - t0 < MAX_SECONDS * 1000) {
      const d = await stack.getRollout().catch(() => null);
      if (d?.rolledBack && d.release === release) kvAt = performance.now();
    }
  })();
  await waitFor(
    "the canary to go quiet",
    async () => first > 0 && performance.now() - last > 5000,
    MAX_SECONDS * 1000,
    100,
  ).catch(() => null);
  await kvPoll;
  clearInterval(poll);
  return {
    toZero: (last - first) / 1000,
    toKv: kvAt ? (kvAt - first) / 1000 : NaN,
    failures: stack.green.hits - hitsAtStart,
  };
}

function print(name: string, r: { toZero: number; toKv: number; failures: number }, t: Tally) {
  console.log(`  ${name}`);
  console.log(
    `    first canary failure → last canary request: ${r.toZero.toFixed(2)} s (goal ≤ 5 s); canary failures: ${r.failures}`,
  );
  console.log(`    user-visible 5xx GETs: ${t.status5xx} of ${t.sent} (goal 0); no answer: ${t.noAnswer}`);
  console.log(
    `    baseline: rollback readable in KV after ${r.toKv.toFixed(2)} s (view/KV ratio ${(r.toZero / r.toKv).toFixed(2)}; KV's worst-case global propagation: 60 s)`,
  );
}

async function main() {
  const stack = await startDevStack();
  try {
    console.log(
      `bench-rollback: ~${RATE} GET/s from new visitors, canary at 50 %, rollback { minRequests: 20 }, wrangler dev + real origins`,
    );
    // A: a healthy canary starts failing (its window already holds good answers).
    await stack.putRollout({ percent: 50, release: "bench-a", rollback: { minRequests: 20, windowSeconds: 30 } });
    let d = drive(stack.url);
    await waitFor("the canary to receive traffic", async () => stack.green.hits > 20, 30_000, 100);
    const a0 = { ...d.tally };
    stack.green.setMode({ errorRate: 1, failStatus: 500 });
    const a = await watchCanary(stack, "bench-a");
    await d.stop();
    print("A: healthy canary starts answering 500", a, {
      sent: d.tally.sent - a0.sent,
      status5xx: d.tally.status5xx - a0.status5xx,
      noAnswer: d.tally.noAnswer - a0.noAnswer,
    });

    // B: a release that is broken from its first request (a new attempt; empty window).
    d = drive(stack.url);
    const watching = watchCanary(stack, "bench-b");
    await stack.putRollout({ percent: 50, release: "bench-b", rollback: { minRequests: 20, windowSeconds: 30 } });
    const b = await watching;
    await d.stop();
    print("B: new release broken from its first request", b, d.tally);
  } finally {
    await stack.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
