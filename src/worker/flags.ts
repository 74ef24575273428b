// The isolate's compiled flags: the cached `flags` document (./config-cache.ts) prepared for
// evaluation once per version, shared by the proxy (the origin header, guarded flags' outcomes) and
// OFREP (src/admin). Guarded flags the controller switched off (its view's `killedFlags`) are served
// off here when the cached flag has the definition the kill names, before KV shows the controller's
// write, whichever version of the document the isolate holds.
import { compileFlags, type CompiledFlags } from "../flags/evaluate";
import type { Cached } from "./config-cache";
import type { FlagsDocument } from "../model/flags";
import type { KilledFlag } from "../model/protocol";

let base: CompiledFlags | null = null;
let compiled: CompiledFlags | null = null;
let compiledFor = "";

/** The compiled form of `cached` with the kills that apply to it, rebuilt only when either changes. */
export function compiledFlags(cached: Cached<FlagsDocument>, killed: readonly KilledFlag[] | undefined): CompiledFlags {
  if (base === null || base.fingerprint !== cached.fingerprint) base = compileFlags(cached.doc, cached.fingerprint);
  let off: string[] | null = null;
  if (killed !== undefined && killed.length > 0)
    for (const k of killed) if (base.byKey.get(k.key)?.definition === k.definition) (off ??= []).push(k.key);
  if (off === null) return base;
  const key = cached.fingerprint + "|" + off.join(",");
  if (compiled !== null && compiledFor === key) return compiled;
  compiledFor = key;
  return (compiled = compileFlags(switchedOff(cached.doc, off), cached.fingerprint));
}

function switchedOff(doc: FlagsDocument, keys: string[]): FlagsDocument {
  const flags = { ...doc.flags };
  for (const k of keys) if (flags[k] !== undefined) flags[k] = { ...flags[k], on: false };
  return { ...doc, flags };
}
