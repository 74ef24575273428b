// The admin API client (routes in docs/architecture.md). Every failure becomes a CliError with the
// exit code scripts rely on and a sentence that says what to do about it.
import type { ActionKind, ActionRequest, NotificationTest, RolloutEvent, StatusSnapshot } from "../src/model/status";
import type { DocumentVersion, DocumentWriteOutcome } from "../src/model/document-write";
import { CliError, EXIT } from "./args";

export const DEFAULT_URL = "http://127.0.0.1:8787";
export const API_PREFIX = "/__edgeshift/api";

export interface ApiTarget {
  /** Base URL of the Worker, e.g. https://app.example.com. */
  url: string;
  token: string | undefined;
}

/** The API refused: its status and parsed body travel with the message. */
export class ApiRefusal extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly body: Record<string, unknown> | null,
  ) {
    super(message, EXIT.FAILED);
  }
}

export type DocumentWritten = Extract<DocumentWriteOutcome, { ok: true }>;

export class AdminApi {
  constructor(
    readonly target: ApiTarget,
    private readonly timeoutMs = 10_000,
  ) {}

  async status(): Promise<StatusSnapshot> {
    const s = await this.call<StatusSnapshot>("GET", "/status");
    if (!s || typeof s.state !== "string" || !s.window || !s.roles) {
      throw new CliError(
        `${this.target.url} answered /status with something that is not an edgeshift status: is --url the edgeshift Worker?`,
        EXIT.FAILED,
      );
    }
    return s;
  }

  async history(limit: number): Promise<RolloutEvent[]> {
    const r = await this.call<{ events: RolloutEvent[] }>("GET", `/history?limit=${limit}`);
    return r.events;
  }

  action(kind: ActionKind, req: ActionRequest): Promise<{ ok: true; status: StatusSnapshot }> {
    return this.call("POST", `/actions/${kind}`, req);
  }

  /** A test message to each notification destination (or the one named), one try each. */
  async notifyTest(destination?: string): Promise<NotificationTest[]> {
    const r = await this.call<{ results: NotificationTest[] }>(
      "POST",
      "/notifications/test",
      destination ? { destination } : {},
    );
    return r.results;
  }

  /** The document in force and its fingerprint: the base of a write. */
  document(): Promise<DocumentVersion> {
    return this.call("GET", "/rollout");
  }

  /**
   * Writes `document` if `ifMatch` is still the version in force. A 409 (the document changed since
   * it was read: a plan step, a rollback, another operator) says what to do; nothing was written.
   */
  async writeDocument(req: {
    document: Record<string, unknown>;
    ifMatch: string;
    note?: string;
    reason?: string;
  }): Promise<DocumentWritten> {
    try {
      return await this.call<DocumentWritten>("PUT", "/rollout", req);
    } catch (e) {
      if (!(e instanceof ApiRefusal) || e.status !== 409) throw e;
      const current = typeof e.body?.current === "string" ? e.body.current : "unknown";
      const said = typeof e.body?.error === "string" ? ` The controller said: ${e.body.error}` : "";
      throw new CliError(
        `the document changed since you read it: you based this change on version ${req.ifMatch}, and version ${current} is in force now (a plan step, a rollback or another operator's write came first). Nothing was written; re-run the command to apply your change to the current document (\`edgeshift history\` shows what changed).${said}`,
        EXIT.FAILED,
      );
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = this.target.url.replace(/\/+$/, "") + API_PREFIX + path;
    if (!this.target.token) {
      throw new CliError(
        "no admin token: pass --token <token> or set EDGESHIFT_TOKEN (the Worker's ADMIN_TOKEN secret)",
        EXIT.USAGE,
      );
    }
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.target.token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const why = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new CliError(
        `cannot reach the Worker at ${this.target.url} (${why}); is it running (npm start / wrangler dev)? set --url or EDGESHIFT_URL`,
        EXIT.UNREACHABLE,
      );
    }
    const text = await res.text();
    if (res.ok) {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new CliError(
          `${method} ${url} answered ${res.status} but not JSON: is --url the edgeshift Worker? (${text.slice(0, 80)})`,
          EXIT.FAILED,
        );
      }
    }
    let refusal: Record<string, unknown> | null = null;
    try {
      refusal = JSON.parse(text);
    } catch {}
    throw new ApiRefusal(explainFailure(res.status, text, this.target.url), res.status, refusal);
  }
}

/** The API's own message when it has one (JSON `error`/`message` or text), plus the usual fix. */
function explainFailure(status: number, text: string, base: string): string {
  let msg = text.trim();
  try {
    const j = JSON.parse(text);
    msg = j.error ?? j.message ?? msg;
    if (typeof msg !== "string") msg = JSON.stringify(msg);
  } catch {}
  const hint: Record<number, string> = {
    401: "check --token / EDGESHIFT_TOKEN against the Worker's ADMIN_TOKEN (or ADMIN_TOKENS)",
    404: `no edgeshift admin API at ${base}: check --url / EDGESHIFT_URL`,
    // The admin API is the control Worker's; `wrangler dev --var` reaches only the first config (the edge).
    503: "the admin API is disabled: give the control Worker a token, `TOKEN=$(openssl rand -hex 32); echo $TOKEN | wrangler secret put ADMIN_TOKEN -c wrangler.control.toml` (the same value at the edge, `echo $TOKEN | wrangler secret put ADMIN_TOKEN`, for the explain header; keep $TOKEN for --token); under wrangler dev, ADMIN_TOKEN=… in .dev.vars beside the configs (both Workers read it)",
  };
  const parts = [`${status}${msg ? `: ${msg.slice(0, 500)}` : ""}`];
  if (hint[status] && !msg.includes("wrangler secret")) parts.push(hint[status]);
  return parts.join(" — ");
}
