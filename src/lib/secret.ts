// Comparing a secret a client sent with the configured one. Both sides are hashed to 32 bytes
// first, so the loop always runs over the same length: neither the secret's length nor how many of
// its leading characters were right shows in the time taken (a plain `===` or a length check first
// leaks both).

/** True iff `given` equals `expected`, in time independent of either. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(given)),
    crypto.subtle.digest("SHA-256", enc.encode(expected)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
