// Assignments per second and uniformity of our bucketing against the bucketing of GrowthBook's and
// Unleash's SDKs, same keys, same run. Each competitor is called the way its SDK assigns a user:
// - GrowthBook: hash(seed, key, 2) (FNV-1a twice, 10,000 buckets) then chooseVariation over
//   getBucketRanges(2, 1, [1 - p, p]) — what GrowthBook#run does per experiment.
// - Unleash: normalizedStrategyValue(key, groupId) <= rollout — the flexibleRollout strategy
//   (murmurhash3js over `${groupId}:${key}`, modulo 100: 1 % resolution).
// - edgeshift: bucketOf(key, seed) < threshold, seed precomputed once per document version.
// Uniformity: chi-square of the canary share against percent (1 dof) at several percents, and of
// the keys' position over 100 equal cells (99 dof), each against its p = 0.001 critical value.
import { createRequire } from "node:module";
import path from "node:path";
import { bucketOf, seedOf, thresholdOf } from "../src/routing/bucket";
import { ROOT } from "./lib/dev-stack";

const require = createRequire(import.meta.url);
const gbUtil = await import(path.join(ROOT, "node_modules/@growthbook/growthbook/dist/esm/util.mjs"));
const unleashUtil = require("unleash-client/lib/strategy/util.js") as {
  normalizedStrategyValue(id: string, groupId: string): number;
};

const N_PER_SHAPE = 100_000;
const PERCENTS = [1, 5, 25, 50];
const ROUNDS = 5;

function keys(): string[] {
  const out: string[] = [];
  for (let i = 0; i < N_PER_SHAPE; i++) out.push(String(i + 1));
  for (let i = 0; i < N_PER_SHAPE; i++) out.push(`user${i}@example.com`);
  // mulberry32: deterministic, so every run measures the same keys.
  let a = 2024;
  const r = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % 16).toString(16);
  };
  for (let i = 0; i < N_PER_SHAPE; i++) {
    let s = "";
    for (let j = 0; j < 32; j++) s += r();
    out.push(`${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20)}`);
  }
  return out;
}

interface Contender {
  name: string;
  /** Is the key on the canary at `percent`? Setup per percent happens outside the timed loop. */
  prepare(percent: number): (key: string) => boolean;
  /** Position of a key in [0, 100) for the 100-cell uniformity test. */
  cell(key: string): number;
}

const RELEASE = "v2.4.0";
const contenders: Contender[] = [
  {
    name: "edgeshift",
    prepare(p) {
      const seed = seedOf(RELEASE),
        t = thresholdOf(p);
      return (k) => bucketOf(k, seed) < t;
    },
    cell: (k) => Math.floor(bucketOf(k, seedOf(RELEASE)) / 100),
  },
  {
    name: "growthbook",
    prepare(p) {
      const ranges = gbUtil.getBucketRanges(2, 1, [1 - p / 100, p / 100]);
      return (k) => gbUtil.chooseVariation(gbUtil.hash(RELEASE, k, 2), ranges) === 1;
    },
    cell: (k) => Math.floor(gbUtil.hash(RELEASE, k, 2) * 100),
  },
  {
    name: "unleash",
    prepare(p) {
      return (k) => unleashUtil.normalizedStrategyValue(k, RELEASE) <= p;
    },
    cell: (k) => unleashUtil.normalizedStrategyValue(k, RELEASE) - 1,
  },
];

const critical = (dof: number) => {
  const a = 2 / (9 * dof);
  return dof * Math.pow(1 - a + 3.0902 * Math.sqrt(a), 3);
};

const ks = keys();
if (new Set(ks).size !== ks.length) throw new Error("duplicate keys: the uniformity figures would be meaningless");
console.log(
  `${ks.length.toLocaleString()} keys (sequential ids, emails, UUIDs), release salt "${RELEASE}", best of ${ROUNDS} rounds at each of ${PERCENTS.join(", ")} %`,
);
const results: { name: string; perSec: number; worstShare: number; cells: number }[] = [];
for (const c of contenders) {
  // Warm-up so the JIT has seen every path.
  for (const p of PERCENTS) {
    const f = c.prepare(p);
    for (let i = 0; i < 20_000; i++) f(ks[i]);
  }
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (const p of PERCENTS) {
      const f = c.prepare(p);
      for (let i = 0; i < ks.length; i++) if (f(ks[i])) sink++;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  if (sink < 0) console.log(sink);
  const perSec = (ks.length * PERCENTS.length) / best;
  let worstShare = 0;
  for (const p of PERCENTS) {
    const f = c.prepare(p);
    let n = 0;
    for (const k of ks) if (f(k)) n++;
    const e = (ks.length * p) / 100;
    worstShare = Math.max(worstShare, (n - e) ** 2 / e + (n - e) ** 2 / (ks.length - e));
  }
  const cells = new Array(100).fill(0);
  for (const k of ks) cells[c.cell(k)]++;
  const e = ks.length / 100;
  const cellChi = cells.reduce((a, o) => a + (o - e) ** 2 / e, 0);
  results.push({ name: c.name, perSec, worstShare, cells: cellChi });
}

const pad = (s: string, n: number) => s.padEnd(n);
console.log(`${pad("", 11)}${pad("assignments/s", 16)}${pad("worst share χ² (1 dof)", 24)}χ² over 100 cells (99 dof)`);
for (const r of results)
  console.log(
    `${pad(r.name, 11)}${pad(Math.round(r.perSec).toLocaleString(), 16)}${pad(r.worstShare.toFixed(2), 24)}${r.cells.toFixed(1)}`,
  );
console.log(
  `critical values at p = 0.001: ${critical(1).toFixed(2)} (1 dof), ${critical(99).toFixed(1)} (99 dof); lower is more uniform, above critical is a detectable bias`,
);
const us = results[0];
for (const r of results.slice(1)) {
  const ratio = us.perSec / r.perSec;
  console.log(`edgeshift / ${r.name}: ${ratio.toFixed(2)}× the throughput (goal > 1) ${ratio > 1 ? "✓" : "✗"}`);
}
console.log(
  "note: Unleash assigns in 1 % steps (modulo 100); edgeshift and GrowthBook in 0.01 % steps (10,000 buckets).",
);
