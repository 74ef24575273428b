// The status page served at /__edgeshift/. One self-contained document: inline CSS, inline JS,
// charts drawn as inline SVG, no build step and no external request (it works on an air-gapped
// laptop and under a strict `connect-src 'self'`). The page itself holds no data: it asks the JSON
// API (`/__edgeshift/api/status`) every ~2 s with the admin token as a Bearer header.
//
// Token handling, and why:
// | source | what happens |
// |---|---|
// | URL fragment `#token=…` | read once, moved to sessionStorage, fragment removed from the address bar (a fragment never reaches the server or its logs) |
// | the form | same storage; sessionStorage ends with the tab, so a shared screen does not keep it |
// | API answers 401 | "token refused", the form is shown again |
// | API answers 503 | admin API disabled: says to run `wrangler secret put ADMIN_TOKEN -c wrangler.control.toml` |
// | network error | "cannot reach", keeps retrying |
//
// Everything from the API is inserted as text, never as markup: reasons, release labels and flag
// keys are operator- or origin-controlled strings. Most panels escape into a template; the flags
// and experiments panels build nodes and set only text.
import { ADMIN_PREFIX } from "../model/names";

export function statusPageHtml(): string {
  return PAGE.replace("__API__", `${ADMIN_PREFIX}/api`);
}

const CSS = `
:root{--bg:#0f1419;--panel:#171e26;--line:#263241;--text:#e6edf3;--dim:#8b98a5;--blue:#4c8dff;--green:#2fbf71;--red:#ff5c5c;--amber:#f0b43c;--cyan:#3cc8e0}
@media (prefers-color-scheme:light){:root{--bg:#f5f7fa;--panel:#fff;--line:#dde3ea;--text:#17202a;--dim:#5b6773}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--text)}
header{display:flex;gap:12px;align-items:center;flex-wrap:wrap;padding:14px 20px;border-bottom:1px solid var(--line)}
header h1{font-size:18px;margin:0;letter-spacing:.3px}header .sub{color:var(--dim);font-size:13px}
.badge{display:inline-block;padding:2px 9px;border-radius:999px;font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.5px;border:1px solid currentColor}
.s-idle{color:var(--dim)}.s-running{color:var(--cyan)}.s-paused{color:var(--amber)}.s-rolled-back{color:var(--red)}.s-promoted{color:var(--green)}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;padding:14px 20px;max-width:1400px}
section{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
section h2{font-size:12px;text-transform:uppercase;letter-spacing:.8px;color:var(--dim);margin:0 0 10px}
.wide{grid-column:1/-1}
.split{display:flex;height:34px;border-radius:8px;overflow:hidden;font-weight:600;font-size:13px}
.split div{display:flex;align-items:center;padding:0 10px;white-space:nowrap;min-width:0;transition:width .6s}
.c-blue{background:var(--blue);color:#fff}.c-green{background:var(--green);color:#fff}
.legend{display:flex;justify-content:space-between;margin-top:8px;color:var(--dim);font-size:13px}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px}
.steps{display:flex;gap:6px;flex-wrap:wrap;margin:4px 0 10px}.step{padding:3px 10px;border-radius:6px;border:1px solid var(--line);color:var(--dim);font-variant-numeric:tabular-nums}
.step.done{color:var(--text);background:var(--line)}.step.cur{color:#fff;background:var(--cyan);border-color:var(--cyan)}
.progress{height:8px;background:var(--line);border-radius:4px;overflow:hidden}.progress div{height:100%;background:var(--cyan);transition:width .6s}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{text-align:right;padding:5px 6px;border-bottom:1px solid var(--line)}th:first-child,td:first-child{text-align:left}th{color:var(--dim);font-weight:500;font-size:12px}
.bad{color:var(--red);font-weight:600}.ok{color:var(--green)}.dim{color:var(--dim)}.amber{color:var(--amber)}
.verdict{display:flex;gap:8px;padding:3px 0}.verdict b{min-width:170px;font-weight:500}
.banner{grid-column:1/-1;border-radius:10px;padding:12px 16px;border:1px solid var(--red);background:color-mix(in srgb,var(--red) 14%,var(--panel))}
.banner.warn{border-color:var(--amber);background:color-mix(in srgb,var(--amber) 14%,var(--panel))}
.banner h3{margin:0 0 4px;font-size:15px}.banner code{font-size:12px}
svg{width:100%;height:auto;display:block}svg text{fill:var(--dim);font-size:11px}svg .grid{stroke:var(--line)}
ol.events{list-style:none;margin:0;padding:0;max-height:420px;overflow:auto}
ol.events li{display:grid;grid-template-columns:170px 110px 1fr;gap:10px;padding:6px 0;border-bottom:1px solid var(--line)}
.k{font-weight:600}.k-rollback,.k-abort,.k-config-error,.k-webhook-failed,.k-operator-write-unseen,.k-flag-killed{color:var(--red)}.k-promote,.k-plan-complete{color:var(--green)}.k-pause,.k-sample-ratio,.k-plan-extended,.k-operator-write-won,.k-would-roll-back,.k-would-kill-flag{color:var(--amber)}.k-step,.k-plan-start,.k-resume,.k-attempt{color:var(--cyan)}
#flags{overflow-x:auto}#flags td,#flags th{text-align:left;vertical-align:top;padding:5px 4px}#flags td.key{font-weight:600;min-width:6em;overflow-wrap:anywhere}#flags .nw{white-space:nowrap}#flags tr.guarded>td{border-bottom:0}
#flags tr.guard>td{padding:0 4px 10px 18px}#flags .arms{margin:4px 0;max-width:560px}#flags .arms td,#flags .arms th{border-bottom:0;padding:2px 5px}#flags .arms td{white-space:nowrap}#flags .arms td+td,#flags .arms th+th{text-align:right}
#exps{overflow-x:auto}#exps .exp+.exp{margin-top:16px}#exps td,#exps th{white-space:nowrap}#exps td.key{font-weight:600;white-space:normal;overflow-wrap:anywhere}
svg.xc{width:200px;height:44px}.xc polyline{fill:none;stroke:var(--cyan);stroke-width:2}.xc circle{fill:var(--cyan)}.xc .band{fill:var(--cyan);stroke:var(--cyan);stroke-width:2;opacity:.25}.xc .zero{stroke:var(--dim);stroke-dasharray:3 3}
details{color:var(--dim);font-size:12px}pre{white-space:pre-wrap;margin:4px 0}
#gate{max-width:520px;margin:60px auto;padding:20px}#gate input{width:100%;padding:8px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--text);font:inherit}
#gate button,header button{padding:6px 14px;border-radius:6px;border:1px solid var(--line);background:var(--panel);color:var(--text);cursor:pointer;font:inherit}
#msg{grid-column:1/-1}.hidden{display:none!important}
`;

// Plain ES2017 in the browser; no framework. `render()` rebuilds the panels from one snapshot.
const JS = String.raw`
const API = "__API__";
const KEY = "edgeshift.token";
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// The rules of src/lib/percent.ts (the page cannot import it; test/unit/percent.test.ts checks they agree):
// a measured share with fixed decimals, a percent a person set as written, a difference signed.
const pct = (r, d = 1) => (r * 100).toFixed(d) + " %";
const setPct = (p) => Number(Number(p).toFixed(2)) + " %";
const signed = (r, d = 1, u = "points") => (r === 0 ? (0).toFixed(d) : (r > 0 ? "+" : "-") + Math.abs(r * 100).toFixed(d)) + " " + u;
const ms = (v) => (v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(1) + " s" : v + " ms");
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "–");
let timer = null;

function takeFragmentToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function showGate(message) {
  $("gate").classList.remove("hidden");
  $("app").classList.add("hidden");
  $("gate-msg").textContent = message || "";
  $("gate-token").focus();
}

function showMsg(title, text) {
  $("msg").innerHTML = title ? '<div class="banner warn"><h3>' + esc(title) + "</h3>" + esc(text) + "</div>" : "";
}

async function tick() {
  clearTimeout(timer);
  const token = sessionStorage.getItem(KEY);
  if (!token) return showGate("");
  let res;
  try {
    res = await fetch(API + "/status", { headers: { authorization: "Bearer " + token }, cache: "no-store" });
  } catch (e) {
    showMsg("Cannot reach the Worker", "The status API did not answer (" + e.message + "). Retrying…");
    timer = setTimeout(tick, 3000);
    return;
  }
  if (res.status === 401) {
    sessionStorage.removeItem(KEY);
    return showGate("That token was refused (401). Use the Worker's ADMIN_TOKEN.");
  }
  if (res.status === 503) {
    showGate("");
    $("gate-msg").textContent = "The admin API is disabled (503): no ADMIN_TOKEN is set on the control Worker. Run \u0060wrangler secret put ADMIN_TOKEN -c wrangler.control.toml\u0060 (locally: ADMIN_TOKEN=… in .dev.vars), then reload. " + (await res.text()).slice(0, 200);
    return;
  }
  if (!res.ok) {
    showMsg("Status API answered " + res.status, (await res.text()).slice(0, 300));
    timer = setTimeout(tick, 3000);
    return;
  }
  const s = await res.json();
  $("gate").classList.add("hidden");
  $("app").classList.remove("hidden");
  showMsg("");
  render(s);
  timer = setTimeout(tick, 2000);
}

function render(s) {
  const c = s.roles.canary, st = s.roles.stable, p = s.percent;
  const doc = (s.config && s.config.doc) || {};
  $("state").className = "badge s-" + s.state;
  $("state").textContent = s.state;
  $("release").textContent = s.release ? "release " + s.release : "no release label";
  $("updated").textContent = "updated " + time(s.now);
  document.title = "edgeshift · " + s.state + " · " + c + " " + setPct(p);

  $("split").innerHTML =
    (p > 0 ? '<div class="c-' + c + '" style="width:' + Math.max(p, 4) + '%">' + esc(setPct(p)) + "</div>" : "") +
    '<div class="c-' + st + '" style="flex:1">' + esc(setPct(100 - p)) + "</div>";
  $("roles").innerHTML =
    '<span data-role="canary"><span class="dot c-' + c + '"></span>canary: <b>' + esc(c) + "</b> " + esc(setPct(p)) + "</span>" +
    '<span data-role="stable"><span class="dot c-' + st + '"></span>stable: <b>' + esc(st) + "</b> " + esc(setPct(100 - p)) + "</span>";
  // What the isolates actually routed in the window, beside what the document asks for.
  const seen = s.window.canary.requests + s.window.stable.requests;
  $("observed").textContent = seen
    ? "observed in the last " + s.window.seconds + " s: " + pct(s.window.canary.requests / seen) + " of " + seen + " requests on the canary · sticky by " + (doc.stickyBy || "cookie")
    : "no requests in the last " + s.window.seconds + " s · sticky by " + (doc.stickyBy || "cookie");

  const banners = [];
  if (s.rolledBack) {
    banners.push('<div class="banner" id="rolledback"><h3>' + (s.rolledBack.by ? "Aborted by " + esc(s.rolledBack.by) + " at " : "Rolled back at ") + esc(time(s.rolledBack.at)) + "</h3>" + esc(s.rolledBack.reason) +
      (s.rolledBack.figures ? "<div>" + esc(figuresLine(s.rolledBack.figures)) + "</div><details><summary>all figures</summary><pre>" + esc(JSON.stringify(s.rolledBack.figures, null, 2)) + "</pre></details>" : "") +
      '<div class="dim">Everyone is on stable. Retry with <code>edgeshift set &lt;percent&gt;</code> or <code>edgeshift start --steps …</code> (a new attempt).</div></div>');
  }
  if (s.configError) {
    banners.push('<div class="banner warn" id="configerror"><h3>The KV document is invalid (since ' + esc(time(s.configError.at)) + ") — the last good config is kept</h3>" +
      s.configError.problems.map((x) => "<div><code>" + esc(x.path || "(document)") + "</code>: " + esc(x.message) + "</div>").join("") + "</div>");
  }
  if (s.saveError) {
    banners.push('<div class="banner" id="saveerror"><h3>The controller cannot save its state (since ' + esc(time(s.saveError.at)) + ")</h3>" + esc(s.saveError.message) +
      '<div class="dim">Its decisions still reach KV, the event log and the notifications; after a restart it falls back on the KV document.</div></div>');
  }
  if (s.stateRepaired) {
    banners.push('<div class="banner warn" id="staterepaired"><h3>Stored controller state was partly unreadable (at ' + esc(time(s.stateRepaired.at)) + ")</h3>" +
      "<div>Fell back for: <code>" + esc(s.stateRepaired.fields.join(", ")) + "</code>; every other field was kept.</div>" +
      '<div class="dim">Isolates follow the KV document for what was lost; check the rollout and write it again if it looks wrong.</div></div>');
  }
  $("banners").innerHTML = banners.join("");

  const pl = s.plan;
  if (!pl) {
    $("plan").innerHTML = '<div class="dim">No plan. Start one with <code>edgeshift start --steps 1,5,25,50,100 --step-seconds 300</code>.</div>';
  } else {
    const frac = pl.requiredSeconds ? Math.min(1, pl.heldSeconds / pl.requiredSeconds) : 0;
    const overall = ((pl.index + frac) / pl.steps.length) * 100;
    $("plan").innerHTML =
      '<div class="steps">' + pl.steps.map((x, i) => '<span class="step ' + (i < pl.index ? "done" : i === pl.index ? "cur" : "") + '">' + esc(setPct(x.percent)) + " · " + esc(x.seconds) + "s" + (x.approve ? " · approval" : "") + "</span>").join("") + "</div>" +
      '<div class="progress"><div style="width:' + overall.toFixed(1) + '%"></div></div>' +
      '<div class="legend"><span>step ' + (pl.index + 1) + " of " + pl.steps.length + " · held " + esc(pl.heldSeconds) + " / " + esc(pl.requiredSeconds) + " s · " + esc(pl.requestsInStep) + " / " + esc(pl.minRequests) + " requests in this step" +
      (pl.paused ? ' · <b class="bad">paused</b>' : "") + "</span><span>" + esc(pl.waitingFor || "") + "</span></div>" +
      (pl.sampleRatio ? '<div id="srm" class="' + (pl.sampleRatio.mismatch ? "bad" : "dim") + '">sample ratio: ' + esc(pl.sampleRatio.detail) + "</div>" : "");
  }

  const h = s.health;
  $("health").innerHTML =
    '<div class="' + (h.healthy ? "ok" : "bad") + '" style="font-weight:600;margin-bottom:6px">' + (h.healthy ? "✔ healthy" : "✘ unhealthy") + "</div>" +
    (h.verdicts.length ? h.verdicts.map((v) => '<div class="verdict"><span class="' + (v.ok ? "ok" : "bad") + '">' + (v.ok ? "✔" : "✘") + "</span><b>" + esc(v.rule) + '</b><span class="dim">' + esc(v.detail) + "</span></div>").join("") : '<div class="dim">no verdicts yet</div>');

  const w = s.window;
  const row = (label, slot, x) =>
    "<tr><td><span class=\"dot c-" + slot + "\"></span>" + esc(label) + "</td><td>" + x.requests + "</td><td>" + (w.seconds ? (x.requests / w.seconds).toFixed(1) : "–") + "</td><td>" + x.errors +
    '</td><td class="' + (x.errorRate >= 0.05 ? "bad" : "") + '">' + (x.requests ? pct(x.errorRate, 2) : "–") + "</td><td>" + ms(x.p50) + "</td><td>" + ms(x.p95) + "</td><td>" + ms(x.p99) + "</td><td>" + x.failovers + "</td></tr>";
  $("window-title").textContent = "Last " + w.seconds + " s";
  $("window").innerHTML =
    "<tr><th>slot</th><th>requests</th><th>req/s</th><th>errors</th><th>error rate</th><th>p50</th><th>p95</th><th>p99</th><th>failovers</th></tr>" +
    row(c + " (canary)", c, w.canary) + row(st + " (stable)", st, w.stable) +
    (w.shadow ? '<tr><td>shadow → ' + esc(c) + "</td><td>" + w.shadow.mirrored + "</td><td></td><td>" + w.shadow.errors + "</td><td>" + pct(w.shadow.errorRate, 2) + "</td><td></td><td>" + ms(w.shadow.p95) + '</td><td colspan="2">' + pct(w.shadow.mismatchRate) + " mismatched</td></tr>" : "");

  const rb = doc.rollback;
  $("err-chart").innerHTML = chart(s.series, (pt) => (pt.requests ? pt.errorRate : null), { fmt: (v) => pct(v, 0), min: 0.05, threshold: rb && rb.maxErrorRate, c, st });
  $("lat-chart").innerHTML = chart(s.series, (pt) => pt.p95, { fmt: (v) => ms(Math.round(v)), min: 50, c, st });

  renderFlags(s.flags);
  renderExperiments(s.experiments || []);
  renderNotifications(s.notifications);

  $("events").innerHTML = s.events.length
    ? s.events.map((e) =>
        '<li><span class="dim">' + esc(new Date(e.at).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" })) + '</span><span class="k k-' + esc(e.kind) + '">' + esc(e.kind) + "</span><span>" + esc(e.reason) +
        ' <span class="dim">— ' + esc(e.actor) + "</span>" + (e.data && Object.keys(e.data).length ? "<details><summary>details</summary><pre>" + esc(JSON.stringify(e.data, null, 2)) + "</pre></details>" : "") + "</span></li>").join("")
    : '<li class="dim">No events yet.</li>';
  // Stale numbers look like calm numbers: say when the isolates have gone quiet.
  const quiet = s.reports.lastAt ? Math.round((Date.parse(s.now) - Date.parse(s.reports.lastAt)) / 1000) : null;
  $("stale").textContent = quiet !== null && quiet > 30 ? "No reports from isolates for " + quiet + " s: the figures are not current (no traffic, or isolates cannot reach the controller)." : "";
  $("stale").classList.toggle("hidden", !$("stale").textContent);
  $("reports").textContent = s.reports.received + " reports received · " + s.reports.droppedByIsolates + " dropped by isolates" + (s.reports.mirrorsSkipped ? " · " + s.reports.mirrorsSkipped + " shadow mirrors skipped (in-flight limit)" : "") + (s.reports.diverted ? " · " + s.reports.diverted + " canary-bound requests diverted to stable (no fresh verdict in time)" : "") + " · last " + time(s.reports.lastAt) + " · config " + (s.config.fingerprint || "").slice(0, 10) + " from " + s.config.source;
}

// Built from nodes, with strings only ever as text: flag keys come from the flags document and a
// guard's reason quotes figures, and neither may become markup on an admin page.
function el(tag, cls, ...kids) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  for (const k of kids) n.append(k instanceof Node ? k : document.createTextNode(String(k ?? "")));
  return n;
}

// A PagerDuty destination has two queues: a page's wait is d.retrying, shown first.
function retryingText(r) {
  return "retrying " + (r.lane === "change" ? "change event for " : "") + "event " + r.eventId + " (" + r.kind + "), try " + (r.tries + 1) + " at " + time(r.nextAt) + ": " + r.error;
}

// A row per destination, with what did not reach it: a notification that failed is found here, not
// in the channel that never got it. Hidden when no destination is configured.
function renderNotifications(n) {
  $("notify-panel").classList.toggle("hidden", !n);
  if (!n) return;
  const rows = n.destinations.map((d) => {
    const state = d.problem ? el("span", "bad", "cannot send: " + d.problem)
      : d.retrying ? el("span", "amber", retryingText(d.retrying), d.retryingChange ? el("div", "amber", retryingText(d.retryingChange)) : "")
      : d.lastFailure ? el("span", "dim", "last failure " + time(d.lastFailure.at) + ": event " + d.lastFailure.eventId + " (" + d.lastFailure.kind + ") " + d.lastFailure.error)
      : el("span", "ok", "✔");
    return el("tr", "", el("td", "", d.name), el("td", "", d.type), el("td", "", d.sent), el("td", d.failed ? "bad" : "", d.failed), el("td", "", d.waiting), el("td", "", state,
      d.openIncidents && d.openIncidents.length ? el("div", "dim", "open incidents: " + d.openIncidents.join(", ")) : ""));
  });
  const head = el("tr", "", ...["destination", "type", "sent", "failed", "waiting", ""].map((h) => el("th", "", h)));
  $("notify").replaceChildren(...(n.problem ? [el("p", "bad", n.problem)] : []), el("table", "", head, ...rows));
}

// A row per flag; under a guarded one, its verdict and the two arms it compares over its window.
// Hidden while there are no flags (the controller has not read any, or the document has none).
function renderFlags(f) {
  const list = (f && f.flags) || [];
  $("flags-panel").classList.toggle("hidden", !list.length && !(f && f.error));
  const head = el("tr", null, ...["flag", "state", "type", "exposure", "rules", "sent to"].map((h) => el("th", null, h)));
  const rows = [head];
  for (const x of list) {
    const state = x.killed ? el("span", "bad", "killed by its guard") : x.on ? el("span", "ok", "on") : el("span", "dim", "off");
    // One unbreakable "name share" per variation: a narrow column wraps between variations only.
    const exposure = Object.keys(x.exposure).flatMap((v, i) => [i ? " · " : "", el("span", "nw", v + " " + setPct(x.exposure[v]))]);
    const sentTo = [x.origin ? "origin" : "", x.browser ? "browser" : ""].filter(Boolean).join(", ") || "–";
    rows.push(el("tr", x.guard ? "guarded" : null, el("td", "key", x.key), el("td", null, state), el("td", null, x.type), el("td", null, ...exposure), el("td", null, x.rules), el("td", null, sentTo)));
    if (x.guard) rows.push(guardRow(x));
  }
  $("flags").replaceChildren(
    ...(f && f.error ? [el("p", "bad", "The flags document in KV is invalid, the last good one is shown: " + f.error)] : []),
    ...(list.length ? [el("table", null, ...rows), el("p", "dim", list.length + " flag" + (list.length === 1 ? "" : "s") + " · document " + String(f.fingerprint).slice(0, 10))] : []),
  );
}

function guardRow(x) {
  const g = x.guard;
  const why = g.reason || "its treatment failed the comparison";
  const verdict = x.killed ? el("b", "bad", x.kill ? "✘ killed by its guard at " + time(x.kill.at) + ": " + x.kill.reason : "✘ killed by its guard: " + why)
    : g.tripped && g.mode === "observe" ? el("b", "amber", "✘ would be switched off (guard observing): " + why)
    : !g.healthy ? el("b", "bad", "✘ failing: " + why)
    : el("b", "ok", "✔ guard healthy" + (g.mode === "observe" ? " (observing)" : ""));
  const arm = (label, a) => el("tr", null, el("td", null, label), el("td", null, a.requests), el("td", null, a.errors),
    el("td", a.errorRate >= 0.05 ? "bad" : null, a.requests ? pct(a.errorRate, 2) : "–"), el("td", null, ms(a.p95)), el("td", null, a.visitors));
  const table = el("table", "arms",
    el("tr", null, ...["arm", "requests", "errors", "error rate", "p95", "visitors"].map((h) => el("th", null, h))),
    arm("control", g.control), arm("treatment", g.treatment));
  const rules = el("details", null, el("summary", null, "rules"),
    ...g.verdicts.map((v) => el("div", "verdict", el("span", v.ok ? "ok" : "bad", v.ok ? "✔" : "✘"), el("b", null, v.rule), el("span", "dim", v.detail))));
  const cell = el("td", null, verdict, el("span", "dim", " · over the last " + g.windowSeconds + " s, compared since " + time(g.since)), table, rules);
  cell.colSpan = 6;
  return el("tr", "guard", cell);
}

// A block per experiment: its arms' visitors, then a row per goal with the state in words (the
// colour only repeats it) and the difference over time. Nodes and text, as for flags: goal and flag
// keys come from the flags document. Absent from the status while no goals are declared.
function renderExperiments(list) {
  $("exp-panel").classList.toggle("hidden", !list.length);
  $("exps").replaceChildren(...list.map(experiment));
}

const STATE = { better: "ok", worse: "bad", collecting: "dim" };
// Visitors and conversions are weighted (a crowded network's count is scaled down): not always whole.
const n1 = (v) => String(Number(v.toFixed(1)));
const range = (i, d, u) => signed(i.low, d, u) + " to " + signed(i.high, d, u);

function experiment(x) {
  const r = x.result, a = x.arms, raw = r.rawVisitors, out = r.crossed + r.excluded;
  const head = el("div", null, el("b", "key", (x.subject === "rollout" ? "rollout " : "flag ") + (x.key ?? "")),
    " · " + a.treatment + " against " + a.control + (x.percent == null ? "" : ", " + a.treatment + " on " + setPct(x.percent) + " of visitors") + " · since " + time(x.since),
    // Inactive means rolled back for the rollout, killed by its guard for a flag (as cli/experiment-render.ts says).
    x.active ? "" : el("span", "amber", " · stopped: " + (x.subject === "flag" ? "flag killed by its guard" : "rolled back") + " (figures as they were then)"));
  const seen = el("div", "dim", "visitors: " + a.control + " " + n1(r.visitors.control) + " · " + a.treatment + " " + n1(r.visitors.treatment) +
    (raw.control !== r.visitors.control || raw.treatment !== r.visitors.treatment ? " (" + raw.control + " · " + raw.treatment + " seen, before weighting by network)" : "") +
    (out ? " · " + out + " left out (in both arms, or an arm not drawn at random)" : "") + (r.sampleRatio && !r.sampleRatio.mismatch ? " · sample ratio: " + r.sampleRatio.detail : ""),
  );
  const rate = (v) => el("td", null, pct(v.rate) + " · " + n1(v.conversions) + " of " + n1(v.visitors));
  const rows = r.goals.map((g) => {
    const chart = el("td");
    chart.innerHTML = diffChart(x.history, g.goal);
    return el("tr", null, el("td", "key", g.goal), rate(g.control), rate(g.treatment), el("td", null, signed(g.difference)),
      el("td", null, g.interval ? range(g.interval) : "–"), el("td", null, g.lift == null ? "–" : signed(g.lift, 0, "%") + (g.liftInterval ? " (≈ " + range(g.liftInterval, 0, "%") + ")" : "")),
      el("td", STATE[g.state], g.state), chart);
  });
  const p = x.previous;
  return el("div", "exp", head, seen,
    ...(r.sampleRatio && r.sampleRatio.mismatch ? [el("div", "bad", "sample ratio mismatch: " + r.sampleRatio.detail)] : []),
    el("table", null, el("tr", null, ...["goal", a.control, a.treatment, "difference", setPct((1 - r.alpha) * 100) + " interval", "lift", "state", "over time"].map((h) => el("th", null, h))), ...rows),
    ...(p ? [el("div", "dim", "before, " + (p.percent == null ? "" : a.treatment + " on " + setPct(p.percent) + ", ") + time(p.since) + "–" + time(p.until) + ": " +
      p.result.goals.map((g) => g.goal + " " + signed(g.difference) + " " + g.state).join(" · "))] : []));
}

// The difference over time, its interval as a band and a dashed zero line: a band closing in on a
// line that stays off zero is the experiment becoming clear. The band starts at the first point with
// an interval (an arm's visitors only grow within a sample: "collecting" is a prefix); its outline
// keeps a lone interval visible.
function diffChart(hist, goal) {
  const W = 200, H = 44;
  const pts = hist.filter((h) => h.goals[goal]).map((h) => ({ t: Date.parse(h.t), ...h.goals[goal] }));
  if (!pts.length) return "";
  const band = pts.filter((q) => q.low != null);
  const vs = [0, ...pts.map((q) => q.difference), ...band.flatMap((q) => [q.low, q.high])];
  const lo = Math.min(...vs), hi = Math.max(...vs), span = hi - lo || 0.01, t0 = pts[0].t, dt = pts[pts.length - 1].t - t0 || 1;
  const X = (t) => (2 + ((t - t0) / dt) * (W - 4)).toFixed(1), Y = (v) => (2 + ((hi - v) / span) * (H - 4)).toFixed(1);
  const xy = (q, v) => X(q.t) + "," + Y(v);
  return '<svg class="xc" viewBox="0 0 ' + W + " " + H + '" role="img"><title>' + esc(goal + ": difference over time, from " + signed(lo) + " to " + signed(hi) + ", dashed at 0") + "</title>" +
    (band.length ? '<polygon class="band" points="' + band.map((q) => xy(q, q.high)).concat(band.map((q) => xy(q, q.low)).reverse()).join(" ") + '"/>' : "") +
    '<line class="zero" x1="0" x2="' + W + '" y1="' + Y(0) + '" y2="' + Y(0) + '"/>' +
    (pts.length > 1 ? '<polyline points="' + pts.map((q) => xy(q, q.difference)).join(" ") + '"/>' : '<circle r="2.5" cx="' + X(pts[0].t) + '" cy="' + Y(pts[0].difference) + '"/>') + "</svg>";
}

// "canary 6/85 errors (7.06 %) · stable 0/265 errors (0.00 %) · over 60 s · tripped: error-rate"
function figuresLine(f) {
  const side = (k) => (f[k] && typeof f[k].requests === "number" ? k + " " + f[k].errors + "/" + f[k].requests + " errors (" + pct(f[k].errorRate, 2) + ")" : null);
  const parts = [side("canary"), side("stable")].filter(Boolean);
  if (f.windowSeconds) parts.push("over " + f.windowSeconds + " s");
  if (Array.isArray(f.tripped)) parts.push("tripped: " + f.tripped.join(", "));
  return parts.join(" · ");
}

// A two-line chart (canary, stable) over the series; gaps where a slot had no requests. Leading
// empty bins are dropped (a fresh controller has minutes of nothing), keeping at least 3 minutes.
function chart(all, pick, o) {
  const W = 640, H = 170, L = 56, R = 8, T = 10, B = 22;
  const first = all.findIndex((pt) => pt.blue.requests + pt.green.requests > 0);
  const bin = all.length > 1 ? all[1].t - all[0].t : 10;
  const series = first < 0 ? [] : all.slice(Math.max(0, Math.min(first, all.length - Math.ceil(180 / bin))));
  if (!series.length) return '<div class="dim">No data yet: charts fill in as traffic is reported.</div>';
  const t0 = series[0].t, t1 = Math.max(series[series.length - 1].t, t0 + 1);
  const vals = series.flatMap((pt) => [pick(pt[o.c]), pick(pt[o.st])]).filter((v) => v != null);
  const max = Math.max(o.min, o.threshold || 0, ...vals) * 1.1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const line = (slot, colour) => {
    const segs = [];
    let cur = [];
    for (const pt of series) {
      const v = pick(pt[slot]);
      if (v == null) { if (cur.length) segs.push(cur); cur = []; continue; }
      cur.push(x(pt.t).toFixed(1) + "," + y(v).toFixed(1));
    }
    if (cur.length) segs.push(cur);
    return segs.map((sg) => (sg.length === 1 ? '<circle cx="' + sg[0].split(",")[0] + '" cy="' + sg[0].split(",")[1] + '" r="2.5" fill="' + colour + '"/>' : '<polyline fill="none" stroke="' + colour + '" stroke-width="2" stroke-linejoin="round" points="' + sg.join(" ") + '"/>')).join("");
  };
  let g = "";
  for (const f of [0, 0.5, 1]) {
    const v = max * f;
    g += '<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + y(v) + '" y2="' + y(v) + '"/><text x="' + (L - 6) + '" y="' + (y(v) + 4) + '" text-anchor="end">' + esc(o.fmt(v)) + "</text>";
  }
  if (o.threshold) g += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y(o.threshold) + '" y2="' + y(o.threshold) + '" stroke="var(--red)" stroke-dasharray="5 4"/><text x="' + (W - R) + '" y="' + (y(o.threshold) - 4) + '" text-anchor="end">rollback at ' + esc(o.fmt(o.threshold)) + "</text>";
  g += '<text x="' + L + '" y="' + (H - 4) + '">' + esc(new Date(t0 * 1000).toLocaleTimeString()) + '</text><text x="' + (W - R) + '" y="' + (H - 4) + '" text-anchor="end">' + esc(new Date(t1 * 1000).toLocaleTimeString()) + "</text>";
  const colour = (slot) => (slot === "green" ? "var(--green)" : "var(--blue)");
  return '<svg viewBox="0 0 ' + W + " " + H + '" role="img">' + g + line(o.st, colour(o.st)) + line(o.c, colour(o.c)) + "</svg>" +
    '<div class="legend"><span><span class="dot c-' + o.c + '"></span>' + esc(o.c) + ' (canary)</span><span><span class="dot c-' + o.st + '"></span>' + esc(o.st) + " (stable)</span></div>";
}

$("gate").addEventListener("submit", (e) => {
  e.preventDefault();
  const v = $("gate-token").value.trim();
  if (v) sessionStorage.setItem(KEY, v);
  tick();
});
$("signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showGate("Signed out."); });
window.addEventListener("hashchange", () => { takeFragmentToken(); tick(); });
takeFragmentToken();
tick();
`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">
<title>edgeshift status</title><style>${CSS}</style></head>
<body>
<header><h1>edgeshift</h1><span id="state" class="badge s-idle">…</span><span id="release" class="sub"></span><span style="flex:1"></span><span id="updated" class="sub"></span><button id="signout" type="button">Forget token</button></header>
<form id="gate" class="hidden"><h2>Admin token</h2><p class="dim">The Worker's <code>ADMIN_TOKEN</code>. It stays in this tab (sessionStorage) and is sent only as a Bearer header to this Worker's API. You can also open <code>/__edgeshift/#token=…</code>.</p>
<input id="gate-token" type="password" autocomplete="off" placeholder="ADMIN_TOKEN"><p id="gate-msg" class="bad"></p><button type="submit">Show status</button></form>
<main id="app" class="hidden">
<div id="msg"></div><div id="banners" style="display:contents"></div>
<section class="wide"><h2>Split</h2><div id="split" class="split"></div><div id="roles" class="legend"></div><div id="observed" class="dim" style="font-size:12px;margin-top:4px"></div></section>
<section><h2>Plan</h2><div id="plan"></div></section>
<section><h2>Health</h2><div id="health"></div></section>
<section class="wide"><h2 id="window-title">Window</h2><table id="window"></table></section>
<section><h2>Error rate</h2><div id="err-chart"></div></section>
<section><h2>Latency p95</h2><div id="lat-chart"></div></section>
<section id="flags-panel" class="wide hidden"><h2>Feature flags</h2><div id="flags"></div></section>
<section id="exp-panel" class="wide hidden"><h2>Experiments</h2><div id="exps"></div></section>
<section id="notify-panel" class="wide hidden"><h2>Notifications</h2><div id="notify"></div></section>
<p id="stale" class="bad hidden" style="grid-column:1/-1;margin:0"></p>
<section class="wide"><h2>Events</h2><ol id="events" class="events"></ol><p id="reports" class="dim"></p></section>
</main>
<script>${JS}</script>
</body></html>`;
