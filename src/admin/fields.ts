// Body fields the admin API's writes share (actions, the document write): one schema, one message.
import * as z from "../lib/zod";

/** Who acts, as the caller names it (free text; src/admin/document-api.ts `actorOf` decides what is recorded). */
export const actorField = z.optional(
  z
    .string({ error: 'actor must be a string, e.g. "alice"' })
    .check(
      z.trim(),
      z.minLength(1, "actor must not be empty"),
      z.maxLength(128, "actor must be at most 128 characters"),
    ),
);

/** Why, recorded with the event; `example` is shown when the value is not a string. */
export function reasonField(example: string) {
  return z.optional(
    z
      .string({ error: `reason must be a string, e.g. "${example}"` })
      .check(z.trim(), z.maxLength(500, "reason must be at most 500 characters")),
  );
}
