// What the status (API, CLI, page) says about each flag: its switch, the share of visitors each
// variation gets by the rollout, and a guarded flag's comparison with the figures it rests on. Pure.
import type { FlagsDocument } from "../model/flags";
import type { FlagStatus } from "../model/status";
import { defaultOf, offOf, typeOfValue, type FlagValue } from "../model/flags";
import { slotStats } from "../health/window";
import { splitOf } from "./evaluate";
import type { FlagGuards } from "./guard";

export function flagStatuses(
  doc: FlagsDocument,
  guards: ReturnType<FlagGuards["status"]>,
  /** Flags the controller switched off, with when and why when it knows (kills saved before it kept them: not). */
  killed: ReadonlyMap<string, { at?: string; reason?: string }>,
): FlagStatus[] {
  const byKey = new Map(guards.map((g) => [g.key, g]));
  return Object.entries(doc.flags).map(([key, f]): FlagStatus => {
    const g = byKey.get(key);
    const people = g?.judgement.input.people;
    return {
      key,
      on: f.on && !killed.has(key),
      type: typeOfValue(Object.values(f.variations)[0] as FlagValue),
      percent: f.rollout?.percent ?? null,
      exposure: exposureOf(f, f.on && !killed.has(key)),
      rules: f.rules.length,
      origin: f.origin,
      browser: f.browser,
      killed: killed.has(key),
      ...killOf(killed.get(key)),
      guard:
        g === undefined || f.guard === false
          ? null
          : {
              mode: f.guard.mode,
              healthy: g.judgement.healthy,
              reason: g.judgement.reason,
              tripped: g.tripped,
              since: new Date(g.since * 1000).toISOString(),
              windowSeconds: f.guard.windowSeconds,
              control: { ...slotStats(g.judgement.input.stable), visitors: people?.stable.visitors ?? 0 },
              treatment: { ...slotStats(g.judgement.input.canary), visitors: people?.canary.visitors ?? 0 },
              verdicts: g.judgement.verdicts,
            },
    };
  });
}

/** Each variation's share of all visitors (0–100) by the rollout; rules and tokens aside. */
export function exposureOf(f: FlagsDocument["flags"][string], on: boolean): Record<string, number> {
  if (!on) return { [offOf(f)]: 100 };
  const fallback = defaultOf(f);
  const out: Record<string, number> = {};
  const p = f.rollout?.percent ?? 0;
  if (p < 100) out[fallback] = 100 - p;
  if (p > 0) {
    const split = splitOf(f, fallback);
    const total = split.reduce((s, [, w]) => s + w, 0);
    for (const [v, w] of split) out[v] = round((out[v] ?? 0) + (p * w) / total);
  }
  return out;
}

const round = (n: number) => Math.round(n * 100) / 100;

function killOf(k: { at?: string; reason?: string } | undefined): Pick<FlagStatus, "kill"> {
  return k?.at !== undefined && k.reason !== undefined ? { kill: { at: k.at, reason: k.reason } } : {};
}
