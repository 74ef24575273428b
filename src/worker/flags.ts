// The isolate's compiled flags: the cached `flags` document (./config-cache.ts) prepared for
// evaluation once per version, shared by the proxy (the origin header) and OFREP (src/admin).
import { compileFlags, type CompiledFlags } from "../flags/evaluate";
import type { Cached } from "./config-cache";
import type { FlagsDocument } from "../model/flags";

let compiled: CompiledFlags | null = null;

/** The compiled form of `cached`, rebuilt only when its version changes. */
export function compiledFlags(cached: Cached<FlagsDocument>): CompiledFlags {
  const c = compiled;
  if (c !== null && c.fingerprint === cached.fingerprint) return c;
  return (compiled = compileFlags(cached.doc, cached.fingerprint));
}
