// An operator's write of the `rollout` document through the controller (admin API
// `GET|PUT /__edgeshift/api/rollout`, `edgeshift set|start`): what is read, what is sent, what comes
// back. Pure types shared by the controller, the admin app and the CLI; the rules are in
// src/controller/operator-write.ts, the story in docs/storage-schema.md ("Who writes the document").
import type { ConfigProblem } from "./parse";

/** The version of the document in force as the controller sees it: the base of a read-modify-write. */
export interface DocumentVersion {
  /** Fingerprint of `text` (src/model/fingerprint.ts); `"none"` when there is no document. Send it back as `ifMatch`. */
  fingerprint: string;
  /** The exact text in force (the operator's, or the controller's rewrite of it); null: no document. */
  text: string | null;
  /** The controller's attempt number and revision when it answered. */
  attempt: number;
  revision: number;
}

export interface DocumentWriteRequest {
  /** The new document, exactly as it will be stored in KV. */
  text: string;
  /** The fingerprint the operator based the change on (a DocumentVersion's). */
  ifMatch: string;
  /** Who writes: the name of the admin token the request proved (src/admin/auth.ts). */
  actor: string;
  reason?: string;
  /** Free text the caller adds (e.g. who is at the keyboard); kept with the event, never the actor. */
  note?: string;
}

export type DocumentWriteOutcome =
  | {
      ok: true;
      /** False when the text was already the version in force: nothing was written. */
      changed: boolean;
      fingerprint: string;
      previous: string;
      attempt: number;
      revision: number;
      /** "written": KV holds it; "pending": the KV write failed and is retried (isolates already route by it). */
      kv: "written" | "pending";
    }
  | {
      ok: false;
      /**
       * "conflict": the document changed since `ifMatch` was read (a plan step, a rollback, another
       * operator): nothing written, read `current` and re-apply. "invalid": the text is not a valid
       * document. "kv-unavailable": KV could not be read, so a write could not be checked: nothing written.
       */
      reason: "conflict" | "invalid" | "kv-unavailable";
      error: string;
      /** The version a write must now be based on: the one in force (or, while KV still carries it here, the one isolates already route by). */
      current: string;
      problems?: ConfigProblem[];
    };
