// What the demo (scripts/demo.ts) hands each of its scenes (./demo-flag.ts, ./demo-experiment.ts):
// its stack, its traffic, its way of printing, and the operator's ways of changing the documents.
import { docText, type RawDoc } from "../../cli/doc-edit";
import { writeDocText, type KvTarget } from "../../cli/kv";
import { shellWord } from "../../cli/shell-word";
import { FLAGS_KEY } from "../../src/model/names";
import { parseFlags } from "../../src/model/parse";
import type { StatusSnapshot } from "../../src/model/status";
import type { DevStack } from "./dev-stack";
import type { Traffic } from "./traffic";

export interface Stage {
  stack: DevStack;
  kv: KvTarget;
  traffic: Traffic;
  visitors: number;
  /** Seconds each step is held. */
  holdS: number;
  say(s?: string): void;
  act(n: number, title: string, text: string): void;
  /** Time since the demo started, padded to 5 characters: " +12s". */
  stamp(): string;
  status(): Promise<StatusSnapshot | null>;
  /** Prints a per-second line (not under --quiet). */
  live(line: string): void;
  /** Waits `seconds`, printing `line` every second (not under --quiet). */
  hold(seconds: number, line: (s: StatusSnapshot | null) => string): Promise<void>;
  /** `edgeshift set <percent> --release <release>` on the demo's KV, printed as the demo's first scene prints it. */
  setPercent(percent: number, release: string): Promise<void>;
  stopping(): boolean;
}

/**
 * The options that point a command (`npm run edgeshift -- …`, `npx wrangler kv …`) at the demo's own
 * KV: it lives in a temp directory, not in the .wrangler/state they read without them.
 */
export const kvArgv = (kv: KvTarget) => ["--local", ...(kv.persistTo ? ["--persist-to", kv.persistTo] : [])];
/** kvArgv as a printed command carries them: a TMPDIR with a space in it stays one word. */
export const kvOptions = (kv: KvTarget) => kvArgv(kv).map(shellWord).join(" ");

/**
 * The `flags` document written as `edgeshift flags` tells an operator to (a `wrangler kv key put`,
 * there being no create command), checked by the Worker's own parser first, and printed whole: the
 * printed command writes the same.
 */
export async function writeFlags(st: Stage, doc: RawDoc): Promise<void> {
  const text = docText(doc);
  const parsed = parseFlags(text);
  if (!parsed.ok) throw new Error(`the demo's flags document is invalid: ${parsed.summary}`);
  await writeDocText(st.kv, FLAGS_KEY, text);
  st.say(
    `  $ npx wrangler kv key put --binding ROLLOUT_CONFIG ${FLAGS_KEY} ${shellWord(JSON.stringify(doc))} ${kvOptions(st.kv)}`,
  );
}
