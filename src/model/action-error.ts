// The one "this action does not apply now" error (pause without a plan, a second abort …): the
// admin API answers it with 409 and its message, anything else the controller throws with 503.
//
// Across Workers RPC an error keeps neither its class nor its `name`: the caller receives a plain
// Error whose message is "<name>: <message>" (checked in test/worker/admin-api.test.ts). So the
// name is the marker, and `notApplicableReason` reads it on either side of the RPC boundary.
const NAME = "ActionNotApplicable";

export class ActionNotApplicable extends Error {
  override name = NAME;
}

/** The reason an action was refused, or null when `e` is some other failure. */
export function notApplicableReason(e: unknown): string | null {
  if (e instanceof ActionNotApplicable) return e.message;
  const message = String((e as { message?: unknown } | null)?.message ?? "");
  return message.startsWith(`${NAME}: `) ? message.slice(NAME.length + 2) : null;
}
