// A real Prometheus server (Debian's `prometheus` package) scraping GET /__edgeshift/api/metrics of
// `wrangler dev` with the admin token, then asked through its HTTP API what edgeshift reported after
// a `wrangler kv key put --local` of the rollout. Skipped with a message where prometheus is absent.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";

const PROMETHEUS = "/usr/bin/prometheus";
const present = existsSync(PROMETHEUS);
if (!present)
  console.warn(
    `Prometheus e2e tests skipped: ${PROMETHEUS} is absent (apt-get install -y prometheus; .ci/run installs it)`,
  );

let stack: DevStack;
let prom: ChildProcess | undefined;
let promUrl: string;
let dir: string;
const promLogs: string[] = [];

interface QueryAnswer {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function query(q: string): Promise<QueryAnswer["data"]["result"]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`, {
    signal: AbortSignal.timeout(3000),
  });
  const j = (await r.json()) as QueryAnswer;
  if (j.status !== "success") throw new Error(`prometheus answered ${JSON.stringify(j)}`);
  return j.data.result;
}

describe.skipIf(!present)("Prometheus scraping wrangler dev", () => {
  beforeAll(async () => {
    stack = await startDevStack({ configTtlSeconds: 2 });
    dir = mkdtempSync(path.join(tmpdir(), "edgeshift-prom-"));
    const target = new URL(stack.url).host;
    // JSON is YAML: no YAML writer needed for a config this small.
    writeFileSync(
      path.join(dir, "prometheus.yml"),
      JSON.stringify({
        global: { scrape_interval: "1s", scrape_timeout: "1s" },
        scrape_configs: [
          {
            job_name: "edgeshift",
            metrics_path: "/__edgeshift/api/metrics",
            authorization: { credentials: stack.adminToken },
            static_configs: [{ targets: [target] }],
          },
        ],
      }),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    for (const s of [prom.stdout!, prom.stderr!]) s.on("data", (b: Buffer) => promLogs.push(...String(b).split("\n")));
    await waitFor("prometheus ready", async () => (await fetch(`${promUrl}/-/ready`)).ok, 30_000);
  }, 120_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once("exit", r));
      prom.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("scrapes the target (up) and sees the split percent written with wrangler kv key put", async () => {
    const diagnose = () => `prometheus' last lines:\n${promLogs.slice(-20).join("\n")}`;
    await waitFor(
      "the edgeshift target up",
      async () => (await query('up{job="edgeshift"}'))[0]?.value[1] === "1",
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${diagnose()}`);
    });

    await stack.putRollout({ percent: 30, release: "prom-1" });
    const [split] = await waitFor(
      "edgeshift_split_percent 30 in prometheus",
      async () => {
        const r = await query("edgeshift_split_percent");
        return r[0]?.value[1] === "30" ? r : null;
      },
      30_000,
    );
    expect(split.metric).toMatchObject({ job: "edgeshift", __name__: "edgeshift_split_percent" });

    const running = await query('edgeshift_state{state="running"}');
    expect(running[0]?.value[1]).toBe("1");
    const info = await query("edgeshift_info");
    expect(info[0]?.metric).toMatchObject({ release: "prom-1", canary: "green", stable: "blue" });
    // The histogram's buckets arrive as a series per le, cumulative, in seconds.
    const buckets = await query('edgeshift_window_request_duration_seconds_bucket{role="canary"}');
    expect(buckets.map((b) => b.metric.le)).toContain("+Inf");
  }, 90_000);

  it("answers the format's content type to the admin token only, and promtool finds nothing wrong in it", async () => {
    const url = `${stack.url}/__edgeshift/api/metrics`;
    expect((await fetch(url)).status).toBe(401);
    const r = await fetch(url, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toContain("edgeshift_reports_received_total ");
    // promtool comes in the same Debian package as prometheus.
    const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(`${check.stdout}${check.stderr}`.trim()).toBe("");
    expect(check.status).toBe(0);
  });
});
