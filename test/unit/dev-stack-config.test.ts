// The control config `npm start` and the e2e tests run (scripts/lib/dev-stack.ts): the operator's own
// [vars] table (NOTIFICATIONS naming real channels) is replaced by the local stack's, never merged.
import { expect, it } from "vitest";
import { withOwnVars } from "../../scripts/lib/dev-stack";

const CONFIG = `name = "edgeshift-control"
main = "src/control.ts"

[vars]
CONFIG_TTL_SECONDS = "5"
NOTIFICATIONS = '''
{ "destinations": [
[
  { "type": "slack", "name": "releases", "urlSecret": "SLACK_WEBHOOK_URL" } ] ] }
'''

[[kv_namespaces]]
binding = "ROLLOUT_CONFIG"
`;

it("replaces the operator's [vars] table, multi-line strings included, and keeps the rest", () => {
  const out = withOwnVars(CONFIG, { ADMIN_TOKEN: "t" });
  expect(out).not.toContain("SLACK_WEBHOOK_URL");
  expect(out).not.toContain("CONFIG_TTL_SECONDS");
  expect(out.match(/^\[vars\]$/gm)).toHaveLength(1);
  expect(out).toContain('[[kv_namespaces]]\nbinding = "ROLLOUT_CONFIG"');
  expect(out).toMatch(/^main = ".*\/src\/control\.ts"$/m);
  expect(out.endsWith('[vars]\nADMIN_TOKEN = "t"\n')).toBe(true);
});

it("a config without [vars] gets the stack's", () => {
  const out = withOwnVars('main = "src/control.ts"\n', { A: "1" });
  expect(out.endsWith('[vars]\nA = "1"\n')).toBe(true);
});
