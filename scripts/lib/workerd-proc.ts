// The workerd processes Miniflare starts, seen from /proc (Linux only; elsewhere every figure is
// NaN and the benchmarks print "n/a"): their CPU time and resident memory, for benchmarks that
// report the cost of a Worker beside its throughput.
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** Pids of the workerd processes that are children of this process. */
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

/** utime + stime of a process, in clock ticks. */
export function cpuTicks(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
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

export const fmt = (x: number, digits = 0) => (Number.isNaN(x) ? "n/a" : x.toFixed(digits));
