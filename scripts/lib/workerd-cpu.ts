// CPU time of the workerd processes Miniflare starts, read from /proc (Linux only; elsewhere the
// functions return an empty set / NaN and the benchmarks print "n/a"). Wall-clock figures on a
// shared machine drift with its load; the CPU a process spent is a second view that drifts less.
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** Live workerd processes whose parent is this process. */
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

/** utime + stime of a process, in clock ticks (normally 100 per second). */
export function cpuTicks(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

/**
 * CPU time of a process's live threads in ns (/proc/<pid>/task/<tid>/schedstat): finer than clock
 * ticks, for spans of a few hundred ms such as one isolate's start. NaN where /proc is missing.
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

/** The one element of a set, or undefined when there is none or more than one. */
export const only = (xs: Set<number>) => (xs.size === 1 ? [...xs][0] : undefined);
