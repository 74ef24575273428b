// What response diffing costs a mirrored request, against just passing the same body through,
// measured in the same run: stable's body teed (one branch read like a client would, the other
// hashed with SHA-256, as src/proxy/mirror.ts does) versus the body read once, untouched (what
// every non-mirrored request pays). Node's WebCrypto stands in for workerd's.
// Usage: tsx scripts/bench-shadow.ts [--kib 256] [--n 300]
import { digestBody } from "../src/shadow/digest";
import { numberFlag } from "./lib/args";

const KIB = numberFlag("kib", 256);
const N = numberFlag("n", 300);
const CHUNK = 16 * 1024;
const payload = new Uint8Array(KIB * 1024).map((_, i) => (i * 31) & 255);

function body(): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= payload.length) return c.close();
      c.enqueue(payload.subarray(at, (at += CHUNK)));
    },
  });
}

async function drain(s: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of s as unknown as AsyncIterable<Uint8Array>) n += c.byteLength;
  return n;
}

async function time(label: string, fn: () => Promise<unknown>): Promise<number> {
  for (let k = 0; k < Math.min(N, 20); k++) await fn();
  const t0 = performance.now();
  for (let k = 0; k < N; k++) await fn();
  const us = ((performance.now() - t0) * 1000) / N;
  console.log(`${label.padEnd(52)} ${us.toFixed(0).padStart(7)} µs/request`);
  return us;
}

const base = await time(`pass-through: read a ${KIB} KiB body once`, () => drain(body()));
const mirrored = await time(`mirrored: tee, read one branch, SHA-256 the other`, async () => {
  const [user, hash] = body().tee();
  await Promise.all([drain(user), digestBody(hash, KIB * 1024)]);
});
const over = await time(`mirrored, body over maxBodyBytes (hash gives up at ½)`, async () => {
  const [user, hash] = body().tee();
  await Promise.all([drain(user), digestBody(hash, (KIB * 1024) / 2)]);
});
console.log("");
console.log(
  `ratio mirrored / pass-through: ${(mirrored / base).toFixed(2)}× (over the limit: ${(over / base).toFixed(2)}×); non-mirrored requests pay 1.00× — their body is never teed`,
);
