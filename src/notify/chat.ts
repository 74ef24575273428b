// The chat formats: Slack (Block Kit), Microsoft Teams (an Adaptive Card, as Teams' Workflows
// webhooks take it: the Office 365 connectors are retired) and Discord (an embed). Each keeps
// within its channel's documented field limits and never lets an event's text mention anyone or
// disguise a link: reasons carry operator-supplied text. The types are the platforms' own (@slack/types,
// discord-api-types), so a field the platform does not know fails the type check. Pure.
import type { KnownBlock } from "@slack/types";
import type { RESTPostAPIWebhookWithTokenJSONBody } from "discord-api-types/v10";
import { clipped, type Message, type Tone } from "./message";

const EMOJI: Record<Tone, string> = {
  failure: ":rotating_light:",
  warning: ":warning:",
  success: ":white_check_mark:",
  info: ":information_source:",
};

/**
 * Slack incoming webhook body. Limits (api.slack.com/reference/block-kit/blocks): header text 150,
 * section text 3,000, a field 2,000 and 10 fields; `text` is the notification's fallback.
 */
export function slackBody(m: Message): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [
    { type: "header", text: { type: "plain_text", text: clipped(`${EMOJI[m.tone]} ${m.title}`, 150), emoji: true } },
    { type: "section", text: { type: "mrkdwn", text: clipped(slackEscaped(m.reason), 3000) } },
  ];
  if (m.facts.length)
    blocks.push({
      type: "section",
      fields: m.facts
        .slice(0, 10)
        .map(([k, v]) => ({ type: "mrkdwn" as const, text: clipped(`*${k}*\n${slackEscaped(v)}`, 2000) })),
    });
  const epoch = Math.floor(Date.parse(m.event.at) / 1000);
  blocks.push({
    type: "context",
    elements: [
      {
        type: "mrkdwn",
        text: `edgeshift · event ${m.event.id} · <!date^${epoch}^{date_short_pretty} {time_secs}|${m.event.at}>`,
      },
    ],
  });
  if (m.link)
    blocks.push({
      type: "actions",
      elements: [{ type: "button", text: { type: "plain_text", text: "Status page" }, url: m.link }],
    });
  return { text: clipped(slackEscaped(m.text), 3000), blocks };
}

/**
 * Slack reads `&`, `<` and `>` as markup (links, @-mentions such as `<!channel>`); escaped as Slack
 * asks (api.slack.com/reference/surfaces/formatting#escaping), an event's text stays text.
 */
function slackEscaped(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Adaptive Card text renders `[text](url)` as a link and has no escape for it: a zero-width space
 * between "]" and "(" keeps the text as written and breaks the link syntax, so an event's text
 * cannot disguise one.
 */
function teamsUnlinked(s: string): string {
  return s.replace(/\]\(/g, "]\u200B(");
}

const TEAMS_COLOR: Record<Tone, string> = {
  failure: "Attention",
  warning: "Warning",
  success: "Good",
  info: "Accent",
};

/**
 * A Teams Workflows webhook ("When a Teams webhook request is received") body: a message with one
 * Adaptive Card attachment, card version 1.4 (what Teams renders everywhere).
 */
export function teamsBody(m: Message): unknown {
  const body: unknown[] = [
    {
      type: "TextBlock",
      text: m.title,
      weight: "Bolder",
      size: "Medium",
      color: TEAMS_COLOR[m.tone],
      wrap: true,
    },
    // Teams takes about 28 KB a message: the reason is the only long part.
    { type: "TextBlock", text: clipped(teamsUnlinked(m.reason), 4000), wrap: true },
  ];
  if (m.facts.length)
    body.push({ type: "FactSet", facts: m.facts.map(([title, value]) => ({ title, value: teamsUnlinked(value) })) });
  body.push({
    type: "TextBlock",
    text: `edgeshift · event ${m.event.id} · ${m.event.at}`,
    isSubtle: true,
    size: "Small",
    wrap: true,
  });
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          body,
          ...(m.link ? { actions: [{ type: "Action.OpenUrl", title: "Status page", url: m.link }] } : {}),
        },
      },
    ],
  };
}

/** Discord renders `[text](url)` in embeds as a link: escaped, an event's text cannot disguise one. */
function discordEscaped(s: string): string {
  return s.replace(/[[\]()]/g, "\\$&");
}

const DISCORD_COLOR: Record<Tone, number> = {
  failure: 0xd93f0b,
  warning: 0xe3b341,
  success: 0x2da44e,
  info: 0x0969da,
};

/**
 * Discord webhook body: one embed. Limits (discord.com/developers/docs/resources/message#embed-object-embed-limits):
 * title 256, description 4,096, 25 fields of name 256 and value 1,024. `allowed_mentions` empty:
 * an "@everyone" in a reason stays text.
 */
export function discordBody(m: Message): RESTPostAPIWebhookWithTokenJSONBody {
  return {
    username: "edgeshift",
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: clipped(m.title, 256),
        description: clipped(discordEscaped(m.reason), 4096),
        color: DISCORD_COLOR[m.tone],
        fields: m.facts.slice(0, 25).map(([name, value]) => ({
          name: clipped(name, 256),
          value: clipped(discordEscaped(value), 1024),
          inline: true,
        })),
        timestamp: m.event.at,
        footer: { text: `edgeshift · event ${m.event.id}` },
        ...(m.link ? { url: m.link } : {}),
      },
    ],
  };
}
