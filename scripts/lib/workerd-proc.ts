// The workerd processes Miniflare starts, seen from /proc (Linux only; elsewhere every figure is
// NaN and the benchmarks print "n/a"): their CPU time and resident memory, for benchmarks that
// report the cost of a Worker beside its throughput. Wall-clock figures on a shared machine drift
// with its load; the CPU a process spent is a second view that drifts less.
import { Miniflare, type MiniflareOptions } from "miniflare";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import os from "node:os";

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
export interface Workerd {
  mf: Miniflare;
  url: string;
  pid: number | undefined;
}

export async function startWorkerd(options: MiniflareOptions): Promise<Workerd> {
  const before = workerdChildren();
  const mf = new Miniflare(options);
  const url = (await mf.ready).toString();
  return { mf, url, pid: newWorkerd(before) };
}

/** /proc/<pid>/stat counts CPU time in clock ticks: USER_HZ, 100 on Linux. */
export const TICKS_PER_S = 100;

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

/**
 * BENCH_PIN=1: every workerd in `pids` on the last core, this process (clients and origin) on the
 * others (`taskset`), so the Worker's CPU per request is not mixed with the client's scheduling.
 * On the 2-core dev machine three pinned runs of bench-proxy gave new visitors' CPU ratio
 * 1.247–1.272, where unpinned runs spread 1.16–1.32. Says why when it cannot pin; returns whether it did.
 */
export function pinIfAsked(pids: (number | undefined)[]): boolean {
  if (process.env.BENCH_PIN !== "1") return false;
  const cores = os.availableParallelism();
  if (cores < 2 || pids.some((p) => p === undefined)) {
    console.error(`BENCH_PIN: not pinned (${cores} core(s), workerd pids ${pids.join(", ")}): running unpinned`);
    return false;
  }
  try {
    for (const pid of pids)
      execFileSync("taskset", ["-a", "-p", "-c", String(cores - 1), String(pid)], { stdio: "ignore" });
    execFileSync("taskset", ["-a", "-p", "-c", `0-${cores - 2}`, String(process.pid)], { stdio: "ignore" });
    return true;
  } catch (e) {
    console.error(`BENCH_PIN: taskset failed (${(e as Error).message}): running unpinned`);
    return false;
  }
}
