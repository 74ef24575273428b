// The fleet (issue 10): 40 isolates — the real bundle loaded as 40 Workers in one workerd
// (scripts/lib/fleet.ts), one controller object behind the aggregation tier (isolates report to and
// ask views of ReportAggregator objects, which watch the root: src/aggregator), one KV namespace,
// real origins. 4 busy isolates
// carry a crowd's traffic; 36 quiet ones served one request each and nothing since. The canary
// fails, the controller rolls back; from one second after that decision no isolate, busy or quiet,
// may send anything to the canary: a canary visitor's POST to every quiet isolate (some right after
// the decision, all at decision + 1 s) must reach stable, and the canary origin must count nothing
// more from then on. Before the gate (src/worker/handler.ts) 36 of 36 quiet isolates sent it there.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startFleet, type Fleet } from "../../scripts/lib/fleet";
import { addressOf } from "../../scripts/lib/traffic";

const ISOLATES = 40;
const BUSY = 4;
const RELEASE = "fleet-1";
let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({ isolates: ISOLATES });
  await fleet.putRollout({ percent: 50, canary: "green", release: RELEASE, rollback: { minRequests: 20 } });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
});

/** Busy requests sent so far. */
let busySent = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The crowd on the busy isolates: every request a new visitor on its own network, GETs and POSTs. */
function busyTraffic(perSecond: number) {
  let running = true;
  let n = 1000;
  const inFlight = new Set<Promise<void>>();
  const done = (async () => {
    while (running) {
      const i = n++;
      busySent++;
      const p = (async () => {
        const post = i % 5 === 0;
        const r = await fleet
          .fetch(i % BUSY, `/busy/${i}`, {
            method: post ? "POST" : "GET",
            body: post ? "x" : undefined,
            headers: { "cf-connecting-ip": addressOf(i) },
          })
          .catch(() => null);
        await r?.arrayBuffer();
      })().finally(() => inFlight.delete(p));
      inFlight.add(p);
      await sleep(1000 / perSecond);
    }
    await Promise.all(inFlight);
  })();
  return async () => {
    running = false;
    await done;
  };
}

/** One canary visitor's POST to isolate `i`: which origin answered (header and body). */
async function canaryPost(i: number, cookie: string, tag: string): Promise<string> {
  const r = await fleet.fetch(i, `/checkout/${tag}/${i}`, {
    method: "POST",
    body: "order=1",
    headers: { cookie, "cf-connecting-ip": addressOf(100_000 + i) },
  });
  const header = r.headers.get("x-origin") ?? "none";
  // The echo's body names its origin too (a failing origin answers plain text: its header decides).
  const body = /"origin":"(\w+)"/.exec(await r.text())?.[1];
  return body === undefined || body === header ? header : `${header}/${body}`;
}

it("no isolate, busy or quiet, sends a canary-bound request once a second has passed since the rollback", async () => {
  // A visitor whose bucket is the canary's (buckets are the same in every isolate).
  let cookie = "";
  for (let v = 0; v < 64 && !cookie; v++) {
    const r = await fleet.fetch(0, `/find/${v}`, { headers: { "cf-connecting-ip": addressOf(50_000 + v) } });
    const vid = /edgeshift_vid=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")?.[1];
    if (r.headers.get("x-origin") === "green" && vid) cookie = `edgeshift_vid=${vid}`;
    await r.arrayBuffer();
  }
  expect(cookie, "a canary visitor among 64 new ones at 50 %").not.toBe("");

  // Warm-up: one request per quiet isolate (the canary visitor's: it is served by the canary). On a
  // loaded machine an isolate's very first view call may outlast the gate's wait (that request goes
  // to stable): it is asked again, as a later visitor would.
  for (let i = BUSY; i < ISOLATES; i++) {
    let on = "";
    for (let t = 0; t < 10 && on !== "green"; t++) on = await canaryPost(i, cookie, `warm${t}`);
    expect(on, `quiet isolate ${i} serves the canary visitor from the canary before the incident`).toBe("green");
  }

  const stop = busyTraffic(60);
  try {
    // 2 s to settle (each busy isolate's first view call and watch), then 2 s measured: the busy
    // isolates' view calls at their aggregators (the quiet ones send nothing meanwhile).
    await sleep(2000);
    const greenBefore = fleet.green.hits;
    const sentBefore = busySent;
    const viewsBefore = await fleet.aggregatorStats();
    const measuredFrom = Date.now();
    await sleep(2000);
    const viewsAfter = await fleet.aggregatorStats();
    const measuredS = (Date.now() - measuredFrom) / 1000;
    const perAggregator = Object.entries(viewsAfter).map(([name, a]) => ({
      name,
      viewsPerS: (a.isolateViews - (viewsBefore[name]?.isolateViews ?? 0)) / measuredS,
      watchesPerS: (a.isolateWatches - (viewsBefore[name]?.isolateWatches ?? 0)) / measuredS,
    }));
    const busyViewsPerS = perAggregator.reduce((s, a) => s + a.viewsPerS, 0);
    console.log(
      `fleet: busy isolates' view calls at their aggregators: ${busyViewsPerS.toFixed(1)}/s for ${BUSY} busy isolates ` +
        `(polling would be ~${(BUSY * 1000) / 250}/s: one per 250 ms each); per aggregator: ${JSON.stringify(perAggregator)}`,
    );
    // Each busy isolate holds a watch at its aggregator instead of polling every 250 ms.
    expect(busyViewsPerS, "busy isolates' view calls per second (polling: ~16)").toBeLessThan(BUSY);
    // The canary origin's count over time, so "from 1 s after the decision" holds even when this
    // process notices the decision late.
    const hits: [number, number][] = [];
    const sampler = setInterval(() => hits.push([Date.now(), fleet.green.hits]), 5);
    const hitsAt = (t: number) => hits.filter(([at]) => at <= t).at(-1)?.[1] ?? 0;
    const greenAtFailure = fleet.green.hits;
    const sentToFailure = busySent - sentBefore;
    fleet.green.setMode({ errorRate: 1, failStatus: 500 });
    const failingFrom = Date.now();
    let decidedAt = 0;
    const t0 = Date.now();
    while (!decidedAt && Date.now() - t0 < 30_000) {
      const rb = (await fleet.history(0)).find((e) => e.kind === "rollback");
      if (rb) decidedAt = Date.parse(rb.at);
      else await sleep(50);
    }
    expect(decidedAt, "the controller rolled back within 30 s").toBeGreaterThan(0);

    // Right after the decision: half the quiet isolates, stale verdicts all.
    const early = await Promise.all(
      Array.from({ length: (ISOLATES - BUSY) / 2 }, (_, k) => canaryPost(BUSY + 2 * k, cookie, "early")),
    );
    await sleep(Math.max(0, decidedAt + 1000 - Date.now()));
    const late = await Promise.all(
      Array.from({ length: ISOLATES - BUSY }, (_, k) => canaryPost(BUSY + k, cookie, "late")),
    );
    await sleep(500); // the busy crowd keeps going meanwhile
    clearInterval(sampler);
    const tier = await fleet.aggregatorStats();
    const afterDecision = fleet.green.hits - hitsAt(decidedAt + 1000);
    console.log(
      `fleet: ${ISOLATES} isolates (${BUSY} busy); rollback ${decidedAt - failingFrom} ms after the canary began failing; ` +
        `canary origin requests from decision + 1 s: ${afterDecision}; quiet isolates' canary POSTs on stable: ` +
        `${early.filter((o) => o === "blue").length}/${early.length} right after, ${late.filter((o) => o === "blue").length}/${late.length} at + 1 s; ` +
        `canary origin requests in the 2 s before the failure: ${greenAtFailure - greenBefore} of ${sentToFailure} busy; aggregators: ${JSON.stringify(tier)}`,
    );
    // The canary kept its share until it failed (50 % of new visitors): the busy isolates' verdicts
    // stayed fresh through the tier's watch, so their canary-bound requests were not diverted to
    // stable. Without the watch (views ~1–1.5 s old) 10–17 % got there.
    expect(
      (greenAtFailure - greenBefore) / sentToFailure,
      `canary origin requests in the 2 s before the failure, per busy request (${greenAtFailure - greenBefore} of ${sentToFailure})`,
    ).toBeGreaterThan(0.35);
    // The tier carried the isolates' reports (not straight to the root), and held watches.
    const viaTier = Object.values(tier);
    expect(
      viaTier.reduce((s, a) => s + a.reports, 0),
      "isolates' reports through the aggregators",
    ).toBeGreaterThan(0);
    expect(
      viaTier.reduce((s, a) => s + a.watches, 0),
      "watches the aggregators opened at the root",
    ).toBeGreaterThan(0);

    // One assertion, so a failure shows all three figures.
    const notStable = (outcomes: string[]) => outcomes.filter((o) => o !== "blue").length;
    expect({
      earlyPostsNotOnStable: `${notStable(early)} of ${early.length}`,
      postsAt1sNotOnStable: `${notStable(late)} of ${late.length}`,
      canaryOriginHitsFrom1s: afterDecision,
    }).toEqual({
      earlyPostsNotOnStable: `0 of ${early.length}`,
      postsAt1sNotOnStable: `0 of ${late.length}`,
      canaryOriginHitsFrom1s: 0,
    });
  } finally {
    await stop();
  }
});
