// The status page in a real headless Chromium against `wrangler dev` with real traffic: it shows the
// live split, roles and events, the rollback with its reason, a notification that did not arrive,
// the feature flags, the experiments over the goals; a wrong token gets a clear message.
// Saves test-results/status-page.png (and status-page-experiments.png) on every run; UPDATE_SCREENSHOT=1 also refreshes
// docs/status-page.png (the README's screenshot), so an ordinary run leaves the tree clean.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startDevStack, waitFor, type DevStack } from "../../scripts/lib/dev-stack";
import { flagsReceived } from "../../scripts/lib/origin-server";
import { startHookReceiver, type HookReceiver } from "../../scripts/lib/hook-receiver";
import { addressOf, startTraffic, type Traffic } from "../../scripts/lib/traffic";
import { formatPercent, formatPoints, formatSignedPercent } from "../../src/lib/percent";
import type { ExperimentStatus, StatusSnapshot } from "../../src/model/status";
import { hasChromium, launchChromium } from "./chromium";

let stack: DevStack;
let browser: Browser;
let traffic: Traffic | undefined;
let hooks: HookReceiver;

/** Waits until the element's visible text matches: the page updates itself every ~2 s. */
const shows = (page: Page, selector: string, re: RegExp, ms: number) =>
  waitFor(`${selector} to show ${re}`, async () => re.test(await page.locator(selector).innerText()), ms, 300);

describe.skipIf(!hasChromium("status-page tests"))("status page in Chromium", () => {
  beforeAll(async () => {
    // One notification destination whose receiver answers 500: the page must show what did not arrive.
    hooks = await startHookReceiver();
    hooks.script(
      "/slack",
      Array.from({ length: 6 }, () => ({ status: 500, body: "slack is down" })),
    );
    stack = await startDevStack({
      notifications: {
        config: { destinations: [{ type: "slack", name: "releases", urlSecret: "SLACK_URL", events: ["rollback"] }] },
        secrets: { SLACK_URL: `${hooks.url}/slack` },
      },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await traffic?.stop();
    await browser?.close();
    await stack?.stop();
    await hooks?.close();
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
    await shows(page, "#notify", /retrying event \d+ \(rollback\), try \d at .*: answered 500: slack is down/, 15_000);
    expect(await page.locator("#notify tr").nth(1).innerText()).toMatch(/^releases\s+slack\s+0\s+0\s+1\s/);
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
    // An abort's actor comes from the document as well (`rolledBack.by`), and the banner says who.
    await stack.putRollout({
      percent: 10,
      release: "v9",
      rolledBack: { at: new Date().toISOString(), reason: "bad deploy", by: evil },
    });
    await shows(page, "#rolledback", /^Aborted by <img src=x/, 30_000);
    expect(await page.locator("#rolledback img, #rolledback script").count()).toBe(0);
    expect(await page.title()).not.toBe("pwned");
    await page.close();
  });

  it("shows the experiments: each arm's visitors, each goal's figures, state and a chart of the difference", async () => {
    // The cases above leave their traffic running against a failing green: this one sends its own.
    await traffic?.stop();
    traffic = undefined;
    stack.green.setMode({ errorRate: 0 });
    // A release is the operator's text, and the rollout's experiment is named by it: markup stays text.
    const release = `<img src=x>exp-${Date.now().toString(36)}`;
    await stack.putFlags({
      flags: { cta: { rollout: { percent: 50 }, guard: { minRequests: 1000 } } },
      goals: { signup: { signal: "signup" }, checkout: { method: "POST", path: "/checkout", status: "2xx" } },
    });
    await stack.putRollout({ percent: 50, release });
    const status = async () =>
      (await (
        await fetch(`${stack.url}/__edgeshift/api/status`, {
          headers: { authorization: `Bearer ${stack.adminToken}` },
        })
      ).json()) as StatusSnapshot;
    await waitFor(
      "the controller on the new release and flags",
      async () => {
        const s = await status();
        return s.release === release && s.state === "running" && s.flags?.flags.some((f) => f.key === "cta" && f.guard);
      },
      30_000,
    );
    // An isolate keeps the version it has for CONFIG_TTL_SECONDS (2 s here): a visitor routed by the
    // old one would be counted in stable first.
    await new Promise((r) => setTimeout(r, 3000));

    // 360 visitors, each on its own network (none weighted down), in 5 waves ~10 s apart so the
    // history (a point per 10 s at most) has several: the first wave big enough that each arm has
    // the 100 visitors an interval needs, so most points have one. Each views a page, then
    // /__convert/signup (blue's answers reach it 1 in 10, green's 4 in 10); the flag's treatment
    // checks out 1 in 2, its control 1 in 6. So the rollout differs on signup, the flag on checkout.
    const visitors: Record<string, string>[] = [];
    const send = async (i: number, path: string, init: RequestInit = {}) => {
      const headers = (visitors[i] ??= { "cf-connecting-ip": addressOf(1000 + i) });
      const r = await fetch(stack.url + path, { ...init, headers, signal: AbortSignal.timeout(15_000) });
      const vid = r.headers.getSetCookie().find((c) => c.startsWith("edgeshift_vid="));
      if (vid) headers.cookie = vid.split(";")[0];
      return r.text();
    };
    const visit = async (i: number) => {
      const treated = flagsReceived(await send(i, `/page/${i}`))?.cta === true;
      await send(i, "/__convert/signup?blue=0.1&green=0.4");
      if (i % (treated ? 2 : 6) === 0) await send(i, "/checkout", { method: "POST", body: "{}" });
    };
    let from = 0;
    for (const to of [240, 270, 300, 330, 360]) {
      const until = Date.now() + 10_000;
      for (; from < to; from += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => visit(from + k)));
      await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())));
    }

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${stack.url}/__edgeshift/#token=${stack.adminToken}`);
    await shows(page, "#exps", new RegExp(release), 15_000);
    // An isolate sends what it gathered only when a request comes in after its flush interval (2 s
    // here): visitor 0 views a page twice, 3 s apart, so the last wave's and Chromium's own favicon
    // request (a visitor too) reach the controller.
    for (let k = 0; k < 2; k++) {
      await new Promise((r) => setTimeout(r, 3000));
      await send(0, "/page/0");
    }

    const count = (v: number) => String(Number(v.toFixed(1)));
    const rate = (a: { rate: number; conversions: number; visitors: number }) =>
      `${formatPercent(a.rate)} · ${count(a.conversions)} of ${count(a.visitors)}`;
    // As the page writes an interval: both bounds signed, in points (or % for the lift).
    const bound = (x: number, d = 1, u = "points") => (u === "%" ? formatSignedPercent(x, d) : formatPoints(x, d));
    const range = (i: { low: number; high: number }, d?: number, u?: string) =>
      `${bound(i.low, d, u)} to ${bound(i.high, d, u)}`;
    const blocks = page.locator("#exps .exp");
    // Compared with the status API's answer of the moment until they agree: the page asks every ~2 s.
    const experiments = await waitFor(
      "the page to show the status API's experiments",
      async () => {
        const experiments = (await status()).experiments!;
        expect(await blocks.count()).toBe(experiments.length);
        for (const [i, e] of experiments.entries()) {
          const block = blocks.nth(i);
          const text = await block.innerText();
          expect(text).toContain(`visitors: ${e.arms.control} ${count(e.result.visitors.control)}`);
          expect(text).toContain(`${e.arms.treatment} ${count(e.result.visitors.treatment)}`);
          const rows = block.locator("tr");
          expect(await rows.count()).toBe(e.result.goals.length + 1);
          for (const [k, g] of e.result.goals.entries()) {
            const row = rows.nth(k + 1);
            expect(await row.locator("td").allInnerTexts()).toEqual([
              g.goal,
              rate(g.control),
              rate(g.treatment),
              formatPoints(g.difference),
              g.interval ? range(g.interval) : "–",
              g.lift === null
                ? "–"
                : formatSignedPercent(g.lift, 0) + (g.liftInterval ? ` (≈ ${range(g.liftInterval, 0, "%")})` : ""),
              g.state,
              "",
            ]);
            // The chart: a vertex per point of the history, the band two per point with an interval.
            const points = e.history.filter((h) => h.goals[g.goal]);
            const banded = points.filter((h) => h.goals[g.goal].low !== null).length;
            const vertices = async (l: Locator) =>
              (await l.getAttribute("points", { timeout: 1000 }))!.split(" ").length;
            const band = row.locator("svg.xc polygon.band");
            expect(await vertices(row.locator("svg.xc polyline"))).toBe(points.length);
            expect(banded ? await vertices(band) : await band.count()).toBe(2 * banded);
          }
        }
        return experiments;
      },
      20_000,
      500,
    );
    const find = (subject: string) => experiments.find((e) => e.subject === subject)!;
    const goal = (e: ExperimentStatus, name: string) => e.result.goals.find((g) => g.goal === name)!;
    expect(find("rollout")).toMatchObject({ key: release, arms: { control: "blue", treatment: "green" } });
    expect(find("flag")).toMatchObject({ key: "cta", arms: { control: "control", treatment: "treatment" } });
    // Real traffic reached the goals, in the direction the origin and the visitors were told, and the
    // chart has points to draw: the rollout's signup with its interval for most of them.
    const signup = goal(find("rollout"), "signup");
    expect(signup.state).not.toBe("collecting");
    expect(signup.treatment.rate).toBeGreaterThan(signup.control.rate);
    expect(goal(find("flag"), "checkout").treatment.rate).toBeGreaterThan(goal(find("flag"), "checkout").control.rate);
    expect(find("rollout").history.filter((h) => h.goals.signup.low !== null).length).toBeGreaterThanOrEqual(3);
    expect(await page.locator("#exps img").count()).toBe(0);
    expect(errors).toEqual([]);
    await page.screenshot({ path: path.join(ROOT, "test-results", "status-page-experiments.png"), fullPage: true });
    await page.close();
  }, 180_000);
});
