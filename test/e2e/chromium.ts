// Debian's Chromium (apt-get install -y chromium) driven by playwright-core, for the tests of pages
// in a real browser. Without it those tests are skipped with a message saying how to get it: a
// machine without a browser should still run the rest of the e2e suite.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** Whether Chromium is there; if not, says which tests are skipped and why. */
export function hasChromium(tests: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  console.warn(`${tests} skipped: ${CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)`);
  return false;
}

/** Headless, quiet: no first-run, sync or update traffic of its own beside the page's. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
