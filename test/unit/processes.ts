// What runs on this machine, for the tests that check a stop left nothing behind (`ps`: Linux and macOS).
import { execFileSync } from "node:child_process";

/** Every process, with its parent and command line. */
export function processes(): { pid: number; ppid: number; args: string }[] {
  return execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] }));
}

/** Every process descended from `pid`, with its command line. */
export function descendants(pid: number): { pid: number; args: string }[] {
  const rows = processes();
  const found: { pid: number; args: string }[] = [];
  for (let todo = [pid]; todo.length;) {
    const p = todo.pop()!;
    for (const r of rows.filter((r) => r.ppid === p)) (found.push(r), todo.push(r.pid));
  }
  return found;
}

/** Whether `pid` still runs: a zombie waiting to be reaped does not (a container's init may never reap it). */
export function running(pid: number): boolean {
  try {
    return !execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" })
      .trim()
      .startsWith("Z");
  } catch {
    return false; // ps exits 1: no such process
  }
}
