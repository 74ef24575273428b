// The direction of imports (shared STYLE.md, docs/architecture.md "Layout"): a module imports only
// from its own layer or below, folders form no cycle, and the pure layers touch no runtime API, so
// every folder can be read (and unit-tested in Node) without the ones above it.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../..");

/** Folder (or root file) → layer, lowest first. */
const LAYERS: Record<string, number> = {
  "src/lib": 1,
  "src/model": 2,
  "src/routing": 3,
  "src/flags": 3,
  "src/experiments": 3,
  "src/health": 3,
  "src/plan": 3,
  "src/shadow": 3,
  "src/notify": 3,
  "src/telemetry": 3,
  "src/env.ts": 4,
  "src/proxy": 4,
  "src/controller": 4,
  "src/aggregator": 4,
  "src/admin": 4,
  "src/worker": 4,
  "src/index.ts": 4,
  "src/control.ts": 4,
  cli: 5,
  scripts: 5,
};

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(ROOT, rel)).isDirectory()) return filesUnder(rel);
    return rel.endsWith(".ts") ? [rel] : [];
  });
}

function unitOf(file: string): string {
  const key = Object.keys(LAYERS)
    .filter((k) => file === k || file.startsWith(`${k}/`))
    .sort((a, b) => b.length - a.length)[0];
  if (!key) throw new Error(`${file} is in no layer: add its folder to LAYERS here and to docs/architecture.md`);
  return key;
}

interface Edge {
  from: string;
  to: string;
  spec: string;
  /** `import type` / `export type`: erased, in no bundle. */
  typeOnly: boolean;
}

function imports(file: string): Edge[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const out: Edge[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*((?:import|export)[^"'`;]*?)from\s*["']([^"']+)["']/g)) {
    const spec = m[2];
    const typeOnly = /^(?:import|export)\s+type\b/.test(m[1]);
    if (!spec.startsWith(".")) {
      out.push({ from: file, to: spec, spec, typeOnly });
      continue;
    }
    let to = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), spec));
    if (!to.endsWith(".ts")) to += ".ts";
    out.push({ from: file, to, spec, typeOnly });
  }
  return out;
}

const files = ["src", "cli", "scripts"].flatMap(filesUnder);
const edges = files.flatMap(imports);
const local = edges.filter((e) => e.spec.startsWith("."));

describe("layers", () => {
  it("every module imports only from its own layer or below", () => {
    const upward = local
      .filter((e) => LAYERS[unitOf(e.to)] > LAYERS[unitOf(e.from)])
      .map((e) => `${e.from} (layer ${LAYERS[unitOf(e.from)]}) imports ${e.to} (layer ${LAYERS[unitOf(e.to)]})`);
    expect(upward).toEqual([]);
  });

  it("folders form no cycle", () => {
    const graph = new Map<string, Set<string>>();
    for (const e of local) {
      const [a, b] = [unitOf(e.from), unitOf(e.to)];
      if (a !== b) (graph.get(a) ?? graph.set(a, new Set()).get(a)!).add(b);
    }
    const cycles: string[] = [];
    const reach = (from: string, to: string, seen = new Set<string>()): boolean =>
      [...(graph.get(from) ?? [])].some((n) => n === to || (!seen.has(n) && (seen.add(n), reach(n, to, seen))));
    for (const [a, outs] of graph) for (const b of outs) if (reach(b, a)) cycles.push(`${a} → ${b} → … → ${a}`);
    expect(cycles).toEqual([]);
  });

  it("the pure layers (1–3) import no Workers or Node API", () => {
    const impure = edges
      .filter((e) => LAYERS[unitOf(e.from)] <= 3 && /^(cloudflare:|node:)/.test(e.spec))
      .map((e) => `${e.from} imports ${e.spec}`);
    expect(impure).toEqual([]);
  });

  it("the edge Worker's entry reaches neither the admin app, hono, a Durable Object class, nor notifications (they are the control Worker's)", () => {
    const reached = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const e of edges) if (e.from === file && !e.typeOnly && e.spec.startsWith(".")) visit(e.to);
    };
    visit("src/index.ts");
    // A zod schema is built when its module loads, whether or not it is used: a control-only schema
    // reached from the edge is cold-start time in every new edge isolate (scripts/bench-cold-start.ts).
    const control = [...reached].filter(
      (f) =>
        f.startsWith("src/admin/") ||
        f.startsWith("src/notify/") ||
        f.endsWith("/durable-object.ts") ||
        f === "src/model/notifications.ts",
    );
    const packages = edges
      .filter((e) => reached.has(e.from) && !e.typeOnly && /^hono\b/.test(e.spec))
      .map((e) => e.from);
    expect([...control, ...packages]).toEqual([]);
    expect(reached.has("src/worker/handler.ts")).toBe(true);
  });

  it("the check itself sees the imports (a layer map that matched nothing would pass anything)", () => {
    expect(files.length).toBeGreaterThan(50);
    expect(local.some((e) => e.from === "src/worker/handler.ts" && e.to === "src/routing/decide.ts")).toBe(true);
  });
});
