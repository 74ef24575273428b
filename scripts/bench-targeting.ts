// What targeting and override verification cost per request, against the work every request
// already does (hashing its sticky key into a bucket), measured in the same run:
//  - matchRule over 50 rules that all miss (worst case: header, country, colo and CIDR checks,
//    IPv6 client address parsed once), and with no rules;
//  - verifyOverride of a valid token (cached key) and of a forged one — it only runs for requests
//    that carry a token.
// Usage: tsx scripts/bench-targeting.ts [--n 200000]
import { rolloutSchema } from "../src/model/rollout";
import { bucketOf, seedOf } from "../src/routing/bucket";
import { mintOverride, verifyOverride } from "../src/routing/override";
import { compileTargeting, matchRule, type RequestFacts } from "../src/routing/targeting";
import { numberFlag } from "./lib/args";

const N = numberFlag("n", 200_000);

function time(label: string, n: number, fn: (k: number) => unknown): number {
  for (let k = 0; k < Math.min(n, 10_000); k++) fn(k); // warm the JIT
  const t0 = performance.now();
  for (let k = 0; k < n; k++) fn(k);
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${label.padEnd(58)} ${ns.toFixed(0).padStart(7)} ns/op`);
  return ns;
}
async function timeAsync(label: string, n: number, fn: () => Promise<unknown>): Promise<number> {
  for (let k = 0; k < Math.min(n, 1000); k++) await fn();
  const t0 = performance.now();
  for (let k = 0; k < n; k++) await fn();
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${label.padEnd(58)} ${ns.toFixed(0).padStart(7)} ns/op`);
  return ns;
}

const seed = seedOf("bench");
const keys = Array.from(
  { length: 1024 },
  (_, k) => `visitor-${k}-7f3a9c2e-0b1d-4e5f-9a8b-${k.toString(16).padStart(12, "0")}`,
);
const base = time("baseline: bucketOf(sticky key)", N, (k) => bucketOf(keys[k & 1023], seed));

const rules = Array.from({ length: 50 }, (_, k) => ({
  name: `r${k}`,
  header: { name: "x-employee", values: [`team-${k}`] },
  country: ["NZ", "AU"],
  colo: ["AKL"],
  cidr: [`10.${k}.0.0/16`, `2001:db8:${k.toString(16)}::/48`],
}));
const cidrOnly = Array.from({ length: 50 }, (_, k) => ({
  cidr: [`10.${k}.0.0/16`, `2001:db8:${k.toString(16)}::/48`],
}));
const many = compileTargeting(rolloutSchema.parse({ rules }));
const cidrs = compileTargeting(rolloutSchema.parse({ rules: cidrOnly }));
const none = compileTargeting(rolloutSchema.parse({}));
const facts: RequestFacts = {
  headers: new Headers({ "x-employee": "team-x", "user-agent": "bench", accept: "*/*" }),
  ip: "2001:db8:ffff::1234",
  country: "NZ",
  colo: "AKL",
};
const tNone = time("matchRule, no rules", N, () => matchRule(none, facts));
const tMany = time("matchRule, 50 rules all missing on the header", N, () => matchRule(many, facts));
const tCidr = time("matchRule, 50 CIDR-only rules (v4+v6) all missing, IPv6 client", N, () => matchRule(cidrs, facts));

const secret = "bench-override-secret-0123456789";
const valid = await mintOverride(secret, { target: "canary", ttlSeconds: 3600 });
const forged = valid.slice(0, -2) + (valid.endsWith("AA") ? "BB" : "AA");
const now = Math.floor(Date.now() / 1000);
const M = Math.max(1000, Math.floor(N / 10));
const tValid = await timeAsync("verifyOverride, valid token (key cached)", M, () => verifyOverride(valid, secret, now));
const tForged = await timeAsync("verifyOverride, forged signature", M, () => verifyOverride(forged, secret, now));

console.log("");
console.log(
  `ratios to the bucket hash every request pays: no rules ${(tNone / base).toFixed(2)}×, 50 rules ${(tMany / base).toFixed(2)}×, 50 CIDR rules ${(tCidr / base).toFixed(2)}×,`,
);
console.log(
  `override verify ${(tValid / base).toFixed(1)}× (valid) / ${(tForged / base).toFixed(1)}× (forged) — only on requests that carry a token`,
);
