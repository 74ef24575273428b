// The workerd processes Miniflare starts, seen from /proc (Linux only; elsewhere every figure is
// NaN and the benchmarks print "n/a"): their CPU time and resident memory, for benchmarks that
// report the cost of a Worker beside its throughput. Wall-clock figures on a shared machine drift
// with its load; the CPU a process spent is a second view that drifts less.
import { Miniflare, type MiniflareOptions } from "miniflare";
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** Pids of the live workerd processes that are children of this process. */
export function workerdChildren(): Set<number> {
  const out = new Set<number>();
  if (!existsSync("/proc/self/stat")) return out;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      const ppid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && comm.startsWith("workerd")) out.add(Number(d));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

/** The one new workerd child since `before` was taken (Miniflare starts one per instance). */
export function newWorkerd(before: Set<number>): number | undefined {
  const fresh = [...workerdChildren()].filter((p) => !before.has(p));
  return fresh.length === 1 ? fresh[0] : undefined;
}

/** A Miniflare instance, ready, with its URL and the pid of the workerd it started. */
export async function startWorkerd(
  options: MiniflareOptions,
): Promise<{ mf: Miniflare; url: string; pid: number | undefined }> {
  const before = workerdChildren();
  const mf = new Miniflare(options);
  const url = (await mf.ready).toString();
  return { mf, url, pid: newWorkerd(before) };
}

/** utime + stime of a process, in clock ticks (normally 100 per second). */
export function cpuTicks(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/**
 * CPU time of a process's live threads in ns (/proc/<pid>/task/<tid>/schedstat): finer than clock
 * ticks, for spans of a few hundred ms such as one isolate's start.
 */
export function cpuNanos(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread exited while we looked
    }
  }
  return sum;
}

/** Resident memory (VmRSS) of a process, in MiB. */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** A /proc figure for printing: "n/a" where there was no /proc to read it from. */
export const fmt = (x: number, digits = 0) => (Number.isNaN(x) ? "n/a" : x.toFixed(digits));
