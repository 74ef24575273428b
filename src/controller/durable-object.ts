// Placeholder: replaced by the controller implementation.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
export class RolloutController extends DurableObject<Env> {
  async ping(): Promise<string> {
    return "pong";
  }
}
