// The official browser SDK (@openfeature/web-sdk with @openfeature/ofrep-web-provider) in a real
// headless Chromium, on a page an origin serves through `wrangler dev`, so the SDK calls
// /__edgeshift/ofrep on the page's own origin with no credential, as a deployed front end would.
// It sees only the flags marked `browser`, evaluated for its own visitor cookie (the context's
// targetingKey names someone else and is ignored), agrees with the x-edgeshift-flags header the
// origin received for that visitor, and picks up a flag switched off in KV by polling with ETags.
// The server SDK is test/worker/openfeature-sdk.test.ts.
import { build } from "esbuild";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { compileFlags, evaluateFlag } from "../../src/flags/evaluate";
import { flagsDocumentSchema } from "../../src/model/flags";
import { VISITOR_COOKIE, visitorIdOf } from "../../src/routing/visitor";
import { hasChromium, launchChromium } from "./chromium";

const THEMES = ["red", "orange", "yellow", "green", "blue", "violet"];
/** One flag per type the SDK reads; two depend on the visitor, so a page keyed by anyone else shows. */
const FLAGS = {
  flags: {
    "new-checkout": { browser: true, rollout: { percent: 100 } },
    theme: {
      browser: true,
      variations: Object.fromEntries(THEMES.map((t) => [t, t])),
      default: "red",
      rollout: { percent: 100, split: Object.fromEntries(THEMES.map((t) => [t, 1])) },
    },
    "max-items": { browser: true, variations: { few: 3, many: 50 }, default: "many" },
    limits: {
      browser: true,
      variations: { base: { rps: 10 }, pro: { rps: 100 } },
      default: "base",
      rollout: { percent: 50 },
    },
    // Unreleased work: the origin gets it, a browser must not learn it exists.
    "secret-launch": { rollout: { percent: 100 } },
  },
};
const BROWSER_FLAGS = ["limits", "max-items", "new-checkout", "theme"];
/** Three visitors: a wrong key goes unseen on one with odds 1/12 (theme and limits), on all 1/1728. */
const VISITORS = 3;
const BULK = "/__edgeshift/ofrep/v1/evaluate/flags";

interface Shown {
  value: unknown;
  variant?: string;
  reason?: string;
  errorCode?: string;
}
interface SdkView {
  renders: number;
  details: Record<string, Shown>;
  bulk: string[];
}
interface Visitor {
  context: BrowserContext;
  page: Page;
  /** The id in the edgeshift_vid cookie the proxy set on the page's first answer. */
  id: string;
  /** x-edgeshift-flags as the origin received it with the page, as the page printed it. */
  originFlags: Record<string, unknown>;
  /** Status of every bulk evaluation the page's provider made, in order. */
  bulkStatuses: number[];
  problems: string[];
}

let stack: DevStack;
let browser: Browser;
let bundleDir: string;
const visitors: Visitor[] = [];

/** A text node's escaping: the header is JSON, whose strings may hold `<` and `&`. */
const asText = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** What this visitor's SDK should show: the edge's own evaluation for the cookie's id. */
function expectedFor(id: string, flags: unknown): Record<string, Shown> {
  const compiled = compileFlags(flagsDocumentSchema.parse(flags), "expected");
  return Object.fromEntries(
    BROWSER_FLAGS.map((k) => {
      const e = evaluateFlag(compiled.byKey.get(k)!, id, null, null);
      return [k, { value: e.value, variant: e.variation, reason: e.reason }];
    }),
  );
}

const sdkView = async (page: Page): Promise<SdkView | null> => {
  const text = await page.locator("#sdk").textContent();
  return text ? JSON.parse(text) : null;
};

async function openVisitor(): Promise<Visitor> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const v: Visitor = { context, page, id: "", originFlags: {}, bulkStatuses: [], problems: [] };
  page.on("pageerror", (e) => v.problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(stack.url + "/")) v.problems.push(`request off the page's origin: ${r.url()}`);
  });
  page.on("response", (r) => {
    if (new URL(r.url()).pathname === BULK) v.bulkStatuses.push(r.status());
  });
  await page.goto(`${stack.url}/ofrep-page`);
  await waitFor(
    "the SDK's first render",
    async () => {
      const error = await page.locator("#error").textContent();
      if (error) throw new Error(`the page's SDK failed: ${error}`);
      return sdkView(page);
    },
    30_000,
  );
  const cookie = (await context.cookies(stack.url)).find((c) => c.name === VISITOR_COOKIE);
  v.id = visitorIdOf(cookie?.value ?? null) ?? "";
  expect(v.id, `a valid ${VISITOR_COOKIE} cookie (got ${cookie?.value})`).not.toBe("");
  v.originFlags = JSON.parse((await page.locator("#origin-flags").textContent()) ?? "null");
  return v;
}

describe.skipIf(!hasChromium("OFREP browser tests"))(
  "@openfeature/web-sdk with the OFREP web provider in Chromium",
  () => {
    beforeAll(async () => {
      const started = Date.now();
      bundleDir = mkdtempSync(path.join(os.tmpdir(), "edgeshift-ofrep-page-"));
      const [devStack] = await Promise.all([
        startDevStack(),
        build({
          entryPoints: [path.join(ROOT, "test", "e2e", "ofrep-page.ts")],
          bundle: true,
          format: "esm",
          platform: "browser",
          target: "es2022",
          outfile: path.join(bundleDir, "ofrep-page.js"),
          logLevel: "error",
        }),
      ]);
      stack = devStack;
      const script = readFileSync(path.join(bundleDir, "ofrep-page.js"));
      // Both origins: whichever the split sends the page to serves it.
      for (const origin of [stack.blue, stack.green]) {
        origin.route("/ofrep-page", (req, res) => {
          const flags = String(req.headers["x-edgeshift-flags"] ?? "");
          res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(
            `<!doctype html><meta charset="utf-8"><title>flags</title>
<pre id="origin-flags">${asText(flags)}</pre>
<pre id="sdk"></pre>
<pre id="error"></pre>
<script type="module" src="/ofrep-page.js"></script>`,
          );
        });
        origin.route("/ofrep-page.js", (_req, res) => {
          res.writeHead(200, { "content-type": "text/javascript", "cache-control": "no-store" }).end(script);
        });
      }
      await stack.putFlags(FLAGS);
      // The Worker may still hold "no flags" from its readiness check (CONFIG_TTL_SECONDS).
      await waitFor("the flags in the Worker", async () => {
        const r = await fetch(stack.url + BULK, { method: "POST", body: "{}", signal: AbortSignal.timeout(5000) });
        return r.ok && ((await r.json()) as { flags: unknown[] }).flags.length > 0;
      });
      browser = await launchChromium();
      for (let i = 0; i < VISITORS; i++) visitors.push(await openVisitor());
      console.log(`ofrep-browser: stack, bundle, ${VISITORS} pages ready in ${Date.now() - started} ms`);
    });
    afterAll(async () => {
      await browser?.close();
      await stack?.stop();
      if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
    });

    it("shows each visitor the browser flags with the edge's values, variants and reasons, and nothing of the others", async () => {
      expect(new Set(visitors.map((v) => v.id)).size).toBe(VISITORS);
      for (const v of visitors) {
        const view = (await sdkView(v.page))!;
        const { "secret-launch": hidden, ...shown } = view.details;
        // Stated outright where the document decides alone; the visitor-dependent two by the edge's evaluation.
        expect(shown["new-checkout"]).toEqual({ value: true, variant: "on", reason: "SPLIT" });
        expect(shown["max-items"]).toEqual({ value: 50, variant: "many", reason: "STATIC" });
        expect(THEMES).toContain(shown.theme.value);
        expect(shown.theme.reason).toBe("SPLIT");
        expect(["SPLIT", "DEFAULT"]).toContain(shown.limits.reason);
        expect(shown).toEqual(expectedFor(v.id, FLAGS));
        expect(hidden).toEqual({ value: false, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
        expect(view.bulk).toEqual(BROWSER_FLAGS);
        expect(v.problems).toEqual([]);
      }
      // Were the visitors all alike, a page evaluated for the wrong key could not show.
      expect(new Set(visitors.map((v) => JSON.stringify(expectedFor(v.id, FLAGS)))).size).toBeGreaterThan(1);
    });

    it("agrees with the x-edgeshift-flags the origin received with the page, for the same visitor", async () => {
      for (const v of visitors) {
        const view = (await sdkView(v.page))!;
        expect(Object.keys(v.originFlags).sort()).toEqual([...BROWSER_FLAGS, "secret-launch"].sort());
        for (const k of BROWSER_FLAGS)
          expect(view.details[k].value, `${k} for visitor ${v.id}`).toEqual(v.originFlags[k]);
        expect(v.originFlags["secret-launch"]).toBe(true);
      }
    });

    it("a flag switched off in KV reaches the open page at its next poll; until then polls are answered 304", async () => {
      const v = visitors[0];
      // The provider sends If-None-Match once it has an ETag; nothing changed, so edgeshift says 304.
      await waitFor("a 304 to the page's poll", async () => v.bulkStatuses.includes(304), 15_000);
      expect(v.bulkStatuses[0]).toBe(200);
      const before = (await sdkView(v.page))!.renders;
      const polledBefore = v.bulkStatuses.length;
      const off = structuredClone(FLAGS);
      Object.assign(off.flags["new-checkout"], { on: false });
      const putStarted = Date.now();
      await stack.putFlags(off);
      const switched = Date.now();

      const view = await waitFor(
        "new-checkout off on the open page",
        async () => {
          const view = await sdkView(v.page);
          return view?.details["new-checkout"].value === false && view;
        },
        30_000,
      );
      console.log(
        `ofrep-browser: the KV put took ${switched - putStarted} ms; the page showed the switch ${Date.now() - switched} ms after`,
      );
      expect(view.details["new-checkout"]).toEqual({ value: false, variant: "off", reason: "DISABLED" });
      // Re-rendered by the provider's change event, not a reload; the rest unchanged.
      expect(view.renders).toBeGreaterThan(before);
      expect(view.details).toMatchObject(expectedFor(v.id, off));
      expect(v.bulkStatuses.slice(polledBefore)).toContain(200);

      // The origin hears the same from this visitor's next pages (same cookie jar) once the edge's
      // own cache has the change: OFREP is the control Worker's isolate, the page the edge's, each
      // with its copy of `flags` (FLAGS_TTL_SECONDS, 2 s here), as any two isolates at the edge.
      await waitFor(
        "the origin to get new-checkout off",
        async () => {
          const html = await (await v.context.request.get(`${stack.url}/ofrep-page`)).text();
          const header = /<pre id="origin-flags">([^<]*)<\/pre>/.exec(html)?.[1] ?? "null";
          return JSON.parse(header.replace(/&amp;/g, "&"))["new-checkout"] === false;
        },
        10_000,
      );
      expect(v.problems).toEqual([]);
    });
  },
);
