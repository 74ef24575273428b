// Feature flags' per-request cost (src/flags/evaluate.ts, the x-edgeshift-flags header built in
// src/worker/handler.ts): edgeshift with 0, 10 and 50 flags in the `flags` KV document against the
// bare pass-through Worker, in one run, returning visitors (a valid edgeshift_vid cookie, so the
// visitor id costs the same on every side). The issue's goal: "with no flags the cost is
// unmeasurable". The code before flags is not in this run, so 0 flags cannot be set against it
// here; what is measured is 0 flags against bare (compare with bench-proxy's returning visitors),
// and 0 flags twice, as two sides, whose difference is printed as the noise floor: a cost below
// it is one this run cannot see. Beside it, the evaluation alone timed in Node, which resolves what
// workerd's CPU ticks on shared cores cannot.
//
// The method is lib/rotated-sides.ts's (why one workerd per side, the documents rotated over them
// every round, and each proven in force before a round is measured): here four edgeshift workerds
// and four documents, 0, 10, 50 flags and 0 again; a document is in force when a request through
// its instance reaches the origin with x-edgeshift-flags naming exactly its flags for the origin.
// Ratios are medians of the rounds' ratios, the 0-flag reference the mean of the two 0-flag sides.
//
// The flags are a realistic mix of ten (`MIX`), repeated under new keys for 50: boolean ramps, a
// string and a number flag split over several variations, targeting rules on a header (which this
// client does not send) and on the country (Miniflare reports "US": one rule matches, one does not),
// two flags with "origin": false (evaluated for OFREP, not sent) and one switched off. So 8 of 10 and
// 40 of 50 flags reach the origin. ADMIN_TOKEN and OVERRIDE_SECRET are set, as in bench-proxy.
//
// Bounded (~2 minutes on 2 cores): BENCH_SECONDS per measurement (default 2), BENCH_ROUNDS rounds
// (default 8, five measurements each; a multiple of 4 gives every side every instance alike), BENCH_CONCURRENCY clients (default 16); BENCH_PIN=1 pins every
// workerd to one core (lib/workerd-proc.ts), which makes the CPU column much less noisy.
import type { FlagInput } from "../src/model/flags";
import { parseFlags } from "../src/model/parse";
import { compileFlags, originFlagsHeader } from "../src/flags/evaluate";
import { benchRequest, loadSettings } from "./lib/load";
import { openProxyBench } from "./lib/proxy-bench";
import { measureRotated, printRotated, type DocumentSide } from "./lib/rotated-sides";
import { bestMicrosPerCall } from "./lib/stats";

const LOAD = loadSettings({ seconds: 2, rounds: 8 });
/** Flags per side: 0 first and last, so in every round the two 0-flag measurements bracket the others. */
const SIDES = [0, 10, 50, 0];

const MIX: [string, FlagInput][] = [
  ["new-checkout", { rollout: { percent: 30 } }],
  ["fast-search", { rollout: { percent: 5 }, origin: false, browser: true }],
  ["recommendations-v2", { rollout: { percent: 100 } }],
  [
    "theme",
    {
      variations: { light: "light", dark: "dark", contrast: "high-contrast" },
      default: "light",
      rollout: { percent: 100, split: { light: 50, dark: 40, contrast: 10 } },
    },
  ],
  ["page-size", { variations: { s: 10, m: 20, l: 50 }, default: "s", rollout: { percent: 50, split: { m: 1, l: 1 } } }],
  [
    "beta-checkout",
    {
      rules: [{ name: "beta-testers", header: { name: "x-beta", values: ["1"] }, variation: "on" }],
      rollout: { percent: 10 },
    },
  ],
  ["eu-consent-banner", { rules: [{ name: "eu", country: ["DE", "FR", "IT", "ES", "NL", "AT"], variation: "on" }] }],
  [
    "regional-pricing",
    {
      variations: { standard: "standard", regional: "usd-2026" },
      default: "standard",
      rules: [{ name: "north-america", country: ["US", "CA"], variation: "regional" }],
    },
  ],
  ["onboarding-tour", { rollout: { percent: 20 }, origin: false, browser: true }],
  ["legacy-search", { on: false, rollout: { percent: 50 } }],
];

/** `n` flags: MIX over and over, each repeat under new keys (so its own salt and buckets). */
function flagsDocument(n: number): { flags: Record<string, FlagInput> } {
  const flags: Record<string, FlagInput> = {};
  for (let i = 0; i < n; i++) {
    const [key, flag] = MIX[i % MIX.length];
    const round = Math.floor(i / MIX.length);
    flags[round === 0 ? key : `${key}-${round + 1}`] = flag;
  }
  return { flags };
}

/**
 * The evaluation alone, in this Node process (V8, as workerd): the x-edgeshift-flags value for
 * the bench's visitor and request, facts included, as the handler builds it; µs per request, the
 * best of five batches. A resolution workerd's CPU ticks on shared cores do not have.
 */
function evaluationMicros(n: number, vid: string): number {
  const parsed = parseFlags(JSON.stringify(flagsDocument(n)));
  if (!parsed.ok) throw new Error(parsed.summary);
  const compiled = compileFlags(parsed.doc, parsed.fingerprint);
  const headers = new Headers(benchRequest("", vid).headers);
  // The facts built per call, as the handler builds them per request.
  const evaluate = () =>
    originFlagsHeader(compiled, vid, { headers, ip: "203.0.113.7", country: "US", colo: "LHR" }, null);
  return bestMicrosPerCall([evaluate])[0];
}

const stage = await openProxyBench("edgeshift-bench-flags");
try {
  const docs = SIDES.map((n) => {
    const text = n === 0 ? null : JSON.stringify(flagsDocument(n));
    const parsed = parseFlags(text);
    if (!parsed.ok) throw new Error(`the bench's ${n}-flag document is invalid: ${parsed.summary}`);
    const toOrigin = Object.keys(parsed.doc.flags).filter((k) => parsed.doc.flags[k].origin);
    /** The keys of the flags marked for the origin, sorted and joined. */
    const expected = toOrigin.sort().join();
    const side: DocumentSide & { sent: number; bytes: number } = {
      count: n,
      text,
      sent: toOrigin.length,
      /** The header's length at the origin. */
      bytes: 0,
      inForce(value) {
        const keys = value === null ? "" : Object.keys(JSON.parse(value)).sort().join();
        side.bytes = value?.length ?? 0;
        return keys === expected;
      },
    };
    return side;
  });
  const run = await measureRotated(stage, docs, { load: LOAD, noun: "flag" });
  const labels = docs.map((w, i) =>
    w.count === 0
      ? `edgeshift, 0 flags${i === SIDES.indexOf(0) ? "" : " (again)"}`
      : `edgeshift, ${w.count} flags (${w.sent} sent, header ${w.bytes} B)`,
  );
  printRotated(run, docs, { noun: "flag", labels, traffic: "returning visitors" });
  console.log(
    `evaluation alone (Node, originFlagsHeader as the handler calls it, best of 5 × 20,000): ${[10, 50].map((n) => `${evaluationMicros(n, run.vid).toFixed(2)} µs at ${n} flags`).join(", ")}`,
  );
  console.log(
    "note: 0 flags against the code before flags is not measured (no such build in this run); 0 flags against bare is, and a cost of 0 flags below the noise floor is one this run cannot see.",
  );
} finally {
  await stage.close();
}
