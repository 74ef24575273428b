// A child spawned `detached` leads a process group of its own; what it starts (wrangler's bin starts
// its CLI, which starts workerd) stays in that group and can outlive it. Signalling the group, not
// the child, reaches them all. The group's id is the child's pid, which the system may give to a new
// process once the group is empty: after that a signal to it could reach someone else's group, so a
// group whose leader ended on its own is killed whole at once and never signalled again.
import type { ChildProcess } from "node:child_process";

export interface ProcessGroup {
  /** `kill(-pgid, signal)`; false once nobody is left in it (or it was let go). 0 asks whether anyone is. */
  signal(signal: NodeJS.Signals | 0): boolean;
  /** SIGTERM, up to `graceMs` for the group to empty, then SIGKILL; the group is let go. */
  stop(graceMs: number): Promise<void>;
}

export function processGroup(child: ChildProcess): ProcessGroup {
  let gone = child.pid === undefined;
  let stopping = false;
  const signal = (s: NodeJS.Signals | 0): boolean => {
    if (gone) return false;
    try {
      return process.kill(-child.pid!, s);
    } catch {
      return false; // ESRCH: nobody left in it
    }
  };
  child.once("exit", () => {
    if (stopping) return; // stop() waits for the rest of the group itself
    signal("SIGKILL");
    gone = true;
  });
  return {
    signal,
    async stop(graceMs) {
      stopping = true;
      signal("SIGTERM");
      for (const until = Date.now() + graceMs; signal(0) && Date.now() < until;)
        await new Promise((r) => setTimeout(r, 100));
      signal("SIGKILL");
      gone = true;
    },
  };
}
