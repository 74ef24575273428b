// Helpers for the controller's workerd tests: real KV, real Durable Object, reports as isolates send them.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { RolloutController } from "../../src/controller/durable-object";
import { fingerprintOf } from "../../src/model/fingerprint";
import { controllerStub, type ControllerRpc } from "../../src/controller/rpc";
import {
  LATENCY_BUCKETS,
  type Contributors,
  type Report,
  type ReportBatch,
  type SlotCounters,
} from "../../src/model/protocol";

let n = 0;
/** A fresh controller instance per test: state never leaks between tests. */
export function freshController(): ControllerRpc & { id: DurableObjectId } {
  // The stub's own `id` lets a test reach the same object again after a restart.
  return controllerStub(env, `test-${Date.now()}-${n++}`) as ControllerRpc & { id: DurableObjectId };
}

export function controllerById(id: DurableObjectId): ControllerRpc {
  return env.CONTROLLER.get(id) as unknown as ControllerRpc;
}

/** Moves the controller's clock `seconds` ahead of real time (a plan's only notion of time). */
export async function clockAhead(c: ControllerRpc, seconds: number) {
  await runInDurableObject(c as unknown as DurableObjectStub<RolloutController>, (o: RolloutController) => {
    o.clock = () => Date.now() + seconds * 1000;
  });
}

/** Runs the controller's alarm now, then waits for what it started. */
export async function alarm(c: ControllerRpc) {
  await runDurableObjectAlarm(c as unknown as DurableObjectStub<RolloutController>);
  await c.settle();
}

/** Writes the document as an operator would; returns its text and fingerprint. */
export async function putDoc(doc: unknown): Promise<{ text: string; fp: string }> {
  const text = JSON.stringify(doc);
  await env.ROLLOUT_CONFIG.put("rollout", text);
  return { text, fp: fingerprintOf(text) };
}

export async function kvDoc(): Promise<any> {
  const t = await env.ROLLOUT_CONFIG.get("rollout");
  return t === null ? null : JSON.parse(t);
}

export function counters(requests: number, errors = 0, latencyBucket = 2): SlotCounters {
  const latency = new Array(LATENCY_BUCKETS).fill(0);
  latency[latencyBucket] = requests;
  return { requests, errors5xx: errors, errorsNetwork: 0, errorsTimeout: 0, failovers: 0, latency };
}

let crowdId = 1;
/**
 * Contributors as a crowd sends them: each request its own visitor on its own network, errors
 * first, so the quorum (src/health/ledger.ts) never stands in the way of a test about the rules.
 * Tests about the quorum pass `contributors` themselves.
 */
export function crowdOf(c: SlotCounters): Contributors {
  const out: Contributors = { v: [], n: [], r: [], e: [], m: [] };
  const errors = c.errors5xx + c.errorsNetwork + c.errorsTimeout;
  // Each visitor's slowest (only) answer, taken from the latency histogram in order.
  const buckets: number[] = [];
  c.latency.forEach((n, b) => buckets.push(...new Array<number>(n).fill(b)));
  for (let i = 0; i < c.requests; i++) {
    const id = crowdId++;
    out.v.push(id);
    out.n.push(id);
    out.r.push(1);
    out.e.push(i < errors ? 1 : 0);
    out.m!.push(buckets[i] ?? -1);
  }
  return out;
}

/** One report with one batch; canary is green unless said otherwise; contributors a crowd unless given. */
export function report(
  fp: string,
  canary: SlotCounters | null,
  stable: SlotCounters | null,
  extra: Partial<ReportBatch> = {},
): Report {
  const sec = Math.floor(Date.now() / 1000);
  const slots: ReportBatch["slots"] = {};
  const c = extra.canary ?? "green";
  const contributors: ReportBatch["contributors"] = {};
  if (canary) ((slots[c] = canary), (contributors[c] = crowdOf(canary)));
  if (stable) {
    const s = c === "green" ? "blue" : "green";
    slots[s] = stable;
    contributors[s] = crowdOf(stable);
  }
  return {
    isolate: "test",
    sentAt: Date.now(),
    dropped: 0,
    batches: [{ fingerprint: fp, canary: c, from: sec, to: sec, slots, contributors, ...extra }],
  };
}

/** The message of a refused call. (Awaited in place: an RPC rejection handed to expect().rejects is also reported as unhandled.) */
export async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  return "(not refused)";
}
