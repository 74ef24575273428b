// One bounded wait for every outside call (KV, the controller's RPC): a promise that rejects with a
// message naming what did not answer. The timer is cleared either way, so a settled call leaves no
// timer behind to keep an isolate or a Durable Object busy.

/** `p`, or a rejection `"<what> gave no answer within <ms> ms"` once `ms` have passed. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} gave no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}
