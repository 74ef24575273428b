// Tells people what the controller did: one POST per event to the optional WEBHOOK_URL secret.
// Body `{ "text": "<one line>", "event": {...} }`: Slack incoming webhooks (and Mattermost, Teams'
// Slack-compatible connectors) show `text`; anything else can read the structured `event`.
//
// | situation                 | behaviour                                                         |
// |---------------------------|-------------------------------------------------------------------|
// | WEBHOOK_URL unset         | nothing sent                                                      |
// | receiver slow             | each try gives up after TIMEOUT_MS                                |
// | non-2xx or network error  | one retry after RETRY_DELAY_MS; then the caller records           |
// |                           | a "webhook-failed" event. Never blocks or undoes a rollback.      |
import type { RolloutEvent } from "../model/status";

export const TIMEOUT_MS = 5000;
export const RETRY_DELAY_MS = 1000;

export interface WebhookContext {
  release?: string | null;
  canary?: string;
}

const TITLES: Partial<Record<RolloutEvent["kind"], string>> = {
  rollback: "rolled back",
  "would-roll-back": "would roll back (observe mode: nothing was changed)",
  attempt: "new attempt",
  abort: "aborted",
  promote: "promoted",
  pause: "paused",
  resume: "resumed",
  approve: "plan step approved",
  "approval-wait": "waiting for approval",
  "approval-timeout": "approval timed out",
  step: "plan step",
  "plan-start": "plan started",
  "plan-extended": "plan step extended",
  "plan-complete": "plan complete",
  "sample-ratio": "sample-ratio mismatch",
  "config-error": "invalid rollout document",
};

export function webhookBody(
  ev: RolloutEvent,
  c: WebhookContext = {},
): { text: string; event: RolloutEvent & WebhookContext } {
  const what = c.release
    ? ` release ${c.release}${c.canary ? ` (${c.canary})` : ""}`
    : c.canary
      ? ` canary ${c.canary}`
      : "";
  const by = ev.actor && ev.actor !== "controller" ? ` by ${ev.actor}` : "";
  const text = `edgeshift ${TITLES[ev.kind] ?? ev.kind}${what}${by}: ${ev.reason}`;
  return { text, event: { ...ev, release: c.release ?? null, canary: c.canary } };
}

export type WebhookResult = { ok: true; status: number; tries: number } | { ok: false; error: string; tries: number };

export async function postWebhook(
  url: string,
  body: unknown,
  opts: { timeoutMs?: number; retryDelayMs?: number; fetcher?: typeof fetch } = {},
): Promise<WebhookResult> {
  const f = opts.fetcher ?? fetch;
  let error = "";
  for (let tries = 1; tries <= 2; tries++) {
    try {
      const r = await f(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "edgeshift-controller" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? TIMEOUT_MS),
      });
      await r.body?.cancel();
      if (r.ok) return { ok: true, status: r.status, tries };
      error = `receiver answered ${r.status}`;
    } catch (e) {
      error =
        (e as Error).name === "TimeoutError"
          ? `no answer within ${opts.timeoutMs ?? TIMEOUT_MS} ms`
          : (e as Error).message;
    }
    if (tries === 1) await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? RETRY_DELAY_MS));
  }
  return { ok: false, error, tries: 2 };
}
