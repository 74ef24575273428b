// Body fields the admin API's writes share (actions, the document write): one schema, one message.
import * as z from "../lib/zod";

/**
 * Free text kept with an event (e.g. who is at the keyboard). Never the actor: that is the name of
 * the token the request proved (src/admin/auth.ts `actorOf`). `field` names it in messages.
 */
export const noteField = (field: string) =>
  z.optional(
    z
      .string({ error: `${field} must be a string, e.g. "alice at the keyboard"` })
      .check(
        z.trim(),
        z.minLength(1, `${field} must not be empty`),
        z.maxLength(128, `${field} must be at most 128 characters`),
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
