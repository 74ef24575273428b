// The controller's RPC surface as plain types. Workers' generated stub types turn any method whose
// values contain `unknown` (the document's free-form `rolledBack.figures`) into `never`; callers use
// this interface instead, through `controllerStub()`.
import type { Env } from "../env";
import { CONTROLLER_NAME } from "../model/names";
import type { ControllerView, Report } from "../model/protocol";
import type { ActionKind, ActionRequest, NotificationTest, RolloutEvent, StatusSnapshot } from "../model/status";
import type { WatchAnswer } from "./watchers";
import type { DocumentVersion, DocumentWriteOutcome, DocumentWriteRequest } from "../model/document-write";

export interface ControllerRpc {
  report(r: Report): Promise<ControllerView>;
  view(): Promise<ControllerView>;
  /** Held until the revision is not `knownRevision` or `maxWaitMs` passed (aggregators; ./watchers.ts). */
  watch(knownRevision: number, maxWaitMs: number): Promise<WatchAnswer>;
  status(): Promise<StatusSnapshot>;
  history(limit?: number): Promise<RolloutEvent[]>;
  /** A test message to each notification destination (or the one named); an unknown name is refused. */
  testNotifications(actor: string, destination?: string): Promise<NotificationTest[]>;
  action(kind: ActionKind, req?: ActionRequest): Promise<StatusSnapshot>;
  /** The version in force: the base of an operator's read-modify-write. */
  document(): Promise<DocumentVersion>;
  /** An operator's write, checked against the version it was based on. */
  writeDocument(req: DocumentWriteRequest): Promise<DocumentWriteOutcome>;
  /** Waits for background KV work to finish (tests, CLI). */
  settle(): Promise<void>;
  ping(): Promise<string>;
}

/** The deployment's controller (instance "rollout"), or a named one (tests, benchmarks). */
export function controllerStub(env: Pick<Env, "CONTROLLER">, name: string = CONTROLLER_NAME): ControllerRpc {
  return env.CONTROLLER.get(env.CONTROLLER.idFromName(name)) as unknown as ControllerRpc;
}
