// The pure rules of an operator's write through the controller (./kv-sync.ts does the I/O, under the
// one lock every KV write of the controller takes), and the KV metadata the controller writes with.
//
// | the operator sends                                  | answer                                             |
// |-----------------------------------------------------|----------------------------------------------------|
// | `ifMatch` ≠ the version in force (a plan step, a     | conflict (409) naming the version in force;        |
// | rollback or another write came first)               | nothing written                                    |
// | KV holds an invalid document (last good in force),  | conflict (409) naming the invalid version: a write |
// | `ifMatch` is not that invalid version               | must be based on what KV holds to replace it       |
// | an invalid document                                 | invalid (400) with the problems; nothing written   |
// | the text in force, byte for byte                    | ok, unchanged; nothing written                     |
// | anything else                                       | a new attempt: the view at once, then KV           |
//
// Unlike a raw `wrangler kv key put`, a write here may repeat the text of a version the controller
// superseded (set 10, set 20, set 10): the controller names the new version in its view, so no
// isolate can take a stale copy of it for something else, and it stops naming it as superseded.
import type { ParseResult } from "../model/parse";
import type { Rollout } from "../model/rollout";
import type { DocumentWriteOutcome } from "../model/document-write";
import { MAX_SUPERSEDES, startAttempt, type ControllerState } from "./state";

/** KV metadata of every put the controller makes: a reader (or a person) can tell its writes from raw puts. */
export interface ControllerKvMetadata {
  writer: "edgeshift-controller";
  revision: number;
  fingerprint: string;
  /** Who asked for it: "controller" for its own decisions, else the operator's actor. */
  by: string;
}

export function controllerMetadata(revision: number, fingerprint: string, by: string): ControllerKvMetadata {
  return { writer: "edgeshift-controller", revision, fingerprint, by };
}

/** Who wrote what KV holds, for events and logs. */
export function describeWriter(metadata: unknown): string {
  const m = metadata as Partial<ControllerKvMetadata> | null;
  return m?.writer === "edgeshift-controller"
    ? `the controller (revision ${m.revision}, for ${m.by})`
    : "a raw KV put (no controller metadata)";
}

export type WriteVerdict =
  | { kind: "refuse"; outcome: Extract<DocumentWriteOutcome, { ok: false }> }
  | { kind: "unchanged" }
  | { kind: "write"; doc: Rollout; fingerprint: string };

/** An invalid document KV holds now (the last good one stays in force): what a write must be based on to replace it. */
export interface InvalidInKv {
  text: string;
  fingerprint: string;
  summary: string;
}

export function judgeOperatorWrite(
  s: ControllerState,
  ifMatch: string,
  parsed: ParseResult,
  invalidInKv: InvalidInKv | null = null,
): WriteVerdict {
  if (invalidInKv && ifMatch !== invalidInKv.fingerprint)
    return {
      kind: "refuse",
      outcome: {
        ok: false,
        reason: "conflict",
        current: invalidInKv.fingerprint,
        error: `KV holds an invalid document, version ${invalidInKv.fingerprint} (${invalidInKv.summary}), written after version ${ifMatch} was read; the last good version ${s.fingerprint} still routes. Nothing was written: to replace the invalid one, read it (GET /__edgeshift/api/rollout) and send ifMatch ${invalidInKv.fingerprint}`,
      },
    };
  if (!invalidInKv && ifMatch !== s.fingerprint)
    return {
      kind: "refuse",
      outcome: {
        ok: false,
        reason: "conflict",
        current: s.fingerprint,
        error: `the document changed since version ${ifMatch} was read: version ${s.fingerprint} is in force now (${s.source === "controller" ? "the controller's last write: a plan step, a rollback, a promotion or an abort" : "an operator's write"}). Nothing was written: read it again (GET /__edgeshift/api/rollout), re-apply the change and send it with ifMatch ${s.fingerprint}`,
      },
    };
  if (!parsed.ok)
    return {
      kind: "refuse",
      outcome: {
        ok: false,
        reason: "invalid",
        current: s.fingerprint,
        error: `nothing written; the document is invalid: ${parsed.summary}`,
        problems: parsed.problems,
      },
    };
  if (parsed.fingerprint === s.fingerprint && !invalidInKv) return { kind: "unchanged" };
  return { kind: "write", doc: parsed.doc, fingerprint: parsed.fingerprint };
}

/**
 * State after an operator's write through the controller: a new attempt (as a KV write would
 * start) that the controller also publishes in its view, superseding every version it knew, so an
 * isolate still holding an older KV copy routes by the new document before KV propagates.
 */
export function afterOperatorWrite(
  s: ControllerState,
  text: string,
  fp: string,
  doc: Rollout,
  at: string,
  /** An invalid version KV held that this write replaces (it must never count as an operator's newer write). */
  invalid: string | null = null,
): ControllerState {
  const next = startAttempt(s, text, fp, doc, at);
  const replaced = [...(invalid ? [invalid] : []), ...s.fingerprints, ...s.supersedes].filter((f) => f !== fp);
  return {
    ...next,
    supersedes: [...new Set(replaced)].slice(0, MAX_SUPERSEDES),
    revision: s.revision + 1,
    viewDoc: doc,
    viewFingerprint: fp,
    pendingKvText: text,
  };
}
