// PLACEHOLDER (owned by the plans/targeting work): rules that send chosen requests to a slot
// before percentages, and per-location staging. Pure; compiled once per config.
import type { Rollout, TargetingRule } from "../config/schema";

export interface RequestFacts {
  headers: Headers;
  ip: string | null;
  country: string | null;
  colo: string | null;
}

export interface CompiledTargeting {
  rules: TargetingRule[];
  locations: Rollout["locations"];
}

export function compileTargeting(doc: Rollout): CompiledTargeting {
  return { rules: doc.rules, locations: doc.locations };
}

/** The first rule the request matches, or null. */
export function matchRule(_t: CompiledTargeting, _f: RequestFacts): { index: number; name: string; role: "canary" | "stable" } | null {
  return null;
}

/** False when per-location staging is set and the request comes from elsewhere. */
export function locationAllowed(_t: CompiledTargeting, _f: RequestFacts): boolean {
  return true;
}
