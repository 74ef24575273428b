// Starts the real blue and green origins the workerd tests proxy to, and hands their URLs to the
// pool (vitest.config.ts binds them as BLUE_ORIGIN / GREEN_ORIGIN) and to the tests (inject).
import type { TestProject } from "vitest/node";
import { startOrigin } from "../../scripts/lib/origin-server";
import { startHookReceiver } from "../../scripts/lib/hook-receiver";

export default async function setup(project: TestProject) {
  const blue = await startOrigin("blue");
  const green = await startOrigin("green");
  project.provide("blueUrl", blue.url);
  project.provide("greenUrl", green.url);
  // The notifications' receiver (Slack, Teams, Discord, PagerDuty, JSON by path): test/worker/notifications.test.ts.
  const hooks = await startHookReceiver();
  project.provide("hooksUrl", hooks.url);
  return async () => {
    await hooks.close();
    await blue.close();
    await green.close();
  };
}
