// The controller's notifications inside workerd against a real local receiver (global-setup's
// hook receiver, one path per destination): each format as it arrives, PagerDuty's incident
// resolved by the next healthy attempt, retries with backoff in order, failures in status and in
// the event log, and a queue that outlives a restart. Time moves with the controller's clock seam
// and alarms run with runDurableObjectAlarm: no test sleeps for a backoff.
import { abortAllDurableObjects, env, runInDurableObject, SELF } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import type { RolloutController } from "../../src/controller/durable-object";
import type { ControllerRpc } from "../../src/controller/rpc";
import { ControllerStore } from "../../src/controller/store";
import { MAX_WAITING } from "../../src/controller/notifier";
import {
  alarm,
  clockAhead,
  controllerById,
  counters,
  freshController,
  putDoc,
  refusal,
  report,
} from "./controller-helpers";

/** What scripts/lib/hook-receiver.ts recorded of one POST. */
type Received = { path: string; headers: Record<string, string>; body: string };
const hooks = () => inject("hooksUrl");
const SIGNING = "whsec_" + btoa("a-32-byte-signing-key-for-tests!");
let n = 0;
let current: ControllerRpc | null = null;
afterEach(async () => {
  await current?.settle();
  current = null;
});

/** A fresh controller whose destinations are paths under a prefix of its own on the receiver. */
async function withDestinations(
  destinations: object[] | ((prefix: string) => object[]),
  extra: Record<string, string> = {},
  statusUrl?: string,
) {
  const prefix = `/t${Date.now()}-${n++}`;
  const c = (current = freshController());
  const override = {
    config: {
      ...(statusUrl ? { statusUrl } : {}),
      destinations: typeof destinations === "function" ? destinations(prefix) : destinations,
    },
    secrets: {
      SLACK_URL: `${hooks()}${prefix}/slack`,
      TEAMS_URL: `${hooks()}${prefix}/teams`,
      DISCORD_URL: `${hooks()}${prefix}/discord`,
      PD_KEY: "R0UTINGKEY0123456789abcdef012345",
      JSON_KEY: SIGNING,
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v.replace("{prefix}", prefix)])),
    },
  };
  await setOverride(c, override);
  return { c: c as ControllerRpc & { id: DurableObjectId }, prefix, override };
}

async function setOverride(c: ControllerRpc, override: RolloutController["notificationsOverride"]) {
  await runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (o) => {
    o.notificationsOverride = override;
  });
}

const ALL = (prefix: string) => [
  { type: "slack", name: "releases", urlSecret: "SLACK_URL" },
  { type: "teams", name: "teams", urlSecret: "TEAMS_URL" },
  { type: "discord", name: "discord", urlSecret: "DISCORD_URL" },
  { type: "pagerduty", name: "oncall", routingKeySecret: "PD_KEY", url: `${hooks()}${prefix}/pd`, source: "shop-edge" },
  { type: "json", name: "audit", url: `${hooks()}${prefix}/json`, signingSecret: "JSON_KEY" },
];

async function received(prefix: string): Promise<Received[]> {
  const all = (await (await fetch(`${hooks()}/__hooks`)).json()) as Received[];
  return all.filter((r) => r.path.startsWith(prefix + "/"));
}
const bodies = async (prefix: string, path: string) =>
  (await received(prefix)).filter((r) => r.path === `${prefix}${path}`).map((r) => JSON.parse(r.body));

async function rollBack(c: ControllerRpc, release = "v7") {
  const { fp } = await putDoc({ percent: 10, release, rollback: { minRequests: 20 } });
  const v = await c.report(report(fp, counters(40, 20), counters(100)));
  expect(v.doc?.rolledBack).toBeDefined();
  await c.settle();
}

const rollbackRules = { minRequests: 20, windowSeconds: 60 };

/** A new attempt of `release`, seen by a status read `ahead` seconds on (KV is read at most once a second). */
async function newAttempt(c: ControllerRpc, release: string, ahead: number) {
  await putDoc({ release, percent: 10, rollback: rollbackRules });
  await clockAhead(c, ahead);
  expect((await c.status()).config.doc.release).toBe(release);
  await c.settle();
}

describe("each destination in its format", () => {
  it("a rollback reaches Slack, Teams, Discord, PagerDuty and the signed JSON receiver; the next attempt's healthy step resolves the incident", async () => {
    const { c, prefix } = await withDestinations(ALL, {}, "https://shop.example.com/__edgeshift/");

    await rollBack(c);

    const [slack] = (await bodies(prefix, "/slack")).filter((b) => b.text.includes("rolled back"));
    expect(slack.text).toMatch(/^edgeshift rolled back release v7 \(green\): canary/);
    expect(slack.blocks[0].text.text).toBe(":rotating_light: Rolled back release v7 (green)");
    expect(slack.blocks.at(-1).elements[0].url).toBe("https://shop.example.com/__edgeshift/");

    const teams = (await bodies(prefix, "/teams")).find((b) =>
      b.attachments[0].content.body[0].text.startsWith("Rolled back"),
    );
    expect(teams.attachments[0].content.body[0].color).toBe("Attention");

    const discord = (await bodies(prefix, "/discord")).find((b) => b.embeds[0].title.startsWith("Rolled back"));
    expect(discord.embeds[0].color).toBe(0xd93f0b);

    const pd = await bodies(prefix, "/pd/v2/enqueue");
    expect(pd).toHaveLength(1);
    expect(pd[0]).toMatchObject({
      routing_key: "R0UTINGKEY0123456789abcdef012345",
      event_action: "trigger",
      dedup_key: "shop-edge/rollback/attempt-1",
      payload: { source: "shop-edge", severity: "critical", class: "rollback" },
    });
    // The new attempt's start went as a change event, before the rollback's incident.
    expect((await bodies(prefix, "/pd/v2/change/enqueue"))[0].payload.summary).toMatch(
      /^edgeshift new attempt release v7/,
    );

    const signed = (await received(prefix)).filter((r) => r.path === `${prefix}/json`);
    const verified = signed.map((r) => new Webhook(SIGNING).verify(r.body, r.headers) as { type: string });
    expect(verified.map((v) => v.type)).toEqual(["edgeshift.attempt", "edgeshift.rollback"]);

    let s = await c.status();
    expect(s.notifications!.destinations.find((d) => d.name === "oncall")).toMatchObject({
      sent: 2,
      failed: 0,
      waiting: 0,
      openIncidents: ["shop-edge/rollback/attempt-1"],
    });

    // A new attempt: starting is no proof of health; its first step, taken on a passing judgement, is.
    await putDoc({ release: "v8", steps: [10, 100], stepSeconds: 60, rollback: rollbackRules });
    await c.view();
    await c.settle();
    expect((await bodies(prefix, "/pd/v2/enqueue")).map((b) => b.event_action)).toEqual(["trigger"]);
    const fp = (await c.status()).config.fingerprint;
    await c.report(report(fp, counters(30), counters(270)));
    await clockAhead(c, 61);
    await alarm(c);
    const after = await bodies(prefix, "/pd/v2/enqueue");
    expect(after.map((b) => b.event_action)).toEqual(["trigger", "resolve"]);
    expect(after[1]).toEqual({
      routing_key: "R0UTINGKEY0123456789abcdef012345",
      event_action: "resolve",
      dedup_key: "shop-edge/rollback/attempt-1",
    });
    s = await c.status();
    expect(s.notifications!.destinations.find((d) => d.name === "oncall")!.openIncidents).toEqual([]);
    expect((await bodies(prefix, "/slack")).map((b) => b.blocks[0].text.text)).toContain(
      ":information_source: Plan step release v8 (green)",
    );
  });
});

describe("notify test", () => {
  it("one message to each destination now, whatever its events; PagerDuty a change event; each outcome said", async () => {
    const { c, prefix } = await withDestinations((prefix) => [
      // Only rollbacks, which this test has none of: what arrives is the test message alone.
      ...ALL(prefix)
        .slice(0, 3)
        .map((d) => ({ ...d, events: ["rollback"] })),
      {
        type: "pagerduty",
        name: "oncall",
        routingKeySecret: "PD_KEY",
        events: ["rollback"],
        changeEvents: [],
        source: "shop-edge",
        url: `${hooks()}${prefix}/pd`,
      },
      { type: "json", name: "audit", url: `${hooks()}${prefix}/json`, signingSecret: "JSON_KEY", events: ["rollback"] },
      { type: "slack", name: "broken", urlSecret: "NOT_PUT", events: ["rollback"] },
    ]);
    await fetch(`${hooks()}/__hooks/script?path=${prefix}/discord`, {
      method: "PUT",
      // A receiver quoting the URL (the credential) and sending a terminal escape: neither is shown.
      body: JSON.stringify([{ status: 404, body: `Unknown Webhook at ${hooks()}${prefix}/discord\u001b[2J` }]),
    });
    const results = await c.testNotifications("alice");
    expect(results).toEqual([
      { name: "releases", type: "slack", ok: true, detail: "answered 200" },
      { name: "teams", type: "teams", ok: true, detail: "answered 200" },
      { name: "discord", type: "discord", ok: false, detail: "answered 404: Unknown Webhook at <secret> [2J" },
      { name: "oncall", type: "pagerduty", ok: true, detail: "answered 202" },
      { name: "audit", type: "json", ok: true, detail: "answered 200" },
      {
        name: "broken",
        type: "slack",
        ok: false,
        detail: "the secret NOT_PUT is not set: `wrangler secret put NOT_PUT -c wrangler.control.toml`",
      },
    ]);
    const [slack] = await bodies(prefix, "/slack");
    expect(slack.blocks[0].text.text).toBe(":information_source: Test message from edgeshift");
    expect(slack.text).toMatch(/^edgeshift test message: a test message sent by alice/);
    expect(await bodies(prefix, "/pd/v2/enqueue")).toEqual([]);
    expect(await bodies(prefix, "/pd/v2/change/enqueue")).toHaveLength(1);
    const [json] = (await received(prefix)).filter((r) => r.path === `${prefix}/json`);
    expect((new Webhook(SIGNING).verify(json.body, json.headers) as { type: string }).type).toBe("edgeshift.test");
    // Nothing queued, counted or recorded: a test is not an event.
    const s = await c.status();
    expect(s.notifications!.destinations.every((d) => d.sent === 0 && d.failed === 0 && d.waiting === 0)).toBe(true);
    expect((await c.history(10)).map((e) => e.kind)).not.toContain("webhook-failed");
    expect(await refusal(c.testNotifications("alice", "relases"))).toMatch(
      /no notification destination "relases" \(did you mean "releases"\?\): known are releases, teams, discord, oncall, audit, broken/,
    );
  });

  it("through the admin API: the token's name is the sender; an unknown destination is a 409", async () => {
    const post = (body: unknown) =>
      SELF.fetch("https://edge.test/__edgeshift/api/notifications/test", {
        method: "POST",
        headers: { authorization: "Bearer test-admin-token-0123456789abcdef" },
        body: JSON.stringify(body),
      });
    const all = await post({});
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ results: [] });
    const unknown = await post({ destination: "releases" });
    expect(unknown.status).toBe(409);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/none is configured \(NOTIFICATIONS\)/);
    const bad = await post({ destination: "no spaces" });
    expect(bad.status).toBe(400);
  });
});

describe("config rejected", () => {
  it("an invalid flags document: one config-error event per bad version, sent as such", async () => {
    const { c, prefix } = await withDestinations([{ type: "slack", name: "releases", urlSecret: "SLACK_URL" }]);
    await env.ROLLOUT_CONFIG.put("flags", JSON.stringify({ flags: { "new-checkout": { rollout: { percent: 150 } } } }));
    await c.status();
    await clockAhead(c, 2); // flags are read at most once a second
    await c.status();
    await c.settle();
    // The flags are read beside the status, which does not wait long for them: the event may follow.
    const rejected = await vi.waitFor(
      async () => {
        const r = (await c.history(10)).filter((e) => e.kind === "config-error");
        if (r.length === 0) throw new Error("no config-error event yet");
        return r;
      },
      { timeout: 10_000, interval: 100 },
    );
    await c.status();
    expect((await c.history(10)).filter((e) => e.kind === "config-error")).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ data: { document: "flags" } });
    expect(rejected[0].reason).toMatch(
      /^flags document in KV rejected, last good kept: flags\.new-checkout\.rollout\.percent/,
    );
    const [slack] = await bodies(prefix, "/slack");
    expect(slack.blocks[0].text.text).toMatch(/^:rotating_light: Invalid flags document/);
    await env.ROLLOUT_CONFIG.delete("flags");
  });
});

describe("when the receiver fails", () => {
  it("429 and 503 are retried with backoff, in order; status shows the one waiting; then both arrive", async () => {
    const { c, prefix } = await withDestinations([
      { type: "slack", name: "releases", urlSecret: "SLACK_URL", events: ["attempt", "rollback"] },
    ]);
    await fetch(`${hooks()}/__hooks/script?path=${prefix}/slack`, {
      method: "PUT",
      body: JSON.stringify([{ status: 503 }, { status: 429, retryAfter: "20" }]),
    });
    await rollBack(c);
    let d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({
      sent: 0,
      failed: 0,
      waiting: 2,
      retrying: { kind: "attempt", tries: 1, error: "answered 503: scripted 503" },
    });
    // The rollback waits behind the attempt: a destination's messages arrive in order.
    expect(await received(prefix)).toHaveLength(1);

    // Not due yet: the alarm sends nothing.
    await alarm(c);
    expect(await received(prefix)).toHaveLength(1);

    await clockAhead(c, 3);
    await alarm(c);
    d = (await c.status()).notifications!.destinations[0];
    expect(d.retrying).toMatchObject({ tries: 2, error: "answered 429: scripted 429" });
    // Retry-After 20 s is longer than the 10 s backoff: it is honoured.
    const waitMs = Date.parse(d.retrying!.nextAt) - (Date.now() + 3_000);
    expect(waitMs).toBeGreaterThan(18_000);
    expect(waitMs).toBeLessThan(21_000);

    await clockAhead(c, 24);
    await alarm(c);
    d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 2, failed: 0, waiting: 0, retrying: null, lastSent: { kind: "rollback" } });
    const texts = (await received(prefix)).map((r) => JSON.parse(r.body).text as string);
    expect(texts.map((t) => t.split(" ")[1])).toEqual(["new", "new", "new", "rolled"]);
  });

  it("a 404 is given up at once: counted, shown with the receiver's words, an event names it; the rollback stands", async () => {
    const { c, prefix } = await withDestinations([
      { type: "discord", name: "discord", urlSecret: "DISCORD_URL", events: ["rollback"] },
    ]);
    await fetch(`${hooks()}/__hooks/script?path=${prefix}/discord`, {
      method: "PUT",
      body: JSON.stringify([{ status: 404, body: '{"message": "Unknown Webhook", "code": 10015}' }]),
    });
    await rollBack(c);
    const s = await c.status();
    expect(s.state).toBe("rolled-back");
    expect(s.notifications!.destinations[0]).toMatchObject({
      sent: 0,
      failed: 1,
      waiting: 0,
      lastFailure: { kind: "rollback", tries: 1, error: 'answered 404: {"message": "Unknown Webhook", "code": 10015}' },
    });
    const failed = (await c.history(10)).find((e) => e.kind === "webhook-failed")!;
    expect(failed.reason).toMatch(
      /^notification to "discord" for event \d+ \(rollback\) given up after 1 try: answered 404/,
    );
    expect(await received(prefix)).toHaveLength(1);
  });

  it("a secret not set: status names it and the command; nothing is sent, the other destinations are", async () => {
    const { c, prefix } = await withDestinations([
      { type: "teams", name: "teams", urlSecret: "NOT_PUT", events: ["rollback"] },
      { type: "slack", name: "releases", urlSecret: "SLACK_URL", events: ["rollback"] },
    ]);
    await rollBack(c);
    const [teams, slack] = (await c.status()).notifications!.destinations;
    expect(teams).toMatchObject({
      problem: "the secret NOT_PUT is not set: `wrangler secret put NOT_PUT -c wrangler.control.toml`",
      failed: 1,
      lastFailure: { tries: 1, error: expect.stringMatching(/NOT_PUT is not set/) },
    });
    expect(slack).toMatchObject({ problem: null, sent: 1 });
    expect((await received(prefix)).map((r) => r.path)).toEqual([`${prefix}/slack`]);
  });

  it("an invalid NOTIFICATIONS: status says why and nothing in it is sent", async () => {
    const { c, prefix } = await withDestinations([
      { type: "slack", name: "releases", url: "https://hooks.slack.com/x" },
    ]);
    await rollBack(c);
    const s = await c.status();
    expect(s.notifications!.problem).toMatch(
      /^NOTIFICATIONS is invalid, nothing in it is used: destinations\.0\.urlSecret: required/,
    );
    expect(s.notifications!.destinations).toEqual([]);
    expect(await received(prefix)).toEqual([]);
  });
});

describe("the queue", () => {
  it("a destination waiting to retry with messages behind it: the alarm is set at its next try, not in the past", async () => {
    const { c, prefix } = await withDestinations([
      { type: "slack", name: "releases", urlSecret: "SLACK_URL", events: ["attempt", "rollback"] },
    ]);
    await fetch(`${hooks()}/__hooks/script?path=${prefix}/slack`, {
      method: "PUT",
      body: JSON.stringify([{ status: 503 }]),
    });
    const before = Date.now();
    await rollBack(c);
    expect((await c.status()).notifications!.destinations[0]).toMatchObject({ waiting: 2, retrying: { tries: 1 } });
    // The rollback's row, queued behind, was due at once; the alarm must still wait for the head
    // (a wake in the past rang again and again, doing nothing, until the head's backoff ended).
    const alarmAt = await runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (_o, state) =>
      state.storage.getAlarm(),
    );
    expect(alarmAt).toBeGreaterThan(before + 1_500);
  });

  it("while NOTIFICATIONS is invalid nothing queued is lost; a destination removed is dropped, counted, said once", async () => {
    const { c, prefix, override } = await withDestinations([
      { type: "slack", name: "releases", urlSecret: "SLACK_URL", events: ["attempt", "rollback"] },
      { type: "discord", name: "discord", urlSecret: "DISCORD_URL", events: ["rollback"] },
    ]);
    await fetch(`${hooks()}/__hooks/script?path=${prefix}/slack`, {
      method: "PUT",
      body: JSON.stringify([{ status: 503 }, { status: 503 }, { status: 503 }]),
    });
    await rollBack(c);
    // A bad deploy of the variable: nothing is sent, nothing dropped.
    await setOverride(c, { ...override, config: { destinations: [{ type: "slak" }] } });
    await clockAhead(c, 3);
    await alarm(c);
    expect((await received(prefix)).filter((r) => r.path.endsWith("/slack"))).toHaveLength(1);
    // Fixed (a deploy): the queue is looked at again within a minute and goes on where it was.
    await setOverride(c, override);
    await clockAhead(c, 65);
    await alarm(c);
    expect((await received(prefix)).filter((r) => r.path.endsWith("/slack"))).toHaveLength(2);
    expect((await c.status()).notifications!.destinations[0]).toMatchObject({ name: "releases", waiting: 2 });

    // Slack removed for good: its two queued messages are dropped, with one event that says so.
    await setOverride(c, { ...override, config: { destinations: [override.config.destinations[1]] } });
    await clockAhead(c, 200);
    await alarm(c);
    const s = await c.status();
    expect(s.notifications!.destinations.map((d) => d.name)).toEqual(["discord"]);
    const dropped = (await c.history(20)).filter((e) => e.kind === "webhook-failed");
    expect(dropped).toHaveLength(1);
    expect(dropped[0].reason).toMatch(
      /^notification to "releases" for event \d+ \(attempt\) given up after 2 tries: the destination was removed from NOTIFICATIONS: 2 queued message\(s\) dropped$/,
    );
  });
});

/** One PagerDuty destination, "oncall", whose Events API is this test's receiver under `prefix`. */
const PD = (prefix: string) => [
  {
    type: "pagerduty",
    name: "oncall",
    routingKeySecret: "PD_KEY",
    url: `${hooks()}${prefix}/pd`,
    source: "shop-edge",
  },
];

describe("PagerDuty's two lanes", () => {
  const script = (prefix: string, path: string, answers: object[]) =>
    fetch(`${hooks()}/__hooks/script?path=${prefix}${path}`, { method: "PUT", body: JSON.stringify(answers) });

  it("a change event retrying never holds the page behind it: the trigger arrives at once, the change event later", async () => {
    const { c, prefix } = await withDestinations(PD);
    // Retry-After keeps the real clock out of it: the retries come when this test moves the clock.
    await script(prefix, "/pd/v2/change/enqueue", [{ status: 503, retryAfter: "20" }, { status: 503 }]);
    // The attempt's change event fails first, then the rollback's trigger is queued.
    await rollBack(c);
    expect((await bodies(prefix, "/pd/v2/enqueue")).map((b) => b.event_action)).toEqual(["trigger"]);
    let d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({
      sent: 1,
      waiting: 1,
      openIncidents: ["shop-edge/rollback/attempt-1"],
      retrying: { kind: "attempt", tries: 1, lane: "change", error: "answered 503: scripted 503" },
    });
    expect(d.retryingChange).toBeUndefined();

    await clockAhead(c, 21);
    await alarm(c);
    expect((await c.status()).notifications!.destinations[0].retrying).toMatchObject({ tries: 2, lane: "change" });
    await clockAhead(c, 34);
    await alarm(c);
    d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 2, failed: 0, waiting: 0, retrying: null });
    const paths = (await received(prefix)).map((r) => r.path.slice(prefix.length));
    expect(paths).toEqual([
      "/pd/v2/change/enqueue",
      "/pd/v2/enqueue",
      "/pd/v2/change/enqueue",
      "/pd/v2/change/enqueue",
    ]);
    // The same message on every try of the change event.
    const tries = await bodies(prefix, "/pd/v2/change/enqueue");
    expect(new Set(tries.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it("and the other way: a page retrying never holds a change event; both waiting, the page's is shown first and the alarm is at the earlier", async () => {
    const { c, prefix } = await withDestinations(PD);
    await script(prefix, "/pd/v2/enqueue", [{ status: 503, retryAfter: "30" }, { status: 503 }]);
    await rollBack(c);
    // A new attempt's change event goes out while the rollback's trigger waits for its retry.
    await newAttempt(c, "v8", 2);
    expect((await bodies(prefix, "/pd/v2/change/enqueue")).map((b) => b.payload.summary.split(" ")[4])).toEqual([
      "v7",
      "v8",
    ]);
    let d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 2, waiting: 1, retrying: { kind: "rollback", tries: 1 } });
    expect(d.retrying!.lane).toBeUndefined();

    // Now both lanes wait: the page's retry first, the change event's beside it.
    // Queued later, due earlier: the alarm follows the change event's head.
    await script(prefix, "/pd/v2/change/enqueue", [{ status: 500, retryAfter: "20" }]);
    await newAttempt(c, "v9", 4);
    d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({
      waiting: 2,
      retrying: { kind: "rollback", tries: 1 },
      retryingChange: { kind: "attempt", tries: 1, lane: "change", error: "answered 500: scripted 500" },
    });
    // The object's own clock (moved ahead by the test), not this test's wall clock.
    const [alarmAt, now] = await runInDurableObject(
      c as unknown as DurableObjectStub<RolloutController>,
      async (o, state) => [await state.storage.getAlarm(), o.clock()] as const,
    );
    const heads = [d.retrying!, d.retryingChange!].map((r) => Date.parse(r.nextAt));
    // Never in the past while a head waits, never later than the earlier head.
    expect(heads[1]).toBeLessThan(heads[0]);
    expect(alarmAt).toBeGreaterThan(now);
    expect(alarmAt).toBeLessThanOrEqual(heads[1]);
    expect(heads[1] - alarmAt!).toBeLessThan(1_000);

    await clockAhead(c, 31);
    await alarm(c);
    d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 3, waiting: 1, retrying: { kind: "rollback", tries: 2 } });
    expect(d.retryingChange).toBeUndefined();
    await clockAhead(c, 44);
    await alarm(c);
    d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 4, failed: 0, waiting: 0, retrying: null });
    expect((await bodies(prefix, "/pd/v2/enqueue")).map((b) => b.event_action)).toEqual([
      "trigger",
      "trigger",
      "trigger",
    ]);
  });

  it("rows stored before lanes existed are read as the first lane, in order", async () => {
    const c = (current = freshController());
    await runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (_o, state) => {
      const sql = state.storage.sql;
      sql.exec(`DROP TABLE notification`);
      sql.exec(`CREATE TABLE notification (
        id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, event_id INTEGER NOT NULL,
        kind TEXT NOT NULL, message_id TEXT NOT NULL, outgoing TEXT NOT NULL,
        tries INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, error TEXT)`);
      for (const [id, path] of [
        [1, "/v2/change/enqueue"],
        [2, "/v2/enqueue"],
      ] as const)
        sql.exec(
          `INSERT INTO notification (destination, event_id, kind, message_id, outgoing, next_at) VALUES ('oncall', ?, 'attempt', 'm', ?, 0)`,
          id,
          JSON.stringify({ path, body: {} }),
        );
      const store = new ControllerStore(sql);
      expect(store.notificationHeads().map((h) => [h.eventId, h.lane])).toEqual([[1, ""]]);
      store.addNotification({
        destination: "oncall",
        lane: "change",
        eventId: 3,
        kind: "attempt",
        messageId: "m3",
        outgoing: { path: "/v2/change/enqueue", body: {} },
        nextAt: 0,
      });
      expect(store.notificationHeads().map((h) => [h.eventId, h.lane])).toEqual([
        [1, ""],
        [3, "change"],
      ]);
      // Built again over the new table: nothing to add.
      expect(new ControllerStore(sql).notificationsWaitingIn("oncall", "")).toBe(2);
      sql.exec(`DELETE FROM notification`);
    });
  });
});

describe("a full queue (MAX_WAITING per lane)", () => {
  /** `n` rows waiting in one lane of "oncall", due long after this test ends. */
  const fill = (c: ControllerRpc, lane: "" | "change", n: number) =>
    runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (o, state) => {
      const store = new ControllerStore(state.storage.sql);
      for (let i = 0; i < n; i++)
        store.addNotification({
          destination: "oncall",
          lane,
          eventId: 1000 + i,
          kind: "attempt",
          messageId: `m${i}`,
          outgoing: { path: lane === "change" ? "/v2/change/enqueue" : "/v2/enqueue", body: {} },
          nextAt: o.clock() + 86_400_000,
        });
    });
  const failures = async (c: ControllerRpc) =>
    (await c.history(50)).filter((e) => e.kind === "webhook-failed").map((e) => e.reason);

  it("a change-event backlog never leaves a rollback's page without room", async () => {
    const { c, prefix } = await withDestinations(PD);
    await fill(c, "change", MAX_WAITING);
    await rollBack(c);
    // The page went out; the attempt's change event had no room and says so.
    expect((await bodies(prefix, "/pd/v2/enqueue")).map((b) => b.event_action)).toEqual(["trigger"]);
    expect(await bodies(prefix, "/pd/v2/change/enqueue")).toEqual([]);
    expect((await c.status()).notifications!.destinations[0]).toMatchObject({ sent: 1, failed: 1 });
    expect(await failures(c)).toEqual([expect.stringMatching(/change events' queue full \(200 waiting\)/)]);
  });

  it("a full page queue refuses the page, says so, and still sends the change event", async () => {
    const { c, prefix } = await withDestinations(PD);
    await fill(c, "", MAX_WAITING);
    await rollBack(c);
    expect(await bodies(prefix, "/pd/v2/enqueue")).toEqual([]);
    expect(await bodies(prefix, "/pd/v2/change/enqueue")).toHaveLength(1);
    expect((await c.status()).notifications!.destinations[0]).toMatchObject({ sent: 1, failed: 1 });
    const said = await failures(c);
    expect(said).toEqual([expect.stringMatching(/(?<!change events' )queue full \(200 waiting\)/)]);
  });
});

describe("a secret not set, over many events", () => {
  it("is said once while it lasts, every message counted; said again after the secret was seen and went", async () => {
    const { c, prefix, override } = await withDestinations([
      { type: "slack", name: "releases", urlSecret: "NOT_PUT", events: ["attempt", "rollback"] },
    ]);
    await rollBack(c);
    await newAttempt(c, "v8", 2);
    await newAttempt(c, "v9", 4);
    const said = async () => (await c.history(20)).filter((e) => e.kind === "webhook-failed");
    let failed = await said();
    expect(failed).toHaveLength(1);
    expect(failed[0].reason).toMatch(
      /^notification to "releases" for event \d+ \(attempt\) given up after 1 try: the secret NOT_PUT is not set: .* \(said once while it lasts/,
    );
    let d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 0, failed: 4, problem: expect.stringMatching(/NOT_PUT is not set/) });

    // The secret put: the next event is delivered.
    const withSecret = { ...override, secrets: { ...override.secrets, NOT_PUT: `${hooks()}${prefix}/slack` } };
    await setOverride(c, withSecret);
    await newAttempt(c, "v10", 6);
    expect(await bodies(prefix, "/slack")).toHaveLength(1);

    // And deleted again: said again, once.
    await setOverride(c, override);
    await newAttempt(c, "v11", 8);
    await newAttempt(c, "v12", 10);
    failed = await said();
    expect(failed).toHaveLength(2);
    expect(failed[0].reason).toMatch(/the secret NOT_PUT is not set: .* \(said once while it lasts/);
    d = (await c.status()).notifications!.destinations[0];
    expect(d).toMatchObject({ sent: 1, failed: 6 });

    // Still unset an hour after it was said (at +8 s): said again, with what it has cost.
    await newAttempt(c, "v13", 3_610);
    failed = await said();
    expect(failed).toHaveLength(3);
    expect(failed[0].reason).toMatch(/the secret NOT_PUT is not set: .*: 3 messages not sent since \d{4}-/);
  });
});

describe("durability", () => {
  it("what is queued outlives a restart: the alarm delivers it after the object comes back", async () => {
    const { c, prefix, override } = await withDestinations((prefix) => [
      { type: "json", name: "audit", url: `${hooks()}${prefix}/json`, signingSecret: "JSON_KEY", events: ["rollback"] },
    ]);
    await fetch(`${hooks()}/__hooks/script?path=${prefix}/json`, {
      method: "PUT",
      body: JSON.stringify([{ status: 500 }]),
    });
    await rollBack(c);
    expect((await c.status()).notifications!.destinations[0]).toMatchObject({ waiting: 1, retrying: { tries: 1 } });

    await abortAllDurableObjects();
    const again = (current = controllerById(c.id));
    await setOverride(again, override);
    await clockAhead(again, 3);
    await alarm(again);
    const s = await again.status();
    expect(s.notifications!.destinations[0]).toMatchObject({ sent: 1, waiting: 0, failed: 0 });
    const tries = (await received(prefix)).filter((r) => r.path === `${prefix}/json`);
    expect(tries).toHaveLength(2);
    // The same message id on both tries: the receiver can tell a retry from a new event.
    expect(tries[0].headers["webhook-id"]).toBe(tries[1].headers["webhook-id"]);
    expect((new Webhook(SIGNING).verify(tries[1].body, tries[1].headers) as { type: string }).type).toBe(
      "edgeshift.rollback",
    );
  });
});
