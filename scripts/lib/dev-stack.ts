// Starts the real stack a user runs locally: two origins and `wrangler dev` running both scripts,
// the edge Worker (wrangler.toml, the session's primary: its port is the URL) and the control Worker
// (wrangler.control.toml) in one session and one local state, with KV changed only through the real
// `wrangler kv key put --local`. Used by the e2e tests and by the demo.
//
// wrangler 4.86 runs several configs in one `wrangler dev` (`-c a -c b`): one workerd in which the
// edge's CONTROL service binding and its Durable Object bindings by script_name reach the control
// Worker, and KV namespaces with the same id are one store (the primary's --persist-to). What it
// gives only the primary: `--var` (the control's vars come from a copy of its config with a [vars]
// table, controlConfig below) and the Rate Limiting binding (the control Worker runs without
// AUTH_LIMITER there: its isolate's own FailureLimiter still counts failed tokens).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { startOrigin, type Origin } from "./origin-server";
import { processGroup } from "./process-group";
import { ROOT, WRANGLER, runWrangler, wranglerEnv } from "../../cli/wrangler";
import { FLAGS_KEY, ROLLOUT_KEY } from "../../src/model/names";
import { CONTROL_CONFIG } from "./worker-bundle";

export { ROOT, runWrangler, wranglerEnv };

export interface DevStack {
  blue: Origin;
  green: Origin;
  /** Base URL of the Worker under `wrangler dev`. */
  url: string;
  adminToken: string;
  persistDir: string;
  /** `wrangler kv key put --local rollout <json>` against this stack's local KV. */
  putRollout(doc: unknown): Promise<void>;
  /** `wrangler kv key put --local flags <json>`: the feature flags document (src/model/flags.ts). */
  putFlags(doc: unknown): Promise<void>;
  /** `wrangler kv key get --local rollout`, parsed (null if missing). */
  getRollout(): Promise<any | null>;
  /** `wrangler kv key get --local flags`, parsed (null if missing). */
  getFlags(): Promise<any | null>;
  /** Every line wrangler dev printed so far (the Worker's console.log included). */
  logs: string[];
  stop(): Promise<void>;
}

export interface DevStackOptions {
  bluePort?: number;
  greenPort?: number;
  port?: number;
  adminToken?: string;
  overrideSecret?: string;
  webhookUrl?: string;
  /** The control Worker's NOTIFICATIONS and the secrets it names (as vars: `wrangler dev` reads secrets from them too). */
  notifications?: { config: object; secrets: Record<string, string> };
  configTtlSeconds?: number;
  /** Echo wrangler's output to this process's stderr. */
  verbose?: boolean;
  persistDir?: string;
  /**
   * Stops waiting for wrangler dev: the stack is stopped and startDevStack rejects (a Ctrl-C while it
   * starts). Later it ends a `wrangler kv` of the get/put methods under way and refuses new ones.
   */
  signal?: AbortSignal;
}

// wrangler dev runs in its own process group (so that stop() ends workerd with it), which a terminal's
// Ctrl-C does not reach: if this process exits with a stack still running (an exception, a second
// Ctrl-C that leaves at once), nothing else would stop it and port 8787 stays held. The 'exit' event
// allows only synchronous work: a SIGKILL to the group and the temp directories removed.
const running = new Set<() => void>();
let exitHook = false;
function killOnExit(kill: () => void): () => void {
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const k of running) k();
    });
  }
  running.add(kill);
  return () => running.delete(kill);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The control Worker's config as a copy in `dir`: `main` made absolute, `vars` as its [vars] table. */
export function controlConfig(dir: string, vars: Record<string, string>): string {
  const file = path.join(dir, CONTROL_CONFIG);
  writeFileSync(file, withOwnVars(readFileSync(path.join(ROOT, CONTROL_CONFIG), "utf8"), vars));
  return file;
}

/**
 * The control config's text with `main` made absolute and its [vars] table replaced by `vars`. The
 * operator's own table (NOTIFICATIONS naming real channels, TTLs) is for the deployed Worker: a
 * local demo or test must never notify a real channel, and TOML refuses a second [vars] table.
 */
export function withOwnVars(text: string, vars: Record<string, string>): string {
  const main = /^main\s*=\s*"([^"]+)"/m.exec(text);
  if (!main) throw new Error(`${CONTROL_CONFIG} has no main = "…" line`);
  const kept: string[] = [];
  let inVars = false;
  // Inside a multi-line ''' or """ string, a line starting with "[" is no table header.
  let inString = false;
  for (const line of text.replace(main[0], `main = ${JSON.stringify(path.join(ROOT, main[1]))}`).split("\n")) {
    if (!inString && /^\s*\[/.test(line)) inVars = /^\s*\[vars\]\s*(#.*)?$/.test(line);
    if ((line.match(/'''|"""/g) ?? []).length % 2 === 1) inString = !inString;
    if (!inVars) kept.push(line);
  }
  const table = Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
  return `${kept.join("\n")}\n[vars]\n${table.join("\n")}\n`;
}

export async function startDevStack(opts: DevStackOptions = {}): Promise<DevStack> {
  const blue = await startOrigin("blue", opts.bluePort ?? 0);
  const green = await startOrigin("green", opts.greenPort ?? 0);
  const port = opts.port ?? (await freePort());
  const inspector = await freePort();
  const persistDir = opts.persistDir ?? mkdtempSync(path.join(os.tmpdir(), "edgeshift-dev-"));
  const ownsPersist = !opts.persistDir;
  const adminToken = opts.adminToken ?? "dev-admin-token-0123456789abcdef";
  const vars: Record<string, string> = {
    BLUE_ORIGIN: blue.url,
    GREEN_ORIGIN: green.url,
    ADMIN_TOKEN: adminToken,
    CONFIG_TTL_SECONDS: String(opts.configTtlSeconds ?? 2),
    // The tests and the demo change flags and watch the change arrive: as fresh as the rollout.
    FLAGS_TTL_SECONDS: String(opts.configTtlSeconds ?? 2),
    FLAGS_MISSING_TTL_SECONDS: String(opts.configTtlSeconds ?? 2),
  };
  if (opts.overrideSecret) vars.OVERRIDE_SECRET = opts.overrideSecret;
  // The control Worker's: the same token, TTLs and override secret (OFREP, the admin status), the webhook.
  const { BLUE_ORIGIN: _b, GREEN_ORIGIN: _g, ...controlVars } = vars;
  if (opts.webhookUrl) controlVars.WEBHOOK_URL = opts.webhookUrl;
  if (opts.notifications)
    Object.assign(controlVars, opts.notifications.secrets, {
      NOTIFICATIONS: JSON.stringify(opts.notifications.config),
    });
  const configDir = mkdtempSync(path.join(os.tmpdir(), "edgeshift-control-"));
  const args = [
    WRANGLER,
    "dev",
    "-c",
    path.join(ROOT, "wrangler.toml"),
    "-c",
    controlConfig(configDir, controlVars),
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspector),
    "--persist-to",
    persistDir,
    "--show-interactive-dev-session=false",
    "--log-level",
    "log",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const logs: string[] = [];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: wranglerEnv(),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const onData = (b: Buffer) => {
    for (const line of b.toString().split("\n")) if (line.trim()) logs.push(line);
    if (opts.verbose) process.stderr.write(b);
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  let exited = false;
  child.on("exit", () => (exited = true));
  const removeDirs = () => {
    rmSync(configDir, { recursive: true, force: true });
    if (ownsPersist) rmSync(persistDir, { recursive: true, force: true });
  };
  // The group, not the child: wrangler's CLI and workerd can outlive its bin by a second or more.
  const group = processGroup(child);
  const forget = killOnExit(() => {
    group.signal("SIGKILL");
    removeDirs();
  });

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await group.stop(5000);
    forget();
    await blue.close();
    await green.close();
    removeDirs();
  };

  // Ready when the Worker itself answers (wrangler prints "Ready" before workerd has loaded it);
  // healthz is the control Worker's, reached through the edge's service binding: both are up.
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before it was ready:\n${logs.slice(-30).join("\n")}`);
    }
    if (opts.signal?.aborted) {
      await stop();
      throw new Error("stopped before wrangler dev was ready");
    }
    try {
      const r = await fetch(url + "/__edgeshift/healthz", { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      // 503 is the edge saying the control Worker did not answer (yet): not ready.
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev not ready after 90 s:\n${logs.slice(-30).join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }

  const kvArgs = ["--binding", "ROLLOUT_CONFIG", "--local", "--persist-to", persistDir];
  const put = async (key: string, doc: unknown) => {
    await runWrangler(["kv", "key", "put", key, typeof doc === "string" ? doc : JSON.stringify(doc), ...kvArgs], {
      signal: opts.signal,
    });
  };
  const get = async (key: string) => {
    try {
      const { stdout } = await runWrangler(["kv", "key", "get", key, "--text", ...kvArgs], { signal: opts.signal });
      const text = stdout.trim();
      if (!text || /value not found/i.test(text)) return null;
      return JSON.parse(text);
    } catch (e: any) {
      if (/not found/i.test(String(e.stderr ?? e.message))) return null;
      throw e;
    }
  };
  return {
    blue,
    green,
    url,
    adminToken,
    persistDir,
    logs,
    putRollout: (doc) => put(ROLLOUT_KEY, doc),
    getRollout: () => get(ROLLOUT_KEY),
    putFlags: (doc) => put(FLAGS_KEY, doc),
    getFlags: () => get(FLAGS_KEY),
    stop,
  };
}

/** Poll `fn` until it returns a truthy value or `ms` pass; returns the value, throws on timeout. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  ms = 30_000,
  every = 250,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`,
      );
    await new Promise((r) => setTimeout(r, every));
  }
}
