// What the controller's parts (KV sync, plan runner, wakes, events) share, as one small interface
// the Durable Object builds: they read and replace its state through it and never reach into the
// object or into each other.
import type { ControllerState } from "./state";
import type { RolloutEvent } from "../model/status";

export type EventInput = { kind: RolloutEvent["kind"]; actor: string; reason: string; data?: Record<string, unknown> };

export interface ControllerContext {
  /** The object's one clock (epoch ms): decisions, event times, window seconds. Tests move it. */
  now(): number;
  state(): ControllerState;
  /** Replaces fields of the state and writes it (kv_state "controller") at once. */
  update(change: Partial<ControllerState>): void;
  /** Records a durable event (and hands it to the notifier). */
  recordEvent(ev: EventInput): RolloutEvent;
  /** Keeps the object alive for background work (`ctx.waitUntil`). */
  background(work: Promise<unknown>): void;
}

/** Asks for the alarm at `at` for one concern, or withdraws the request (./wakes.ts). */
export interface WakeRequests {
  request(concern: string, at: number): Promise<void>;
  clear(concern: string): Promise<void>;
}
