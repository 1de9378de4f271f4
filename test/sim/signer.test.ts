/** The arena signs natively; its records must be byte for byte what the client (noble) makes, and verify. */
import { expect, test } from "bun:test";
import { signClaim, toHex, verifySignature } from "../../src/client/index.ts";
import { Rng } from "../../src/sim/rng.ts";
import { AgentKey } from "../../src/sim/signer.ts";

test("native signing gives the client's record, id and signature", () => {
  const key = AgentKey.derive(42, "scientist-0");
  expect(AgentKey.derive(42, "scientist-0").hex).toBe(key.hex);
  expect(AgentKey.derive(43, "scientist-0").hex).not.toBe(key.hex);
  const fields = { kind: "assertion", subject: "arena/s/1", predicate: "value", object: 1.25, confidence: 0.7 };
  const ours = key.sign(fields, 1_700_000_000_000);
  const theirs = signClaim({ publicKey: key.publicKey, secretKey: key.secretKey }, { ...fields, ts: 1_700_000_000_000 });
  expect(toHex(ours.body)).toBe(toHex(theirs.body));
  expect(toHex(ours.id)).toBe(toHex(theirs.id));
  expect(toHex(ours.sig)).toBe(toHex(theirs.sig));
  expect(verifySignature(ours.sig, ours.id, key.publicKey)).toBe(true);
});

test("the arena's random streams: the same for a seed and name, independent across names", () => {
  const draw = (r: Rng) => Array.from({ length: 5 }, () => r.float());
  expect(draw(Rng.for(1, "troll-3"))).toEqual(draw(Rng.for(1, "troll-3")));
  expect(draw(Rng.for(1, "troll-3"))).not.toEqual(draw(Rng.for(1, "troll-4")));
  const r = new Rng(9);
  for (const [n, k] of [
    [10, 3],
    [10, 10],
    [10, 20],
    [1000, 7],
  ] as const) {
    const picked = r.indices(n, k);
    expect(picked.length).toBe(Math.min(n, k));
    expect(new Set(picked).size).toBe(picked.length);
    expect(picked.every((i) => Number.isInteger(i) && i >= 0 && i < n)).toBe(true);
  }
  expect(() => r.pick([])).toThrow(RangeError);
});
