// Pure read-modify-write of the `flags` document for `edgeshift flags on|off|set`. The edit works
// on the JSON as it was written (defaults not filled in, every other flag and field untouched),
// and the whole new document is checked with the Worker's parser before anything is written.
//
// What the current document must be, decided here:
// | current document                          | outcome                                             |
// |-------------------------------------------|-----------------------------------------------------|
// | missing, or has no such flag              | exit 2: names the known keys and the closest one    |
// | not a JSON object, or the flag not one    | exit 1: cannot be edited safely, fix it by hand     |
// | invalid, and still invalid after the edit | exit 1: its problems; nothing written               |
// | invalid, valid after the edit             | written: only the result has to be valid            |
// | valid, invalid after the edit             | exit 2: the problems the change would cause         |
// | valid, and the edit changes nothing       | nothing written (exit 0)                            |
import { closest } from "../src/lib/closest";
import type { Flag } from "../src/model/flags";
import { FLAGS_KEY } from "../src/model/names";
import { parseFlags } from "../src/model/parse";
import { CliError, EXIT, usageError } from "./args";
import { docText, problemsText, type RawDoc } from "./doc-edit";
import { describeKv, kvFlagsFor, type KvTarget } from "./kv";

export type FlagEdit = (flag: RawDoc) => RawDoc;

/** The kill switch. Written explicitly even when it equals the default, so the document says so. */
export const switchFlag =
  (on: boolean): FlagEdit =>
  (flag) => ({ ...flag, on });

/** `rollout.percent`, keeping `split`; `rollout` is created when missing. */
export const setRolloutPercent =
  (percent: number): FlagEdit =>
  (flag) => {
    const rollout = flag.rollout;
    if (rollout !== undefined && !isObject(rollout))
      throw new CliError(
        `"rollout" is ${JSON.stringify(rollout)}, not an object such as {"percent": 10}: fix it by hand first`,
        EXIT.FAILED,
      );
    return { ...flag, rollout: { ...rollout, percent } };
  };

export interface FlagChange {
  key: string;
  /** The flag as the Worker reads it before the edit; null when the document was invalid. */
  before: Flag | null;
  after: Flag;
  /** The whole new document, as it would be written. */
  text: string;
  /** False when the document already says this (nothing to write). */
  changed: boolean;
}

const isObject = (v: unknown): v is RawDoc => typeof v === "object" && v !== null && !Array.isArray(v);

/** How to repair the flags document in `kv` by hand. */
export const fixByHand = (kv: KvTarget) =>
  `fix it with \`wrangler kv key put --binding ROLLOUT_CONFIG ${FLAGS_KEY} '<json>' ${kvFlagsFor(kv)}\` (check the file first with \`edgeshift flags validate <file>\`)`;

/** Applies `edit` to flag `key` of the document `current` (read from `kv`); throws CliError when it must not be written. */
export function changeFlag(current: string | null, kv: KvTarget, key: string, edit: FlagEdit): FlagChange {
  const where = describeKv(kv);
  const parsed = parseFlags(current);
  let raw: unknown = null;
  try {
    raw = current === null ? {} : JSON.parse(current);
  } catch {}
  if (!isObject(raw))
    throw new CliError(
      `the flags document in ${where} cannot be read as a JSON object, so it cannot be edited safely:\n${parsed.ok ? "" : problemsText(parsed.problems)}\n${fixByHand(kv)}`,
      EXIT.FAILED,
    );
  const flags = isObject(raw.flags) ? raw.flags : {};
  if (!Object.hasOwn(flags, key)) throw unknownFlag(key, Object.keys(flags), kv, current === null);
  const flag = flags[key];
  if (!isObject(flag))
    throw new CliError(
      `flags.${key} in ${where} is ${JSON.stringify(flag)}, not an object, so it cannot be edited safely; ${fixByHand(kv)}`,
      EXIT.FAILED,
    );
  const text = docText({ ...raw, flags: { ...flags, [key]: edit(flag) } });
  const next = parseFlags(text);
  if (!next.ok) {
    if (parsed.ok)
      throw usageError(`nothing written; the flags document would be invalid:\n${problemsText(next.problems)}`);
    throw new CliError(
      `nothing written; the flags document in ${where} is invalid, and this change does not make it valid:\n${problemsText(next.problems)}\n${fixByHand(kv)}`,
      EXIT.FAILED,
    );
  }
  const before = parsed.ok ? (parsed.doc.flags[key] ?? null) : null;
  const after = next.doc.flags[key];
  const changed = !parsed.ok || JSON.stringify(parsed.doc) !== JSON.stringify(next.doc);
  return { key, before, after, text, changed };
}

/** No such flag: the known keys, the likely typo first. Exit 2: the key as typed is the bad value. */
export function unknownFlag(key: string, known: string[], kv: KvTarget, missing: boolean): CliError {
  const where = describeKv(kv);
  if (known.length === 0)
    return usageError(
      `no flag "${key}": ${missing ? `there is no flags document in ${where} (KV key "${FLAGS_KEY}")` : `the flags document in ${where} has no flags`}; ` +
        `write one with \`wrangler kv key put --binding ROLLOUT_CONFIG ${FLAGS_KEY} '{"flags": {"${key}": {}}}' ${kvFlagsFor(kv)}\` (check it first with \`edgeshift flags validate <file>\`)`,
    );
  const guess = closest(key, known);
  const shown = known.slice(0, 20).join(", ") + (known.length > 20 ? `, … ${known.length - 20} more` : "");
  return usageError(
    `no flag "${key}" in the flags document in ${where}${guess ? ` (did you mean "${guess}"?)` : ""}; its flags: ${shown} (edgeshift flags list)`,
  );
}
