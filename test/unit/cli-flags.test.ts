// `edgeshift flags`: the pure parts. The edits keep the document as written and never produce an
// invalid one (cli/flags-edit.ts's table), the rendering shows what the Worker evaluates, and bad
// arguments are exit 2 before KV is touched. The real wrangler path is test/e2e/cli.test.ts.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CliError, EXIT } from "../../cli/args";
import type { Io } from "../../cli/command";
import { main } from "../../cli/edgeshift";
import { changeFlag, setRolloutPercent, switchFlag, type FlagChange } from "../../cli/flags-edit";
import { describeKv, kvFlagsFor, pickupNote } from "../../cli/kv";
import { changeLines, detail, renderFlag, renderFlagList, rolloutText, summarize } from "../../cli/flags-render";
import { parseFlags } from "../../src/model/parse";
import type { FlagsDocument } from "../../src/model/flags";

const KV = { local: true };
const WHERE = "local KV (.wrangler/state)";

const DOC = {
  flags: {
    "new-checkout": { description: "the new checkout", rollout: { percent: 10 }, browser: true },
    theme: {
      variations: { light: "light", dark: "dark", contrast: "contrast" },
      default: "light",
      rollout: { percent: 50, split: { dark: 2, contrast: 1 } },
      rules: [
        { name: "staff", variation: "dark", header: { name: "x-staff", values: ["1"] } },
        { variation: "contrast", country: ["NZ", "AU"] },
      ],
    },
    quiet: { on: false, origin: false },
  },
};
const TEXT = JSON.stringify(DOC);

function parsed(doc: unknown): FlagsDocument {
  const r = parseFlags(JSON.stringify(doc));
  if (!r.ok) throw new Error(r.summary);
  return r.doc;
}

function failure(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    return e as CliError;
  }
  throw new Error("expected a CliError");
}

describe("flags on/off: the kill switch as a read-modify-write of the JSON", () => {
  it("off sets `on` and keeps every other flag and field as written, in 2-space JSON", () => {
    const c = changeFlag(TEXT, KV, "new-checkout", switchFlag(false));
    const expected = structuredClone(DOC) as any;
    expected.flags["new-checkout"].on = false;
    expect(JSON.parse(c.text)).toEqual(expected);
    expect(c.text).toBe(JSON.stringify(expected, null, 2));
    // Field order as written: `on` is appended, nothing is reordered.
    expect(Object.keys(JSON.parse(c.text).flags["new-checkout"])).toEqual(["description", "rollout", "browser", "on"]);
    expect(c).toMatchObject({ changed: true, before: { on: true }, after: { on: false } });
  });

  it("a switch that changes nothing writes nothing: on with `on` absent (the default), off when off", () => {
    expect(changeFlag(TEXT, KV, "new-checkout", switchFlag(true)).changed).toBe(false);
    expect(changeFlag(TEXT, KV, "quiet", switchFlag(false)).changed).toBe(false);
    expect(changeFlag(TEXT, KV, "quiet", switchFlag(true)).changed).toBe(true);
  });

  it("an unknown key is exit 2 with the known keys and the closest one", () => {
    const e = failure(() => changeFlag(TEXT, KV, "new-chekout", switchFlag(false)));
    expect(e.exitCode).toBe(EXIT.USAGE);
    expect(e.message).toBe(
      `no flag "new-chekout" in the flags document in ${WHERE} (did you mean "new-checkout"?); its flags: new-checkout, theme, quiet (edgeshift flags list)`,
    );
    expect(failure(() => changeFlag(TEXT, KV, "zzzzzzzzzz", switchFlag(false))).message).not.toContain("did you mean");
  });

  it("no document, or one without flags: exit 2 saying how to write one", () => {
    const none = failure(() => changeFlag(null, KV, "x", switchFlag(false)));
    expect(none.exitCode).toBe(EXIT.USAGE);
    expect(none.message).toContain(`there is no flags document in ${WHERE} (KV key "flags")`);
    // The KV read is named in the command to copy: wrangler's `kv key put` is local without a flag.
    expect(none.message).toContain(
      `wrangler kv key put --binding ROLLOUT_CONFIG flags '{"flags": {"x": {}}}' --local\``,
    );
    expect(failure(() => changeFlag("{}", KV, "x", switchFlag(false))).message).toContain("has no flags");
    // A name that is a property of every object is still not a flag.
    expect(failure(() => changeFlag(TEXT, KV, "constructor", switchFlag(false))).exitCode).toBe(EXIT.USAGE);
  });

  it("a hint's wrangler command reaches the KV the command read: --remote, or --local with its directory", () => {
    // wrangler 4's `kv key` commands default to local storage: a hint without --remote misses production.
    expect(kvFlagsFor({ local: false })).toBe("--remote");
    expect(kvFlagsFor({ local: true })).toBe("--local");
    expect(kvFlagsFor({ local: true, persistTo: "/tmp/state" })).toBe("--local --persist-to /tmp/state");
    // The environment and config the command used: without them a copied fix writes another namespace.
    expect(kvFlagsFor({ local: false, env: "staging", config: "/srv/app/wrangler.staging.toml" })).toBe(
      "--remote --config /srv/app/wrangler.staging.toml --env staging",
    );
    expect(describeKv({ local: false, env: "staging" })).toBe("remote KV (Cloudflare), env staging");
    // A path a shell would split is quoted.
    expect(kvFlagsFor({ local: true, persistTo: "/tmp/my dir/it's" })).toBe(
      `--local --persist-to '/tmp/my dir/it'\\''s'`,
    );
    expect(kvFlagsFor(null)).toBe("--remote (--local against wrangler dev)");
  });

  it("a write's pickup note names the document's own TTL: flags are re-read every FLAGS_TTL_SECONDS", () => {
    expect(pickupNote(KV, "flags")).toBe("wrangler dev picks it up within FLAGS_TTL_SECONDS (15 s by default)");
    expect(pickupNote({ local: false }, "rollout")).toContain("within CONFIG_TTL_SECONDS (3 s by default)");
  });

  it("off works on an invalid document when the result is valid (here the odd part was `on` itself)", () => {
    const odd = structuredClone(DOC) as any;
    odd.flags.theme.on = "yes";
    expect(parseFlags(JSON.stringify(odd)).ok).toBe(false);
    const c = changeFlag(JSON.stringify(odd), KV, "theme", switchFlag(false));
    expect(c).toMatchObject({ changed: true, before: null, after: { on: false } });
    expect(parseFlags(c.text).ok).toBe(true);
    expect(changeLines(c, WHERE, false)).toContain(
      `note: the flags document in ${WHERE} was invalid; this write makes it valid again`,
    );
  });

  it("an invalid document the edit does not fix: exit 1 with its problems, nothing to write", () => {
    const bad = structuredClone(DOC) as any;
    bad.flags.theme.rollot = {};
    const e = failure(() => changeFlag(JSON.stringify(bad), KV, "new-checkout", switchFlag(false)));
    expect(e.exitCode).toBe(EXIT.FAILED);
    expect(e.message).toContain("is invalid, and this change does not make it valid");
    expect(e.message).toContain('  flags.theme: unknown field "rollot" (did you mean "rollout"?)');
    expect(e.message).toContain("edgeshift flags validate <file>");
  });

  it("a document that is not a JSON object, or a flag that is not one, cannot be edited: exit 1", () => {
    const notJson = failure(() => changeFlag("{flags:", KV, "x", switchFlag(false)));
    expect(notJson.exitCode).toBe(EXIT.FAILED);
    expect(notJson.message).toMatch(/cannot be read as a JSON object[^]*not valid JSON/);
    const notObject = failure(() => changeFlag('{"flags": {"x": true}}', KV, "x", switchFlag(false)));
    expect(notObject.exitCode).toBe(EXIT.FAILED);
    expect(notObject.message).toContain("flags.x in local KV (.wrangler/state) is true, not an object");
  });
});

describe("flags set --percent", () => {
  it("sets rollout.percent and keeps the split", () => {
    const c = changeFlag(TEXT, KV, "theme", setRolloutPercent(20));
    expect(JSON.parse(c.text).flags.theme.rollout).toEqual({ percent: 20, split: { dark: 2, contrast: 1 } });
    expect(JSON.parse(c.text).flags["new-checkout"]).toEqual(DOC.flags["new-checkout"]);
  });

  it("creates rollout when the flag has none", () => {
    const c = changeFlag(TEXT, KV, "quiet", setRolloutPercent(5));
    expect(JSON.parse(c.text).flags.quiet).toEqual({ on: false, origin: false, rollout: { percent: 5 } });
    expect(changeLines(c, WHERE, false)).toEqual([
      `quiet: rollout 5 % → on (was none) — written to ${WHERE}`,
      "note: quiet is off: everyone gets off = false",
    ]);
  });

  it("a change that would make the document invalid is exit 2 with the Worker's message", () => {
    const doc = { flags: { t: { variations: { a: "a", b: "b", c: "c" }, default: "a" } } };
    const e = failure(() => changeFlag(JSON.stringify(doc), KV, "t", setRolloutPercent(10)));
    expect(e.exitCode).toBe(EXIT.USAGE);
    expect(e.message).toContain("nothing written; the flags document would be invalid");
    expect(e.message).toContain('flags.t.rollout.split: with 2 variations besides the default "a"');
  });

  it("a `rollout` that is not an object is not silently replaced: exit 1", () => {
    const e = failure(() => changeFlag('{"flags": {"x": {"rollout": 5}}}', KV, "x", setRolloutPercent(10)));
    expect(e.exitCode).toBe(EXIT.FAILED);
    expect(e.message).toContain('"rollout" is 5, not an object');
  });

  it("the same percent again writes nothing", () => {
    expect(changeFlag(TEXT, KV, "new-checkout", setRolloutPercent(10)).changed).toBe(false);
  });
});

describe("rendering", () => {
  const doc = parsed(DOC);
  const style = { color: false, width: 100 };

  it("summaries carry what the Worker evaluates: resolved off/default and the implied split", () => {
    expect(summarize("new-checkout", doc.flags["new-checkout"])).toEqual({
      key: "new-checkout",
      on: true,
      type: "boolean",
      variations: ["off", "on"],
      off: "off",
      default: "off",
      rollout: { percent: 10, split: { on: 1 } },
      rules: 0,
      origin: true,
      browser: true,
    });
    expect(summarize("quiet", doc.flags.quiet)).toMatchObject({ on: false, rollout: null, origin: false });
    expect(detail("theme", doc.flags.theme)).toMatchObject({
      type: "string",
      off: "light",
      default: "light",
      salt: "theme",
      variations: { light: "light", dark: "dark", contrast: "contrast" },
      rules: [{ name: "staff" }, { variation: "contrast" }],
    });
  });

  it("rollout text: one variation by name, several by their share of all visitors", () => {
    expect(rolloutText(null)).toBe("–");
    expect(rolloutText({ percent: 10, split: { on: 1 } })).toBe("10 % → on");
    expect(rolloutText({ percent: 50, split: { dark: 2, contrast: 1 } })).toBe("50 % → dark 33.33 %, contrast 16.67 %");
  });

  it("the list: one aligned row per flag", () => {
    expect(renderFlagList(doc, style).split("\n")).toEqual([
      "  KEY           STATE  TYPE     ROLLOUT                                RULES  SENT TO",
      "  new-checkout  on     boolean  10 % → on                              0      origin, browser",
      "  theme         on     string   50 % → dark 33.33 %, contrast 16.67 %  2      origin",
      "  quiet         OFF    boolean  –                                      0      –",
    ]);
    expect(renderFlagList({ flags: {}, goals: {} }, style)).toBe("  no flags");
  });

  it("show: variations, off and default, rules, rollout, exposure", () => {
    const t = renderFlag("theme", doc.flags.theme, style);
    expect(t).toContain("theme · on · string");
    expect(t).toContain('variations  light = "light", dark = "dark", contrast = "contrast"');
    expect(t).toContain('when off    light = "light"');
    expect(t).toContain("1. staff: → dark when header x-staff is 1");
    expect(t).toContain("2. → contrast when country NZ, AU");
    expect(t).toContain(
      'rollout     50 % → dark 33.33 %, contrast 16.67 % of visitors (sticky by the split\'s key, salt "theme")',
    );
    expect(renderFlag("quiet", doc.flags.quiet, style)).toContain("when off    off = false  ← everyone gets this now");
  });

  it("what a write did", () => {
    const off: FlagChange = changeFlag(TEXT, KV, "new-checkout", switchFlag(false));
    expect(changeLines(off, WHERE, false)).toEqual([
      `new-checkout: on → OFF — written to ${WHERE}`,
      "note: new-checkout is off: everyone gets off = false",
    ]);
    expect(changeLines(off, WHERE, true)[0]).toBe(`dry run, nothing written. The document would be:\n${off.text}`);
    const same = changeFlag(TEXT, KV, "new-checkout", switchFlag(true));
    expect(changeLines(same, WHERE, false)).toEqual([
      `nothing to write: ${WHERE} already has new-checkout on, rollout 10 % → on`,
    ]);
    const bare = changeFlag('{"flags": {"b": {"on": false}}}', KV, "b", switchFlag(true));
    expect(changeLines(bare, WHERE, false)[1]).toBe(
      "note: b is on, but with no rules and no rollout everyone gets the default off = false (edgeshift flags set b --percent <n>)",
    );
  });
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const x: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: {}, style: { color: false, width: 100 } };
  return { x, out: () => out.join("\n"), err: () => err.join("\n") };
}

describe("edgeshift flags: arguments (exit 2 before KV is touched) and help", () => {
  it("the group: its help lists the subcommands; none or an unknown one is exit 2", async () => {
    const h = io();
    expect(await main(["flags", "--help"], h.x)).toBe(EXIT.OK);
    for (const s of ["list", "show <key>", "on <key>", "off <key>", "set <key> --percent <n>", "validate <file|->"])
      expect(h.out()).toContain(`  ${s} `);
    expect(h.out()).toContain("the last writer wins");
    expect(await main(["flags"], io().x)).toBe(EXIT.USAGE);
    const u = io();
    expect(await main(["flags", "of", "x"], u.x)).toBe(EXIT.USAGE);
    expect(u.err()).toBe(
      'edgeshift flags: unknown subcommand "of"; subcommands: list, show, on, off, set, validate (edgeshift flags --help)',
    );
  });

  it("each subcommand has --help with its usage, the write ones say the last writer wins", async () => {
    for (const sub of ["list", "show", "on", "off", "set", "validate"]) {
      const h = io();
      expect(await main(["flags", sub, "--help"], h.x)).toBe(EXIT.OK);
      expect(h.out()).toMatch(new RegExp(`^edgeshift flags ${sub}`));
      expect(h.out()).toContain("Exit codes");
      if (["on", "off", "set"].includes(sub)) expect(h.out()).toContain("the last writer wins");
    }
  });

  it.each([
    [["flags", "off"], "edgeshift flags off: flags off needs a flag's key, e.g. `edgeshift flags off new-checkout`"],
    [["flags", "on", "a", "b"], "flags on takes one key (got 2: a b)"],
    [["flags", "set", "x", "--local"], "--percent is required, e.g. `edgeshift flags set x --percent 10`"],
    [["flags", "set", "x", "--percent", "150", "--local"], "--percent: must be at most 100"],
    [["flags", "set", "x", "--percent", "5%", "--local"], "--percent: must be a number from 0 to 100"],
    [["flags", "off", "x", "--persist-to", "/tmp/x"], "--persist-to: only applies to local KV; add --local"],
    [["flags", "off", "x", "--precent", "5"], "run `edgeshift flags off --help`"],
    [["flags", "list", "extra"], 'flags list takes no argument (got "extra")'],
  ])("%j: exit 2, %s", async (argv, message) => {
    const r = io();
    expect(await main(argv, r.x)).toBe(EXIT.USAGE);
    expect(r.err()).toContain(message);
  });
});

describe("edgeshift flags validate", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "edgeshift-flags-"));
  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it("a valid file: exit 0 and the list", async () => {
    const r = io();
    expect(await main(["flags", "validate", file("good.json", TEXT)], r.x)).toBe(EXIT.OK);
    expect(r.out()).toContain("good.json is valid\n  3 flags\n  KEY");
    expect(r.out()).toContain("  quiet         OFF");
  });

  it("an invalid file: exit 1, each problem as `path: message`", async () => {
    const r = io();
    const f = file("bad.json", JSON.stringify({ flags: { x: { rollot: {}, on: "yes" } } }));
    expect(await main(["flags", "validate", f], r.x)).toBe(EXIT.FAILED);
    expect(r.err().split("\n")).toEqual([
      `✘ ${f}: 2 problems (the Worker would keep its last good flags)`,
      '  flags.x.on: on must be true or false (false serves the off variation to everyone) (got "yes")',
      '  flags.x: unknown field "rollot" (did you mean "rollout"?)',
    ]);
    const j = io();
    expect(await main(["flags", "validate", f, "--json"], j.x)).toBe(EXIT.FAILED);
    expect(JSON.parse(j.out())).toMatchObject({ ok: false, problems: [{ path: "flags.x.on" }, { path: "flags.x" }] });
  });

  it("an unreadable file or none: exit 2", async () => {
    const r = io();
    expect(await main(["flags", "validate", path.join(dir, "nope.json")], r.x)).toBe(EXIT.USAGE);
    expect(r.err()).toContain("cannot read");
    const none = io();
    expect(await main(["flags", "validate"], none.x)).toBe(EXIT.USAGE);
    expect(none.err()).toContain(
      "flags validate needs one file (or - for stdin), e.g. `edgeshift flags validate flags.json`",
    );
  });
});
