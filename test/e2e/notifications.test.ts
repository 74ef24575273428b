// Notifications end to end: `wrangler dev` with both Workers, NOTIFICATIONS in the control
// Worker's vars and its secrets beside it, real traffic, the real `wrangler kv key put`, and a
// local receiver standing in for Slack, Teams, Discord, PagerDuty and a JSON endpoint. A canary
// that fails is rolled back and every destination hears of it in its own format; the next
// attempt's first healthy step resolves the PagerDuty incident; `edgeshift status` shows it all.
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startHookReceiver, type HookReceiver } from "../../scripts/lib/hook-receiver";
import { startTraffic, type Traffic } from "../../scripts/lib/traffic";
import { runCli } from "./cli-run";

const SIGNING = "whsec_" + Buffer.from("an-e2e-signing-key-of-32-bytes!!").toString("base64");
let stack: DevStack;
let hooks: HookReceiver;
let traffic: Traffic | undefined;

beforeAll(async () => {
  hooks = await startHookReceiver();
  stack = await startDevStack({
    notifications: {
      config: {
        statusUrl: "https://shop.example.com/__edgeshift/",
        destinations: [
          { type: "slack", name: "releases", urlSecret: "SLACK_WEBHOOK_URL" },
          { type: "teams", name: "teams", urlSecret: "TEAMS_WEBHOOK_URL", events: ["rollback"] },
          { type: "discord", name: "discord", urlSecret: "DISCORD_WEBHOOK_URL", events: ["rollback"] },
          {
            type: "pagerduty",
            name: "oncall",
            routingKeySecret: "PAGERDUTY_ROUTING_KEY",
            url: `${hooks.url}/pagerduty`,
            source: "e2e-edge",
          },
          { type: "json", name: "audit", urlSecret: "AUDIT_URL", signingSecret: "AUDIT_SIGNING_SECRET" },
        ],
      },
      secrets: {
        SLACK_WEBHOOK_URL: `${hooks.url}/slack`,
        TEAMS_WEBHOOK_URL: `${hooks.url}/teams`,
        DISCORD_WEBHOOK_URL: `${hooks.url}/discord`,
        PAGERDUTY_ROUTING_KEY: "e2eR0UTINGkey0123456789abcdef012",
        AUDIT_URL: `${hooks.url}/audit`,
        AUDIT_SIGNING_SECRET: SIGNING,
      },
    },
  });
});
afterAll(async () => {
  await traffic?.stop();
  await stack?.stop();
  await hooks?.close();
});

const at = (path: string) => hooks.received.filter((r) => r.path === path).map((r) => JSON.parse(r.body));

it("a rollback reaches every destination in its format; the next attempt's healthy step resolves the incident", async () => {
  await stack.putRollout({ percent: 50, release: "v9.0.0", rollback: { minRequests: 20, windowSeconds: 60 } });
  traffic = startTraffic({ url: stack.url, visitors: 300, rate: 40 });
  await waitFor("the canary to get traffic", async () => stack.green.hits > 20, 60_000, 300);
  stack.green.setMode({ errorRate: 1, failStatus: 500 });
  await waitFor(
    "the rollback to reach Slack",
    async () => at("/slack").some((b) => /rolled back/.test(b.text)),
    90_000,
    300,
  );
  stack.green.setMode({ errorRate: 0 });

  const slack = at("/slack").find((b) => /rolled back/.test(b.text));
  expect(slack.text).toMatch(/^edgeshift rolled back release v9\.0\.0 \(green\): /);
  expect(slack.blocks[0]).toEqual({
    type: "header",
    text: { type: "plain_text", text: ":rotating_light: Rolled back release v9.0.0 (green)", emoji: true },
  });
  expect(slack.blocks.at(-1).elements[0].url).toBe("https://shop.example.com/__edgeshift/");
  // Slack's default events include the attempt; Teams and Discord were given only rollbacks.
  expect(at("/slack")[0].text).toMatch(/^edgeshift new attempt release v9\.0\.0/);
  await waitFor(
    "Teams, Discord, PagerDuty and the JSON receiver",
    async () =>
      at("/teams").length > 0 &&
      at("/discord").length > 0 &&
      at("/pagerduty/v2/enqueue").length > 0 &&
      at("/audit").length > 1,
    30_000,
    300,
  );
  expect(at("/teams")).toHaveLength(1);
  expect(at("/teams")[0].attachments[0].content.body[0]).toMatchObject({
    text: "Rolled back release v9.0.0 (green)",
    color: "Attention",
  });
  expect(at("/discord")[0].embeds[0]).toMatchObject({ title: "Rolled back release v9.0.0 (green)", color: 0xd93f0b });
  expect(at("/pagerduty/v2/enqueue")[0]).toMatchObject({
    routing_key: "e2eR0UTINGkey0123456789abcdef012",
    event_action: "trigger",
    dedup_key: "e2e-edge/rollback/attempt-1",
    payload: { source: "e2e-edge", severity: "critical", class: "rollback", component: "canary green" },
  });
  // The signed JSON: verified with the Standard Webhooks library, as a receiver would.
  const audit = hooks.received.filter((r) => r.path === "/audit");
  const types = audit.map((r) => (new Webhook(SIGNING).verify(r.body, r.headers) as { type: string }).type);
  expect(types.slice(0, 2)).toEqual(["edgeshift.attempt", "edgeshift.rollback"]);

  // A new attempt with a plan: its first step is taken on a passing judgement, and resolves the incident.
  await stack.putRollout({
    release: "v9.0.1",
    steps: [10, 100],
    stepSeconds: 5,
    rollback: { minRequests: 5, windowSeconds: 60 },
  });
  await waitFor(
    "the incident to be resolved",
    async () => at("/pagerduty/v2/enqueue").some((b) => b.event_action === "resolve"),
    90_000,
    500,
  );
  expect(at("/pagerduty/v2/enqueue").find((b) => b.event_action === "resolve")).toEqual({
    routing_key: "e2eR0UTINGkey0123456789abcdef012",
    event_action: "resolve",
    dedup_key: "e2e-edge/rollback/attempt-1",
  });
  expect(at("/pagerduty/v2/change/enqueue").map((b) => b.payload.summary)).toContainEqual(
    expect.stringMatching(/^edgeshift new attempt release v9\.0\.1/),
  );

  const status = await runCli(["status"], { EDGESHIFT_URL: stack.url, EDGESHIFT_TOKEN: stack.adminToken });
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/notify {4}releases \(slack\): \d+ sent\n/);
  expect(status.stdout).toMatch(/notify {4}oncall \(pagerduty\): [2-9] sent\n/);
  expect(status.stdout).not.toMatch(/\d+ failed|cannot send|retrying event/);

  // Checking the destinations before a rollback needs them: one test message each, PagerDuty's a change event.
  const admin = { EDGESHIFT_URL: stack.url, EDGESHIFT_TOKEN: stack.adminToken };
  const before = at("/pagerduty/v2/enqueue").length;
  const test = await runCli(["notify", "test"], admin);
  expect(test.code, test.stderr).toBe(0);
  expect(test.stdout.trim().split("\n")).toEqual([
    "✔ releases (slack): answered 200",
    "✔ teams (teams): answered 200",
    "✔ discord (discord): answered 200",
    "✔ oncall (pagerduty): answered 202",
    "✔ audit (json): answered 200",
  ]);
  expect(at("/pagerduty/v2/enqueue")).toHaveLength(before);
  expect(at("/slack").at(-1).blocks[0].text.text).toBe(":information_source: Test message from edgeshift");
  const unknown = await runCli(["notify", "test", "relases"], admin);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(
    /no notification destination "relases" \(did you mean "releases"\?\): known are releases, teams/,
  );
});
