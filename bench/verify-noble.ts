/**
 * Signature verification rates on one thread: the project's pure-JS verifier (verifyIdNoble,
 * cofactorless, docs/FORMAT.md#which-signatures-verify) against @noble/ed25519's own `verify` (cofactored, zip215: false) it
 * replaced, with the server's native path (verifyId: BoringSSL plus the pre-checks) for scale.
 * Usage: `bun bench/verify-noble.ts`. 64 keys (the server caches KeyObjects per key, as in use).
 * The rounds of the verifiers are interleaved, so a busy neighbour slows them alike.
 */
import * as ed from "@noble/ed25519";
import { generateKeyPair, signId } from "../src/crypto/sign.ts";
import { verifyId } from "../src/crypto/verify.ts";
import { verifyIdNoble } from "../src/crypto/verify-noble.ts";

type Verify = (sig: Uint8Array, id: Uint8Array, agent: Uint8Array) => boolean;

const keysCount = 64;
const rounds = 7;
const items = Array.from({ length: keysCount }, (_, i) => {
  const key = generateKeyPair();
  const id = new Uint8Array(32).fill(i);
  return { id, agent: key.publicKey, sig: signId(id, key.secretKey) };
});

const verifiers: Array<{ name: string; verify: Verify; perRound: number; rates: number[] }> = [
  { name: "verifyIdNoble (cofactorless, pure JS)", verify: verifyIdNoble, perRound: 300, rates: [] },
  {
    name: "@noble/ed25519 verify (cofactored, zip215:false)",
    verify: (s, m, k) => ed.verify(s, m, k, { zip215: false }),
    perRound: 300,
    rates: [],
  },
  { name: "verifyId (native BoringSSL + pre-checks)", verify: verifyId, perRound: 10_000, rates: [] },
];

for (let round = 0; round <= rounds; round++) {
  for (const v of verifiers) {
    const started = performance.now();
    for (let i = 0; i < v.perRound; i++) {
      const it = items[i % keysCount] as (typeof items)[number];
      if (!v.verify(it.sig, it.id, it.agent)) throw new Error(`${v.name}: a valid signature did not verify`);
    }
    if (round > 0) v.rates.push((v.perRound * 1000) / (performance.now() - started)); // round 0 warms up
  }
}
const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const v of verifiers)
  console.log(`${v.name.padEnd(50)} ${Math.round(median(v.rates)).toLocaleString("en-US").padStart(8)} /s`);
const [ours, theirs] = verifiers.map((v) => median(v.rates)) as [number, number];
console.log(`verifyIdNoble / noble verify: ${(ours / theirs).toFixed(2)}`);
