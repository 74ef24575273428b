// Which goals a request reached (src/model/goals.ts). Pure; compiled once per flags version, so a
// request costs a few string compares per goal and, when some goal is a signal, one header read.
import type { Goal } from "../model/goals";

/** The origin's header listing the signals a response reached; stripped before the user sees it. */
export const GOAL_HEADER = "x-edgeshift-goal";

interface CompiledGoal {
  key: string;
  method: string | null;
  /** Exact path, or (prefix true) the start of it. */
  path: string | null;
  prefix: boolean;
  /** Status class (2 for "2xx") or exact code; null: any. */
  statusClass: number | null;
  status: number | null;
  signal: string | null;
}

export interface CompiledGoals {
  goals: CompiledGoal[];
  /** Some goal is a signal: the origin's x-edgeshift-goal is read. */
  readsSignal: boolean;
}

export const NO_GOALS: CompiledGoals = { goals: [], readsSignal: false };

export function compileGoals(goals: Record<string, Goal>): CompiledGoals {
  const list = Object.entries(goals).map(([key, g]): CompiledGoal => {
    const prefix = g.path !== undefined && g.path.endsWith("*");
    const st = g.status;
    return {
      key,
      method: g.method ?? null,
      path: g.path === undefined ? null : prefix ? g.path.slice(0, -1) : g.path,
      prefix,
      statusClass: typeof st === "string" ? Number(st[0]) : null,
      status: typeof st === "number" ? st : null,
      signal: g.signal ?? null,
    };
  });
  return { goals: list, readsSignal: list.some((g) => g.signal !== null) };
}

/**
 * The keys of the goals one answered request reached. `path` is the path as the origin got it
 * (no query); `status` null when no answer came; `signals` the origin's x-edgeshift-goal value.
 */
export function goalsReached(
  c: CompiledGoals,
  method: string,
  path: string,
  status: number | null,
  signals: string | null,
): string[] {
  let out: string[] | null = null;
  let named: string[] | null = null;
  for (const g of c.goals) {
    if (g.signal !== null) {
      if (signals === null) continue;
      named ??= signals.split(",").map((s) => s.trim());
      if (!named.includes(g.signal)) continue;
    } else {
      if (g.method !== null && g.method !== method) continue;
      if (g.prefix ? !path.startsWith(g.path!) : path !== g.path) continue;
      if (g.statusClass !== null && (status === null || Math.floor(status / 100) !== g.statusClass)) continue;
      if (g.status !== null && status !== g.status) continue;
    }
    (out ??= []).push(g.key);
  }
  return out ?? [];
}
