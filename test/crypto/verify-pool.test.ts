import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPair, signId } from "../../src/crypto/sign.ts";
import { VerifyPool } from "../../src/crypto/verify-pool.ts";

const pool = new VerifyPool(2);
afterAll(() => pool.close());

function signed(i: number) {
  const key = generateKeyPair();
  const id = new Uint8Array(32).fill(i & 0xff);
  return { id, agent: key.publicKey, sig: signId(id, key.secretKey) };
}

describe("VerifyPool", () => {
  const items = Array.from({ length: 300 }, (_, i) => signed(i));

  test("a large burst goes through the worker threads and every answer lands on its own request", async () => {
    // Corrupt every third signature: answers must not be shuffled between requests.
    const results = await Promise.all(
      items.map((it, i) => {
        const sig = new Uint8Array(it.sig);
        if (i % 3 === 0) sig[5] = (sig[5] as number) ^ 1;
        return pool.verify(sig, it.id, it.agent);
      }),
    );
    expect(results).toEqual(items.map((_, i) => i % 3 !== 0));
  });

  test("a few at a time are checked directly, with the same answers", async () => {
    const few = items.slice(0, 4);
    expect(await Promise.all(few.map((it) => pool.verify(it.sig, it.id, it.agent)))).toEqual([true, true, true, true]);
    const [it] = few;
    if (!it) throw new Error("no item");
    expect(await pool.verify(it.sig, new Uint8Array(32).fill(0xee), it.agent)).toBe(false);
  });

  test("malformed lengths are invalid, not errors", async () => {
    const [it] = items;
    if (!it) throw new Error("no item");
    expect(await pool.verify(it.sig.subarray(0, 63), it.id, it.agent)).toBe(false);
    expect(await pool.verify(it.sig, it.id, it.agent.subarray(1))).toBe(false);
  });

  test("after close, pending and new checks fail with unavailable instead of answering invalid", async () => {
    const local = new VerifyPool(1);
    const pending = Promise.all(items.slice(0, 100).map((it) => local.verify(it.sig, it.id, it.agent)));
    local.close();
    await expect(pending).rejects.toMatchObject({ code: "unavailable" });
  });
});
