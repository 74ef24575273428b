// `npm run bench`: runs every scripts/bench-*.ts in turn, each in its own tsx child process (so one
// benchmark's JIT state and open sockets cannot colour the next), and prints each one's output.
// Exit code: non-zero if any benchmark failed to run (goals missed are printed, not failed).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => /^bench-.+\.ts$/.test(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const tsx = path.join(root, "node_modules", "tsx", "dist", "cli.mjs");
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const r = spawnSync(process.execPath, [tsx, path.join(here, f)], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  if (r.status !== 0) {
    failed++;
    console.log(`!!! ${f} exited with ${r.status ?? r.signal}`);
  }
}
console.log(`\n${files.length} benchmark(s) run, ${failed} failed to run.`);
process.exit(failed ? 1 : 0);
