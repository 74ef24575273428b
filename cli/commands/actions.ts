// pause, resume, promote, abort, approve: state changes only the controller (Durable Object) can make,
// through the admin API. Each is recorded with who and why; a 409 means it does not apply now.
import type { ActionKind } from "../../src/model/status";
import { EXIT } from "../args";
import { API_OPTIONS, JSON_OPTION, apiFrom, noteFrom, noPositionals, type Command } from "../command";
import { renderStatus } from "../render";

const SUMMARY: Record<ActionKind, string> = {
  pause: "Pause the running plan: the current step is held until `resume` (rollback still applies).",
  resume: "Resume a paused plan from its current step.",
  promote:
    "Promote the canary: the instant blue/green switch — the canary becomes stable at once, whatever its percent (no 100 % step), and the old stable becomes the idle canary at 0 %.",
  abort: "Abort: send everyone back to stable now (percent 0), like a rollback but by hand.",
  approve:
    'Approve the plan step that waits for a person (a step with "approve": true that has held healthy): the plan goes on.',
};

const EXAMPLE_REASON: Record<ActionKind, string> = {
  pause: "waiting for the DB migration",
  resume: "DB migration done",
  promote: "v2.4.0 verified",
  abort: "checkout errors in Sentry",
  approve: "dashboards look good at 50 %",
};

function actionCommand(kind: ActionKind): Command {
  return {
    name: kind,
    usage: `${kind} [--reason <text>] [options]`,
    summary: SUMMARY[kind],
    details: `Example: edgeshift ${kind} --reason "${EXAMPLE_REASON[kind]}"`,
    options: {
      ...API_OPTIONS,
      reason: { type: "string", value: "<text>", help: "why (recorded with the event, and in its notifications)" },
      note: {
        type: "string",
        value: "<text>",
        help: "free text kept with the event, e.g. who is at the keyboard (default: $USER); the actor is your token's name",
      },
      ...JSON_OPTION,
    },
    async run(a, io) {
      noPositionals(a, kind);
      const note = noteFrom(a.values, io);
      const r = await apiFrom(a.values, io).action(kind, { note, reason: a.values.reason as string | undefined });
      if (a.values.json) io.out(JSON.stringify(r, null, 2));
      else {
        io.out(`${kind}: done`);
        io.out(renderStatus(r.status, io.style, { events: 3 }));
      }
      return EXIT.OK;
    },
  };
}

export const pause = actionCommand("pause");
export const resume = actionCommand("resume");
export const promote = actionCommand("promote");
export const abort = actionCommand("abort");
export const approve = actionCommand("approve");
