// Runs the project's own wrangler (node_modules) the way an operator would, for the CLI's KV access
// and for the scripts and tests that drive `wrangler dev`.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

/** Environment for every wrangler child: no telemetry, no fetch of Request.cf from the internet. */
export function wranglerEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_LOG_SANITIZE: "false",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };
}

/**
 * `wrangler <args>`. `signal` ends it (SIGTERM) and makes a call after it fired fail without starting
 * one: a demo stopping (scripts/demo.ts) must not leave a wrangler behind, which would start a
 * Miniflare of its own in a temp directory already removed (re-creating it) and outlive the demo.
 */
export function runWrangler(
  args: string[],
  opts: { input?: string; signal?: AbortSignal } = {},
): Promise<{ stdout: string; stderr: string }> {
  // execFile with an aborted signal still spawns, then kills: not even that.
  if (opts.signal?.aborted)
    return Promise.reject(
      Object.assign(new Error(`wrangler ${args.slice(0, 4).join(" ")} not run: stopping`), { name: "AbortError" }),
    );
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [WRANGLER, ...args],
      { cwd: ROOT, env: wranglerEnv(), maxBuffer: 16 << 20, signal: opts.signal },
      (err, stdout, stderr) => {
        if (err)
          reject(
            Object.assign(new Error(`wrangler ${args.slice(0, 4).join(" ")} failed: ${stderr || err.message}`), {
              name: err.name, // AbortError when the signal ended it
              stdout,
              stderr,
            }),
          );
        else resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
