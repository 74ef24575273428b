// The operator's read-modify-write of the `rollout` document through the controller, mounted by
// ./app.ts under /__edgeshift/api/rollout (behind its bearer auth). The controller serialises it
// with its own writes and refuses a write based on a version that is no longer in force, so a
// write that raced a plan step or a rollback is reported (409), never lost and never overwriting.
// docs/architecture.md ("Admin API") and docs/storage-schema.md ("Who writes the document").
//
// | route                        | answer                                                                  |
// |------------------------------|-------------------------------------------------------------------------|
// | GET /api/rollout             | { fingerprint, text, document, attempt, revision } + ETag "<fingerprint>" |
// | PUT /api/rollout             | body { document, ifMatch, note?, reason? } (or header If-Match)          |
//
// | situation                                   | answer                                                     |
// |---------------------------------------------|------------------------------------------------------------|
// | no ifMatch and no If-Match                  | 428 {error}: read first, send its fingerprint               |
// | ifMatch and If-Match disagree               | 400 {error, field: "ifMatch"}                               |
// | base is not the version in force            | 409 {error, current}: nothing written                       |
// | document invalid                            | 400 {error, field: "document.<path>", problems}              |
// | KV unreadable (the write cannot be checked) | 503 {error}: nothing written                                 |
// | written                                     | 200 {ok, changed, fingerprint, previous, attempt, revision, kv} |
import { Hono } from "hono/tiny";
import type { Context } from "hono";
import * as z from "../lib/zod";
import { ADMIN_PREFIX } from "../model/names";
import type { ControllerRpc } from "../controller/rpc";
import { noteField, reasonField } from "./fields";
import { actorOf, type AdminEnv } from "./auth";

type CallController = <T>(c: Context<AdminEnv>, f: (ctl: ControllerRpc) => Promise<T>) => Promise<T | Response>;

/** Larger than any document the schema accepts; a body this large is not a document. */
const MAX_BODY_BYTES = 1 << 20;
const FINGERPRINT = /^(?:[0-9a-f]{16}|none)$/;
const EXAMPLE = `{"ifMatch":"<fingerprint from GET ${ADMIN_PREFIX}/api/rollout>","document":{"percent":5},"note":"alice"}`;

const writeBody = z.strictObject({
  document: z.record(z.string(), z.unknown(), { error: `document must be a JSON object, e.g. ${EXAMPLE}` }),
  ifMatch: z.optional(
    z
      .string({ error: "ifMatch must be a string: the fingerprint you read" })
      .check(z.regex(FINGERPRINT, 'ifMatch must be a fingerprint as GET returns it (16 hex digits, or "none")')),
  ),
  note: noteField("note"),
  actor: noteField("actor"),
  reason: reasonField("raise to 25 %"),
});

/** `If-Match: "<fingerprint>"` (RFC 9110 §13.1.1: a strong entity tag), unquoted tolerated. */
function ifMatchHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.trim().replace(/^"(.*)"$/, "$1");
}

export function documentApi(callController: CallController) {
  const app = new Hono<AdminEnv>({ strict: false });

  app.get("/", async (c) => {
    const v = await callController(c, (ctl) => ctl.document());
    if (v instanceof Response) return v;
    let document: unknown = null;
    try {
      document = v.text === null ? null : JSON.parse(v.text);
    } catch {
      // The text in force is always valid JSON; a parse failure here would be a bug, not the caller's.
    }
    c.header("etag", `"${v.fingerprint}"`);
    return c.json({ ...v, document });
  });

  app.put("/", async (c) => {
    const text = await c.req.text();
    if (text.length > MAX_BODY_BYTES)
      return c.json(
        { error: `the body is larger than ${MAX_BODY_BYTES} bytes: send the document only`, field: "body" },
        413,
      );
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return c.json({ error: `the body is not JSON: send ${EXAMPLE}`, field: "body" }, 400);
    }
    const b = writeBody.safeParse(raw);
    if (!b.success) {
      const issue = b.error.issues[0];
      if (issue.code === "unrecognized_keys") {
        const keys = (issue as { keys: string[] }).keys;
        return c.json(
          {
            error: `unknown field ${keys.map((k) => `"${k}"`).join(", ")}: the body takes document, ifMatch, note and reason, e.g. ${EXAMPLE}`,
            field: keys[0],
          },
          400,
        );
      }
      const field = issue.path.join(".") || "body";
      return c.json(
        { error: issue.message.startsWith(field) ? issue.message : `${field}: ${issue.message}`, field },
        400,
      );
    }
    const header = ifMatchHeader(c.req.header("if-match"));
    if (header !== undefined && b.data.ifMatch !== undefined && header !== b.data.ifMatch)
      return c.json(
        {
          error: `If-Match "${header}" and ifMatch "${b.data.ifMatch}" disagree: send the fingerprint you read once`,
          field: "ifMatch",
        },
        400,
      );
    const ifMatch = b.data.ifMatch ?? header;
    if (ifMatch === undefined || !FINGERPRINT.test(ifMatch))
      return c.json(
        {
          error: `a write must name the version it is based on: GET ${ADMIN_PREFIX}/api/rollout, change the document, and send its fingerprint as ifMatch (or If-Match: "<fingerprint>"); ${ifMatch === undefined ? "none was sent" : `got "${ifMatch}"`}`,
          field: "ifMatch",
        },
        428,
      );
    const out = await callController(c, (ctl) =>
      ctl.writeDocument({
        text: JSON.stringify(b.data.document, null, 2),
        ifMatch,
        actor: actorOf(c),
        note: b.data.note ?? b.data.actor,
        reason: b.data.reason,
      }),
    );
    if (out instanceof Response) return out;
    if (out.ok) {
      c.header("etag", `"${out.fingerprint}"`);
      return c.json(out);
    }
    if (out.reason === "conflict") return c.json({ error: out.error, current: out.current }, 409);
    if (out.reason === "invalid") {
      const path = out.problems?.[0]?.path;
      return c.json(
        { error: out.error, field: path ? `document.${path}` : "document", problems: out.problems ?? [] },
        400,
      );
    }
    return c.json({ error: out.error, current: out.current }, 503);
  });

  return app;
}
