// The status page in a real headless Chromium against `wrangler dev` with real traffic: it shows the
// live split, roles and events, the rollback with its reason, the feature flags; a wrong token gets a
// clear message.
// Saves test-results/status-page.png on every run; UPDATE_SCREENSHOT=1 also refreshes
// docs/status-page.png (the README's screenshot), so an ordinary run leaves the tree clean.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { startTraffic, type Traffic } from "../../scripts/lib/traffic";
import { hasChromium, launchChromium } from "./chromium";

let stack: DevStack;
let browser: Browser;
let traffic: Traffic | undefined;

/** Waits until the element's visible text matches: the page updates itself every ~2 s. */
const shows = (page: Page, selector: string, re: RegExp, ms: number) =>
  waitFor(`${selector} to show ${re}`, async () => re.test(await page.locator(selector).innerText()), ms, 300);

describe.skipIf(!hasChromium("status-page tests"))("status page in Chromium", () => {
  beforeAll(async () => {
    stack = await startDevStack();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await traffic?.stop();
    await browser?.close();
    await stack?.stop();
  });

  it("a wrong token: the form says it was refused; the fragment never stays in the address bar", async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.url}/__edgeshift/#token=wrong`);
    await page.waitForSelector("#gate:not(.hidden)");
    expect(await page.locator("#gate-msg").innerText()).toContain("refused (401)");
    expect(page.url()).not.toContain("token=");
    await page.close();
  });

  it("shows the live split and roles, then the rollback with its reason and the events", async () => {
    await stack.putRollout({ percent: 30, release: "v2.4.0" });
    traffic = startTraffic({ url: stack.url, visitors: 200, rate: 40 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // Self-contained: every request the page makes goes to the Worker itself.
    const foreign: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(stack.url + "/")) foreign.push(r.url());
    });
    await page.goto(`${stack.url}/__edgeshift/#token=${stack.adminToken}`);
    expect(page.url()).not.toContain("token=");

    // The page refreshes itself: no reload from here on.
    await shows(page, "#roles", /canary: green 30 %/, 60_000);
    expect(await page.locator("#roles").innerText()).toContain("stable: blue 70 %");
    expect(await page.locator("#release").innerText()).toContain("v2.4.0");
    await waitFor(
      "both error-rate lines",
      async () => (await page.locator("#err-chart polyline").count()) >= 2,
      30_000,
    );

    stack.green.setMode({ errorRate: 0.5 });
    await page.waitForSelector("#rolledback", { timeout: 60_000 });
    const banner = await page.locator("#rolledback").innerText();
    const doc = await waitFor(
      "rolledBack in KV",
      async () => (await stack.getRollout())?.rolledBack && (await stack.getRollout()),
    );
    expect(banner).toContain(doc.rolledBack.reason);
    expect(await page.locator("#state").innerText()).toMatch(/rolled-back/i);
    await shows(page, "#events", /rollback/, 10_000);
    await shows(page, "#roles", /canary: green 0 %/, 10_000);
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
    const shot = await page.screenshot({ path: path.join(ROOT, "test-results", "status-page.png"), fullPage: true });
    if (process.env.UPDATE_SCREENSHOT === "1") writeFileSync(path.join(ROOT, "docs", "status-page.png"), shot);

    // An invalid document is shown with its problems (the Worker keeps the last good config).
    await stack.putRollout('{"percent": 150}');
    await shows(page, "#banners", /percent.*at most 100/, 30_000);
    expect(await page.locator("#configerror").innerText()).toContain("last good config is kept");
    await page.close();
  });

  it("lists the feature flags written to KV, each with its variations' shares of visitors", async () => {
    await stack.putFlags({
      flags: {
        "new-checkout": { rollout: { percent: 25 } },
        theme: { variations: { light: "light", dark: "dark" }, off: "light", on: false, browser: true },
      },
    });
    const page = await browser.newPage();
    await page.goto(`${stack.url}/__edgeshift/#token=${stack.adminToken}`);
    // The controller reads `flags` when asked for the status (at most once a second): one refresh or two.
    await shows(page, "#flags", /new-checkout/, 15_000);
    const rows = await page.locator("#flags tr").allInnerTexts();
    expect(rows.find((r) => r.startsWith("new-checkout"))).toMatch(
      /^new-checkout\ton\tboolean\toff 75 % · on 25 %\t0\torigin$/,
    );
    expect(rows.find((r) => r.startsWith("theme"))).toMatch(/^theme\toff\tstring\tlight 100 %\t0\torigin, browser$/);
    await page.close();
  });

  it("shows operator- and origin-written strings as text, never as markup", async () => {
    const evil = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`;
    await stack.putRollout({ percent: 10, release: evil });
    const page = await browser.newPage();
    await page.goto(`${stack.url}/__edgeshift/#token=${stack.adminToken}`);
    await waitFor(
      "the release label",
      async () => (await page.locator("#release").innerText()).includes("<img"),
      30_000,
    );
    expect(await page.locator("#release").innerText()).toContain(evil);
    expect(await page.locator("#release img, #release script").count()).toBe(0);
    expect(await page.title()).not.toBe("pwned");
    await page.close();
  });
});
