// Three projects, one `npm test`:
//  - unit:   pure logic in plain Node (bucketing, schema, rules, windows) — fast.
//  - worker: the Worker and the Durable Object inside workerd, with real KV, real DOs and real
//            origin servers (test/worker/global-setup.ts) behind BLUE_ORIGIN / GREEN_ORIGIN. Its
//            main Worker is test/worker/entry.ts, the edge and control scripts in one (why: there),
//            with the control script's bindings (its Durable Objects are local to it).
//  - e2e:    `wrangler dev` with real origins and the real `wrangler kv key put --local`.
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            main: "./test/worker/entry.ts",
            wrangler: { configPath: "./wrangler.control.toml" },
            miniflare: {
              bindings: {
                BLUE_ORIGIN: inject("blueUrl"),
                GREEN_ORIGIN: inject("greenUrl"),
                ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
                OVERRIDE_SECRET: "test-override-secret",
                FLAGS_TOKEN: "test-flags-token-0123456789abcdef0123",
                CONFIG_TTL_SECONDS: "3",
              },
            },
          })),
        ],
        test: {
          name: "worker",
          include: ["test/worker/**/*.test.ts"],
          // Each SELF.fetch crosses real sockets to real origin servers (~60–100 ms here); a test of
          // 30 requests needs more than vitest's 5 s default on a loaded 2-core CI machine.
          testTimeout: 20_000,
          globalSetup: ["test/worker/global-setup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          // Each file starts its own wrangler dev; two cores do not fit more than one at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
