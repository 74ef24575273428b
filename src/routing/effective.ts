// Which document an isolate routes by: its cached KV copy, unless the controller has told it that
// copy is superseded (by a rollback, a plan step, a promotion). Pure; see ControllerView.
import type { Rollout } from "../model/rollout";
import type { ControllerView } from "../model/protocol";

export interface Effective {
  doc: Rollout;
  fingerprint: string;
  /** "kv": the isolate's cached copy; "controller": the controller's newer word. */
  source: "kv" | "controller";
}

export function effectiveRollout(kv: { doc: Rollout; fingerprint: string }, view: ControllerView): Effective {
  if (
    view.doc &&
    view.fingerprint &&
    (kv.fingerprint === view.fingerprint || view.supersedes.includes(kv.fingerprint))
  ) {
    return { doc: view.doc, fingerprint: view.fingerprint, source: "controller" };
  }
  return { doc: kv.doc, fingerprint: kv.fingerprint, source: "kv" };
}
