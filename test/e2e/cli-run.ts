// Runs the real `edgeshift` CLI (bin/edgeshift.mjs) as a child process, as a person or a CI job
// would: what the e2e tests share (not a test file itself).
import { execFile } from "node:child_process";
import path from "node:path";
import { ROOT } from "../../scripts/lib/dev-stack";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `edgeshift <args>` from the repository root, without colour; `env` is added to this process's. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, "bin", "edgeshift.mjs"), ...args],
      { cwd: ROOT, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1", ...env } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
