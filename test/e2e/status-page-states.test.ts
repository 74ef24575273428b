// The status page in a real headless Chromium, shown states a live run reaches only slowly or by
// chance: the page (src/admin/page.ts, as the admin app serves it) and its status API answered from
// fixtures through Playwright's routing, so no Worker runs. What a live run shows is
// status-page.test.ts's.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statusPageHtml } from "../../src/admin/page";
import { Experiment } from "../../src/experiments/experiment";
import type { StatusSnapshot } from "../../src/model/status";
import { killedFlag, snapshot } from "../unit/status-fixture";
import { hasChromium, launchChromium } from "./chromium";

const ORIGIN = "http://edgeshift.test";
let browser: Browser;

/** The page showing `status` (every poll answers it). */
async function pageShowing(status: StatusSnapshot): Promise<Page> {
  const page = await browser.newPage();
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/__edgeshift/api/status")
      return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(status) });
    if (path === "/__edgeshift/")
      return route.fulfill({ status: 200, contentType: "text/html", body: statusPageHtml() });
    return route.fulfill({ status: 404, body: "" });
  });
  await page.goto(`${ORIGIN}/__edgeshift/#token=fixture`);
  await page.waitForSelector("#app:not(.hidden)");
  return page;
}

describe.skipIf(!hasChromium("status-page state tests"))("status page states in Chromium", () => {
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("an operator's abort says who; the controller's rollback does not", async () => {
    const at = "2026-11-25T08:00:00.000Z";
    const aborted = await pageShowing(
      snapshot({ state: "rolled-back", percent: 0, rolledBack: { at, reason: "bad deploy", by: "alice" } }),
    );
    expect(await aborted.locator("#rolledback h3").innerText()).toMatch(/^Aborted by alice at /);
    await aborted.close();
    const rolledBack = await pageShowing(
      snapshot({ state: "rolled-back", percent: 0, rolledBack: { at, reason: "canary 7.0 % errors" } }),
    );
    expect(await rolledBack.locator("#rolledback h3").innerText()).toMatch(/^Rolled back at /);
    await rolledBack.close();
  });

  it("a plan's approval steps are marked before they are reached", async () => {
    const plan = snapshot().plan!;
    const steps = [
      { percent: 5, seconds: 60 },
      { percent: 25, seconds: 60, approve: { timeoutSeconds: 3600, onTimeout: "rollback" as const } },
      { percent: 100, seconds: 60 },
    ];
    const page = await pageShowing(snapshot({ plan: { ...plan, index: 0, steps } }));
    const chips = await page.locator("#plan .step").allInnerTexts();
    expect(chips.map((c) => c.replace(/\s+/g, " "))).toEqual(["5 % · 60s", "25 % · 60s · approval", "100 % · 60s"]);
    // The step's own count, apart from the health window's.
    expect(await page.locator("#plan .legend").innerText()).toContain("80 / 50 requests in this step");
    await page.close();
  });

  it("a killed flag says when and why it was killed, not the live window's verdict", async () => {
    const kill = { at: "2026-11-25T07:59:10.000Z", reason: "treatment 13.2 % errors (17/129 weighted by visitor)" };
    const flag = killedFlag({ kill });
    const page = await pageShowing(snapshot({ flags: { fingerprint: "abc", flags: [flag], error: null } }));
    const shown = (await page.locator("#flags-panel").innerText()).replace(/\s+/g, " ");
    expect(shown).toMatch(/✘ killed by its guard at .*: treatment 13\.2 % errors \(17\/129 weighted by visitor\)/);
    expect(shown).not.toContain("16/40");
    await page.close();
  });

  it("a stopped experiment says why: the rollout's was rolled back, a flag's was killed by its guard", async () => {
    const t0 = Date.parse("2026-11-25T07:50:00.000Z") / 1000;
    const labels = (subject: "rollout" | "flag", key: string) => ({
      subject,
      key,
      control: "blue" as const,
      treatment: "green" as const,
      names:
        subject === "flag" ? { control: "control", treatment: "treatment" } : { control: "blue", treatment: "green" },
    });
    const experiments = [
      new Experiment(t0, 10).status(labels("rollout", "v2"), [], false),
      new Experiment(t0, 20).status(labels("flag", "new-checkout"), [], false),
    ];
    const page = await pageShowing(snapshot({ experiments }));
    const shown = (await page.locator("#exps").innerText()).replace(/\s+/g, " ");
    expect(shown).toMatch(/rollout v2 .* stopped: rolled back \(figures as they were then\)/);
    expect(shown).toMatch(/flag new-checkout .* stopped: flag killed by its guard \(figures as they were then\)/);
    expect(shown).not.toContain("stopped at the rollback");
    await page.close();
  });
});
