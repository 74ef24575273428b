// Targeting rules (send chosen requests to a role before percentages) and per-location staging
// (only listed colos/countries may reach the canary by bucket). Pure; compiled once per document
// version by decide's compileRouting, so a request costs a few Set lookups and integer compares.
//
// Semantics (decided here; README "Targeting"):
// | concern                        | behaviour                                                         |
// |--------------------------------|-------------------------------------------------------------------|
// | conditions inside one rule     | all must match (AND); a rule with none is rejected by the schema   |
// | values inside one condition    | any may match (OR)                                                |
// | several rules                  | first matching rule wins, in document order                       |
// | header                         | name case-insensitive; value compared exactly (case-sensitive,    |
// |                                | whole value as the Worker sees it; repeated headers are joined    |
// |                                | with ", " by the runtime and will not match a single value)       |
// | cidr                           | client IP = CF-Connecting-IP; IPv4, IPv6, IPv4-mapped IPv6        |
// | country / colo                 | request.cf.country / request.cf.colo, upper-cased                 |
// | fact missing (no cf, no IP)    | that condition does not match: the request falls through          |
// | locations unset                | every location allowed                                            |
// | locations {colos, countries}   | allowed if the colo is listed OR the country is listed            |
// | locations set, lists empty     | no location allowed: nobody reaches the canary by bucket          |
// | rules vs locations             | a matching rule (and an override) is not limited by locations     |
import type { Rollout } from "../model/rollout";
import { CidrSet, parseIp, type IpAddress } from "../lib/cidr";

export interface RequestFacts {
  headers: Headers;
  ip: string | null;
  country: string | null;
  colo: string | null;
}

/** What a rule matches on: the rollout's rules and a flag's share it (src/model/rollout.ts `ruleConditions`). */
export interface RuleConditions {
  name?: string;
  header?: { name: string; values: string[] };
  cidr?: string[];
  country?: string[];
  colo?: string[];
}

interface CompiledRule {
  index: number;
  name: string;
  /** `slot`: index into CompiledRules.headerNames, so each header is read once per request. */
  header: { name: string; slot: number; values: Set<string> } | null;
  cidr: CidrSet | null;
  country: Set<string> | null;
  colo: Set<string> | null;
}

/** A list of rules prepared for matching; first match wins. */
export interface CompiledRules {
  rules: CompiledRule[];
  /** Distinct header names the rules look at (rules often share one, e.g. x-employee). */
  headerNames: string[];
  /** Some rule has a cidr condition: the client IP is parsed (once) only then. */
  needsIp: boolean;
}

export interface CompiledTargeting extends CompiledRules {
  /** Each rule's role, by index. */
  roles: ("canary" | "stable")[];
  /** null: no per-location staging. */
  locations: { colos: Set<string>; countries: Set<string> } | null;
}

export function compileRules(list: readonly RuleConditions[]): CompiledRules {
  const headerNames: string[] = [];
  const headerSlot = (name: string) => {
    const n = name.toLowerCase();
    const i = headerNames.indexOf(n);
    return i >= 0 ? i : headerNames.push(n) - 1;
  };
  const rules = list.map((r, index): CompiledRule => ({
    index,
    name: r.name ?? `#${index}`,
    header: r.header
      ? { name: r.header.name.toLowerCase(), slot: headerSlot(r.header.name), values: new Set(r.header.values) }
      : null,
    cidr: r.cidr ? new CidrSet(r.cidr) : null,
    country: r.country ? new Set(r.country.map((c) => c.toUpperCase())) : null,
    colo: r.colo ? new Set(r.colo.map((c) => c.toUpperCase())) : null,
  }));
  return { rules, headerNames, needsIp: rules.some((r) => r.cidr !== null) };
}

export function compileTargeting(doc: Rollout): CompiledTargeting {
  const l = doc.locations;
  return {
    ...compileRules(doc.rules),
    roles: doc.rules.map((r) => r.slot),
    locations: l
      ? {
          colos: new Set((l.colos ?? []).map((c) => c.toUpperCase())),
          countries: new Set((l.countries ?? []).map((c) => c.toUpperCase())),
        }
      : null,
  };
}

/** The first rule the request matches, or null. */
export function matchRule(
  t: CompiledTargeting,
  f: RequestFacts,
): { index: number; name: string; role: "canary" | "stable" } | null {
  const r = firstMatch(t, f);
  return r === null ? null : { index: r.index, name: r.name, role: t.roles[r.index] };
}

/** The first of `t`'s rules the request matches (its index and name), or null. */
export function firstMatch(t: CompiledRules, f: RequestFacts): { index: number; name: string } | null {
  if (t.rules.length === 0) return null;
  let ip: IpAddress | null | undefined; // parsed lazily, at most once
  let headerValues: (string | null | undefined)[] | undefined; // read lazily, at most once each
  const country = f.country === null ? null : f.country.toUpperCase();
  const colo = f.colo === null ? null : f.colo.toUpperCase();
  for (const r of t.rules) {
    if (r.header !== null) {
      headerValues ??= new Array(t.headerNames.length);
      let v = headerValues[r.header.slot];
      if (v === undefined) v = headerValues[r.header.slot] = f.headers.get(r.header.name);
      if (v === null || !r.header.values.has(v)) continue;
    }
    if (r.country !== null && (country === null || !r.country.has(country))) continue;
    if (r.colo !== null && (colo === null || !r.colo.has(colo))) continue;
    if (r.cidr !== null) {
      if (ip === undefined) ip = parseIp(f.ip);
      if (!r.cidr.has(ip)) continue;
    }
    return r;
  }
  return null;
}

/** False when per-location staging is set and the request comes from elsewhere. */
export function locationAllowed(t: CompiledTargeting, f: RequestFacts): boolean {
  const l = t.locations;
  if (l === null) return true;
  if (f.colo !== null && l.colos.has(f.colo.toUpperCase())) return true;
  if (f.country !== null && l.countries.has(f.country.toUpperCase())) return true;
  return false;
}
