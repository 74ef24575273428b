// Where `set` and `start` read and write the `rollout` document. Through the controller (admin API
// `GET|PUT /__edgeshift/api/rollout`) whenever the Worker's URL and token are configured: the write
// names the version it was based on, and the controller refuses it (409) if a plan step, a rollback
// or another operator came first, so nothing is lost either way. Through wrangler's KV commands
// only when they are not: KV has no compare-and-swap, so that path says what it cannot promise.
import type { AdminApi } from "./api";
import { usageError, type Parsed } from "./args";
import { apiFrom, kvFrom, type Io } from "./command";
import type { RawDoc } from "./doc-edit";
import { describeKv, readDocText, writeDocText, type KvTarget } from "./kv";
import { ROLLOUT_KEY } from "../src/model/names";

export interface DocumentStore {
  /** "the controller at https://…" or "local KV (.wrangler/state)". */
  describe: string;
  via: "controller" | "kv";
  /** The KV written, for a hint's wrangler flags; null through the controller (its KV is the Worker's). */
  kv: KvTarget | null;
  /** The text in force and its version (null: raw KV, which has none to check against). */
  read(): Promise<{ text: string | null; version: string | null }>;
  /** Resolves to the controller's attempt the write began (null: raw KV, which does not know it). */
  write(doc: RawDoc, text: string, version: string | null): Promise<number | null>;
}

const NO_CAS =
  "KV has no compare-and-swap: a controller write at the same moment (a plan step, a rollback) can be lost, or this one can " +
  "(the controller keeps an operator's version it finds before writing, not one that lands between its check and its put). " +
  "Give --url and --token to write through the controller, which checks the version you read.";
export const RAW_KV_WARNING =
  "warning: no Worker URL and token (--url/EDGESHIFT_URL, --token/EDGESHIFT_TOKEN): writing KV directly with wrangler. " +
  NO_CAS;
/** --local given while a URL and token are configured: the person chose KV, but may not know what it costs. */
export const LOCAL_KV_WARNING =
  "warning: --local: writing local KV directly with wrangler, not through the controller at the URL configured. " +
  NO_CAS;

export function apiStore(api: AdminApi, note: string, reason?: string): DocumentStore {
  return {
    describe: `the controller at ${api.target.url}`,
    via: "controller",
    kv: null,
    async read() {
      const v = await api.document();
      return { text: v.text, version: v.fingerprint };
    },
    async write(doc, _text, version) {
      const r = await api.writeDocument({
        document: doc,
        ifMatch: version ?? "none",
        note,
        ...(reason ? { reason } : {}),
      });
      return r.attempt;
    },
  };
}

/** The controller when its URL and token are configured (flag or environment), else raw KV with a warning. */
export function storeFrom(
  v: Parsed["values"],
  io: Io,
  who: { note: string; reason?: string },
): { store: DocumentStore; warning: string | null } {
  const url = v.url ?? io.env.EDGESHIFT_URL;
  const token = v.token ?? io.env.EDGESHIFT_TOKEN;
  // --local chooses KV on purpose, whatever the environment holds (the demo exports both and prints
  // commands with --local --persist-to).
  if (v.local) return { store: kvStore(kvFrom(v, io)), warning: url && token ? LOCAL_KV_WARNING : RAW_KV_WARNING };
  if (url && token) return { store: apiStore(apiFrom(v, io), who.note, who.reason), warning: null };
  // Half a controller target is a mistake, not a request for raw KV: going on would write the account's
  // KV, unchecked, when the person meant the controller (with --local they chose KV themselves).
  if (url || token)
    throw usageError(
      url
        ? `a Worker URL (${v.url ? "--url" : "EDGESHIFT_URL"}) but no admin token: give --token (or EDGESHIFT_TOKEN) to write through the controller, or give neither to write KV with wrangler`
        : `an admin token (${v.token ? "--token" : "EDGESHIFT_TOKEN"}) but no Worker URL: give --url (or EDGESHIFT_URL) to write through the controller, or give neither to write KV with wrangler`,
    );
  return { store: kvStore(kvFrom(v, io)), warning: RAW_KV_WARNING };
}

/** wrangler's `kv key get/put`: no version to check against (the demo's path, and the fallback). */
export function kvStore(kv: KvTarget): DocumentStore {
  return {
    describe: describeKv(kv),
    via: "kv",
    kv,
    read: async () => ({ text: await readDocText(kv, ROLLOUT_KEY), version: null }),
    write: async (_doc, text) => {
      await writeDocText(kv, ROLLOUT_KEY, text);
      return null;
    },
  };
}
