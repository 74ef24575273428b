// What each kind of receiver gets for an event: the legacy webhook's line, Slack's blocks, Teams'
// Adaptive Card, Discord's embed, PagerDuty's incidents and change events, and the signed JSON,
// its signature checked with the Standard Webhooks project's own library.
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import type { RolloutEvent } from "../../src/model/status";
import { parseNotifications, type Destination } from "../../src/model/notifications";
import { clipped, legacyBody, messageOf, type Subject } from "../../src/notify/message";
import { discordBody, slackBody, teamsBody } from "../../src/notify/chat";
import { laneOf, outgoingFor, requestFor, targetProblem, type Target } from "../../src/notify/destinations";
import { CHANGE_PATH, ENQUEUE_PATH } from "../../src/notify/pagerduty";
import { jsonBody } from "../../src/notify/signed-json";

const event = (x: Partial<RolloutEvent> = {}): RolloutEvent => ({
  id: 7,
  at: "2026-01-01T00:00:00.000Z",
  kind: "rollback",
  actor: "controller",
  reason: "canary 36.7 % errors",
  data: { percent: 10, figures: { tripped: ["error-rate", "sequential"] } },
  ...x,
});
const subject: Subject = { release: "v2", canary: "green", percent: 10, attempt: 3 };
const rollback = messageOf(event(), subject, "https://shop.example.com/__edgeshift/");

describe("the one-line text (the legacy WEBHOOK_URL body and every fallback)", () => {
  it("a rollback by the controller names the release and canary, not the actor", () => {
    const body = legacyBody(messageOf(event(), { release: "v2", canary: "green" }));
    expect(body.text).toBe("edgeshift rolled back release v2 (green): canary 36.7 % errors");
    expect(body.event).toEqual({ ...event(), release: "v2", canary: "green" });
  });

  it("an operator's action names who did it", () => {
    const m = messageOf(event({ kind: "pause", actor: "alice", reason: "staffing" }), subject);
    expect(m.text).toBe("edgeshift paused release v2 (green) by alice: staffing");
    expect(m.facts).toContainEqual(["By", "alice"]);
  });

  it("without a release it names the canary; with neither, only what happened", () => {
    expect(messageOf(event({ kind: "step", reason: "on to 50 %" }), { release: null, canary: "blue" }).text).toBe(
      "edgeshift plan step canary blue: on to 50 %",
    );
    expect(messageOf(event({ kind: "config-error", reason: "bad" }), { release: null }).text).toBe(
      "edgeshift invalid rollout document: bad",
    );
    expect(legacyBody(messageOf(event(), { release: null })).event.release).toBeNull();
  });
});

it("text cut at a channel's limit never ends in half an emoji", () => {
  expect(clipped("ab😀cd", 4)).toBe("ab…");
  expect(clipped("abcdef", 4)).toBe("abc…");
  expect(clipped("abc", 4)).toBe("abc");
});

describe("Slack", () => {
  it("a header with the tone, the reason, the facts as fields, the time and a link to the status page", () => {
    const body = slackBody(rollback);
    expect(body.text).toBe(rollback.text);
    expect(body.blocks[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: ":rotating_light: Rolled back release v2 (green)", emoji: true },
    });
    expect(body.blocks[1]).toEqual({ type: "section", text: { type: "mrkdwn", text: "canary 36.7 % errors" } });
    expect((body.blocks[2] as any).fields.map((f: any) => f.text)).toEqual([
      "*Release*\nv2",
      "*Canary*\ngreen",
      "*Percent*\n10 %",
      "*Attempt*\n3",
      "*Tripped*\nerror-rate, sequential",
    ]);
    expect((body.blocks[3] as any).elements[0].text).toBe(
      "edgeshift · event 7 · <!date^1767225600^{date_short_pretty} {time_secs}|2026-01-01T00:00:00.000Z>",
    );
    expect((body.blocks[4] as any).elements[0].url).toBe("https://shop.example.com/__edgeshift/");
  });

  it("an operator's text cannot mention the channel or forge a link; long text is cut at Slack's limits", () => {
    const m = messageOf(
      event({ kind: "abort", actor: "ci", reason: `<!channel> see <https://evil.example|docs> & ${"x".repeat(4000)}` }),
      { ...subject, release: "v".repeat(300) },
    );
    const body = slackBody(m);
    const section = (body.blocks[1] as any).text.text as string;
    expect(section.startsWith("&lt;!channel&gt; see &lt;https://evil.example|docs&gt; &amp; x")).toBe(true);
    expect(section.length).toBe(3000);
    expect((body.blocks[0] as any).text.text.length).toBe(150);
    expect(JSON.stringify(body)).not.toContain("<!channel>");
  });
});

describe("Microsoft Teams", () => {
  it("an event's text cannot disguise a link: [text](url) is broken by a zero-width space", () => {
    const body = teamsBody(messageOf(event({ reason: "see [docs](https://evil.example)" }), subject)) as any;
    expect(body.attachments[0].content.body[1].text).toBe("see [docs]\u200B(https://evil.example)");
  });

  it("an Adaptive Card 1.4 in a message, as Teams' Workflows webhook takes it", () => {
    const body = teamsBody(rollback) as any;
    expect(body.type).toBe("message");
    const [att] = body.attachments;
    expect(att.contentType).toBe("application/vnd.microsoft.card.adaptive");
    expect(att.content).toMatchObject({ type: "AdaptiveCard", version: "1.4" });
    expect(att.content.body[0]).toMatchObject({
      type: "TextBlock",
      text: "Rolled back release v2 (green)",
      color: "Attention",
    });
    expect(att.content.body[2].facts).toContainEqual({ title: "Tripped", value: "error-rate, sequential" });
    expect(att.content.actions).toEqual([
      { type: "Action.OpenUrl", title: "Status page", url: "https://shop.example.com/__edgeshift/" },
    ]);
    expect(
      (teamsBody(messageOf(event({ kind: "promote" }), subject)) as any).attachments[0].content.body[0].color,
    ).toBe("Good");
  });
});

describe("a promotion", () => {
  it("names the release and the slot promoted, from the event: the state already has them switched", () => {
    const promote = event({
      kind: "promote",
      actor: "alice",
      reason: "v7 verified: green (v7) is now stable; blue is the canary at 0 %",
      data: { release: "v7", stable: "green", canary: "blue", percentBefore: 50 },
    });
    // What the controller's state says once the promotion took effect: blue the canary, no release.
    const m = messageOf(promote, { release: null, canary: "blue", percent: 0, attempt: 3 });
    expect(m.title).toBe("Promoted release v7 (green)");
    expect(m.facts).toEqual([
      ["Release", "v7"],
      ["Canary", "green"],
      ["Percent", "50 %"],
      ["Attempt", "3"],
      ["By", "alice"],
    ]);
  });
});

describe("Discord", () => {
  it("an event's text cannot disguise a link: [text](url) is escaped", () => {
    const body = discordBody(messageOf(event({ reason: "see [docs](https://evil.example)" }), subject));
    expect(body.embeds![0].description).toBe("see \\[docs\\]\\(https://evil.example\\)");
  });

  it("one embed coloured by tone, facts inline, no mentions allowed", () => {
    const body = discordBody(messageOf(event({ reason: "@everyone look" }), subject));
    expect(body.allowed_mentions).toEqual({ parse: [] });
    const [embed] = body.embeds!;
    expect(embed).toMatchObject({
      title: "Rolled back release v2 (green)",
      description: "@everyone look",
      color: 0xd93f0b,
    });
    expect(embed.timestamp).toBe("2026-01-01T00:00:00.000Z");
    expect(embed.fields).toContainEqual({ name: "Canary", value: "green", inline: true });
  });
});

const pd: Destination = { type: "pagerduty", name: "oncall", routingKeySecret: "PD_KEY", source: "shop-edge" };

describe("PagerDuty", () => {
  it("a rollback opens an incident keyed by its attempt; the next attempt's first healthy step resolves it", () => {
    const [trigger, ...rest] = outgoingFor(pd, rollback, []);
    expect(rest).toEqual([]);
    expect(trigger.path).toBe("/v2/enqueue");
    expect(trigger.opens).toEqual({ key: "shop-edge/rollback/attempt-3", attempt: 3 });
    expect(trigger.body).toMatchObject({
      event_action: "trigger",
      dedup_key: "shop-edge/rollback/attempt-3",
      payload: {
        summary: rollback.text,
        source: "shop-edge",
        severity: "critical",
        class: "rollback",
        component: "canary green",
        custom_details: { reason: "canary 36.7 % errors", release: "v2", tripped: "error-rate, sequential" },
      },
      client_url: "https://shop.example.com/__edgeshift/",
    });
    const open = [trigger.opens!];
    // The same attempt stepping (impossible after a rollback, but) resolves nothing; a later attempt's step does.
    expect(outgoingFor(pd, messageOf(event({ kind: "step" }), subject), open)).toEqual([]);
    const stepped = outgoingFor(pd, messageOf(event({ kind: "step" }), { ...subject, attempt: 4 }), open);
    expect(stepped).toEqual([
      {
        path: "/v2/enqueue",
        body: { event_action: "resolve", dedup_key: "shop-edge/rollback/attempt-3" },
        resolves: [{ key: "shop-edge/rollback/attempt-3", attempt: 3 }],
      },
    ]);
    // A new attempt only starting is no proof of health: a change event, no resolve.
    const started = outgoingFor(
      pd,
      messageOf(event({ kind: "attempt" }), { ...subject, attempt: 4 }, "https://shop.example.com/__edgeshift/"),
      open,
    );
    expect(started.map((o) => o.path)).toEqual(["/v2/change/enqueue"]);
    expect(started[0].body).toMatchObject({
      payload: { source: "shop-edge" },
      links: [{ href: "https://shop.example.com/__edgeshift/" }],
    });
  });

  it("the routing key is added at send time, never stored; EU accounts set url", async () => {
    const [trigger] = outgoingFor(pd, rollback, []);
    const secret = (n: string) => ({ PD_KEY: "R0UTING-KEY-32-CHARACTERS-LONG-00" })[n];
    const r = await requestFor({ ...pd, url: "https://events.eu.pagerduty.com/" }, trigger, secret, "m", 0);
    expect(r.url).toBe("https://events.eu.pagerduty.com/v2/enqueue");
    expect(JSON.parse(String(r.init.body))).toMatchObject({
      routing_key: "R0UTING-KEY-32-CHARACTERS-LONG-00",
      dedup_key: "shop-edge/rollback/attempt-3",
    });
    expect((await requestFor(pd, trigger, secret, "m", 0)).url).toBe("https://events.pagerduty.com/v2/enqueue");
  });
});

describe("signed JSON (Standard Webhooks)", () => {
  const secret = "whsec_" + Buffer.from("a-32-byte-signing-key-for-tests!").toString("base64");
  const json: Destination = {
    type: "json",
    name: "audit",
    url: "https://audit.example/hook",
    signingSecret: "AUDIT_KEY",
  };

  it("the receiver verifies it with the standardwebhooks library and gets the event back", async () => {
    const [o] = outgoingFor(json, rollback, []);
    const now = Date.now();
    const r = await requestFor(json, o, (n) => (n === "AUDIT_KEY" ? secret : undefined), "msg_1_7", now);
    const headers = r.init.headers as Record<string, string>;
    expect(headers["webhook-id"]).toBe("msg_1_7");
    expect(headers["webhook-timestamp"]).toBe(String(Math.floor(now / 1000)));
    const verified = new Webhook(secret).verify(String(r.init.body), headers) as ReturnType<typeof jsonBody>;
    expect(verified.type).toBe("edgeshift.rollback");
    expect(verified.data).toMatchObject({ id: 7, kind: "rollback", release: "v2", canary: "green", attempt: 3 });
  });

  it("a body changed in transit, or signed with another key, fails verification", async () => {
    const [o] = outgoingFor(json, rollback, []);
    const r = await requestFor(json, o, () => secret, "msg_1_7", Date.now());
    const headers = r.init.headers as Record<string, string>;
    expect(() => new Webhook(secret).verify(String(r.init.body).replace("v2", "v3"), headers)).toThrow();
    const other = "whsec_" + Buffer.from("another-32-byte-signing-key-here").toString("base64");
    expect(() => new Webhook(other).verify(String(r.init.body), headers)).toThrow();
  });

  it("a signing secret that is not whsec_ and the base64 of 24–64 bytes is refused, saying how to make one", () => {
    for (const bad of ["plain-shared-secret", "whsec_abcde", "whsec_" + btoa("too short"), "whsec_not base64!"])
      expect(
        targetProblem(json, () => bad),
        bad,
      ).toMatch(/AUDIT_KEY is not a Standard Webhooks key: "whsec_" and the base64 of 24–64 random bytes/);
    expect(targetProblem(json, () => secret)).toBeNull();
  });
});

describe("which events each destination is sent", () => {
  const slack: Destination = { type: "slack", name: "releases", urlSecret: "S" };
  it("chat defaults: rollbacks, steps, promotions, approvals; not KV write races or sample ratio", () => {
    for (const kind of ["rollback", "step", "promote", "approval-wait", "flag-killed", "config-error"] as const)
      expect(outgoingFor(slack, messageOf(event({ kind }), subject), []).length, kind).toBe(1);
    for (const kind of ["operator-write-won", "sample-ratio", "plan-extended", "webhook-failed"] as const)
      expect(outgoingFor(slack, messageOf(event({ kind }), subject), []).length, kind).toBe(0);
  });

  it("a destination's own list, or * for everything; webhook-failed is never sent", () => {
    const only: Destination = { ...slack, events: ["rollback"] };
    expect(outgoingFor(only, messageOf(event({ kind: "promote" }), subject), [])).toEqual([]);
    const all: Destination = { ...slack, events: ["*"] };
    expect(outgoingFor(all, messageOf(event({ kind: "sample-ratio" }), subject), []).length).toBe(1);
    expect(outgoingFor(all, messageOf(event({ kind: "webhook-failed" }), subject), [])).toEqual([]);
    const legacy: Target = { type: "legacy", name: "WEBHOOK_URL" };
    expect(outgoingFor(legacy, messageOf(event({ kind: "operator-write-won" }), subject), []).length).toBe(1);
  });

  it("a missing or malformed secret is named with the command that fixes it", () => {
    expect(targetProblem(slack, () => undefined)).toBe(
      "the secret S is not set: `wrangler secret put S -c wrangler.control.toml`",
    );
    expect(targetProblem(slack, () => "hooks.slack.com/services/x")).toMatch(/S is not an http\(s\) URL/);
    expect(targetProblem(slack, () => "https://hooks.slack.com/services/T/B/x")).toBeNull();
    // The URL is the credential: never over plain http, but for a receiver on this machine.
    expect(targetProblem(slack, () => "http://hooks.example.com/x")).toMatch(/S is an http:\/\/ URL: .* only https/);
    expect(targetProblem(slack, () => "http://127.0.0.1:9000/x")).toBeNull();
    const json: Destination = { type: "json", name: "a", url: "https://a.example", signingSecret: "K" };
    expect(targetProblem(json, () => "whsec_not base64!")).toMatch(/K is not a Standard Webhooks key/);
  });
});

describe("the NOTIFICATIONS variable", () => {
  it("a JSON string or the object wrangler binds; absent means no destinations", () => {
    const config = { destinations: [{ type: "teams", name: "t", urlSecret: "TEAMS_URL" }] };
    expect(parseNotifications(JSON.stringify(config))).toMatchObject({ ok: true, doc: config });
    expect(parseNotifications(config)).toMatchObject({ ok: true, doc: config });
    expect(parseNotifications(undefined)).toMatchObject({ ok: true, doc: { destinations: [] } });
  });

  it("errors name the field and the fix", () => {
    const bad = (d: unknown) => {
      const r = parseNotifications({ destinations: [d] });
      if (r.ok) throw new Error("accepted");
      return r.summary;
    };
    expect(bad({ type: "slak", name: "a", urlSecret: "S" })).toMatch(/type must be one of "slack", "teams"/);
    expect(bad({ type: "slack", name: "a", url: "https://hooks.slack.com/x" })).toMatch(
      /urlSecret: required: the name of the Worker secret holding the slack webhook URL.*wrangler secret put SLACK_WEBHOOK_URL/,
    );
    expect(bad({ type: "slack", name: "a", urlSecret: "S", events: ["rolback"] })).toMatch(/did you mean "rollback"/);
    expect(bad({ type: "json", name: "a", signingSecret: "K" })).toMatch(/either url .* or urlSecret/);
    // The secret itself pasted where its name goes: refused, and never repeated in the message.
    const key = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const pasted = bad({ type: "json", name: "a", url: "https://a.example", signingSecret: key });
    expect(pasted).toMatch(/signingSecret: the NAME of the Worker secret .* not the secret itself/);
    expect(pasted).not.toContain("MDEy");
    const routingKey = bad({
      type: "pagerduty",
      name: "p",
      source: "s",
      routingKeySecret: "e93facc04764012d7bfb002500d5d1a6",
    });
    expect(routingKey).not.toContain("e93facc0");
    // The Worker's own credentials are never a destination's.
    expect(bad({ type: "pagerduty", name: "p", source: "s", routingKeySecret: "ADMIN_TOKEN" })).toMatch(
      /names one of the Worker's own credentials/,
    );
    expect(
      bad({ type: "pagerduty", name: "p", source: "s", routingKeySecret: "K", url: "https://collector.example" }),
    ).toMatch(/url is PagerDuty's Events API, https:\/\/events.pagerduty.com or https:\/\/events.eu.pagerduty.com/);
    expect(bad({ type: "pagerduty", name: "p", routingKeySecret: "K" })).toMatch(/source is required/);
    expect(bad({ type: "slack", name: "WEBHOOK_URL", urlSecret: "S" })).toMatch(/names the legacy WEBHOOK_URL/);
    expect(bad({ type: "json", name: "a", url: "http://audit.example/hook", signingSecret: "K" })).toMatch(
      /must be an https URL/,
    );
    expect(bad({ type: "pagerduty", name: "a", source: "s", routingKeySecret: "K", severity: "high" })).toMatch(
      /severity must be "critical", "error", "warning" or "info"/,
    );
    const twice = parseNotifications({
      destinations: [
        { type: "slack", name: "a", urlSecret: "S" },
        { type: "discord", name: "a", urlSecret: "D" },
      ],
    });
    expect(twice.ok ? "" : twice.summary).toMatch(/destinations\.1\.name: two destinations are named "a"/);
  });
});

describe("lanes", () => {
  it("PagerDuty's change events have a lane of their own; pages and everything else share the first", () => {
    expect(laneOf({ path: CHANGE_PATH, body: {} })).toBe("change");
    expect(laneOf({ path: ENQUEUE_PATH, body: {} })).toBe("");
    expect(laneOf({ body: { text: "hi" } })).toBe("");
  });
});
