/**
 * Pipelined group commit (src/log/writer.ts): no batch is acknowledged before a sync that
 * began after its write has returned. Socket-free and clock-free: every sync is a promise the
 * test settles by hand, in orders a seeded PRNG picks.
 */
import { describe, expect, test } from "bun:test";
import { SyncPipeline } from "../../src/log/writer.ts";
import { prng } from "../support/prng.ts";

interface HeldSync {
  slot: number;
  /** The last batch written when this sync began. */
  covers: number;
  release: () => void;
  fail: (err: Error) => void;
}

/** A pipeline whose syncs wait for the test; `written()` says how many batches were written so far. */
function heldPipeline(slots: number) {
  const running: HeldSync[] = [];
  let written = 0;
  const pipeline = new SyncPipeline(
    (slot) =>
      new Promise<void>((resolve, reject) => {
        expect(running.some((s) => s.slot === slot)).toBe(false); // no two syncs share a slot
        running.push({ slot, covers: written, release: resolve, fail: reject });
      }),
    slots,
  );
  const released: number[] = [];
  const failed: number[] = [];
  const write = () => {
    written++;
    const { seq, durable } = pipeline.wrote();
    durable.then(
      () => released.push(seq),
      () => failed.push(seq),
    );
    return seq;
  };
  const take = (i: number): HeldSync => {
    const [s] = running.splice(i, 1);
    if (!s) throw new Error(`no sync #${i} running`);
    return s;
  };
  return { pipeline, running, released, failed, write, take };
}

/** Lets every settled promise's callbacks run. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe("SyncPipeline", () => {
  test("a batch is released by the first sync that began after its write, in order, even when a later sync returns first", async () => {
    const p = heldPipeline(2);
    p.write(); // sync A starts, covers 1
    p.write(); // sync B starts in the second slot, covers 2
    p.write(); // both slots busy: waits
    expect(p.running.map((s) => s.covers)).toEqual([1, 2]);
    await settle();
    expect(p.released).toEqual([]);

    p.take(1).release(); // B returns first: 1 and 2 are durable (1 was written before B began)
    await settle();
    expect(p.released).toEqual([1, 2]);
    expect(p.running.map((s) => s.covers)).toEqual([1, 3]); // C started for 3 in B's slot

    p.take(0).release(); // A returns late: nothing new
    await settle();
    expect(p.released).toEqual([1, 2]);

    p.take(0).release();
    await settle();
    expect(p.released).toEqual([1, 2, 3]);
    await p.pipeline.drain();
  });

  test("with one slot it is the classic group commit: what is written during a sync waits for the next one", async () => {
    const p = heldPipeline(1);
    p.write();
    p.write();
    p.write();
    expect(p.running.map((s) => s.covers)).toEqual([1]);
    expect(p.pipeline.whenSlotFree()).not.toBeNull();
    p.take(0).release();
    await settle();
    expect(p.released).toEqual([1]);
    expect(p.running.map((s) => s.covers)).toEqual([3]);
    p.take(0).release();
    await settle();
    expect(p.released).toEqual([1, 2, 3]);
    expect(p.pipeline.whenSlotFree()).toBeNull();
  });

  test("property: in random completion orders no batch is released before a sync that began after it, and all are released in order", async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const slots = 1 + Math.floor(random() * 4);
      const p = heldPipeline(slots);
      /** For each released batch: the highest `covers` of any sync returned before it was released. */
      let returnedCovers = 0;
      const checked: number[] = [];
      let writes = 0;
      for (let step = 0; step < 300; step++) {
        if (writes < 150 && (p.running.length === 0 || random() < 0.5)) {
          p.write();
          writes++;
        } else if (p.running.length > 0) {
          const s = p.take(Math.floor(random() * p.running.length));
          returnedCovers = Math.max(returnedCovers, s.covers);
          s.release();
          await settle();
          for (const seq of p.released.slice(checked.length)) {
            expect({ seed, seq, covered: seq <= returnedCovers }).toEqual({ seed, seq, covered: true });
            checked.push(seq);
          }
        }
      }
      while (p.running.length > 0) {
        const s = p.take(0);
        returnedCovers = Math.max(returnedCovers, s.covers);
        s.release();
        await settle();
      }
      expect(p.released).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
      expect(p.failed).toEqual([]);
    }
  });

  test("a failed sync rejects every batch not yet released, even one an overlapping sync would cover, and every later one", async () => {
    const p = heldPipeline(2);
    p.write(); // A covers 1
    const a = p.take(0);
    a.release();
    await settle();
    expect(p.released).toEqual([1]);
    p.write(); // B covers 2
    p.write(); // C covers 3
    const [b, c] = [p.take(0), p.take(0)];
    c.fail(new Error("EIO"));
    await settle();
    expect(p.failed).toEqual([2, 3]);
    b.release(); // B "succeeds" after the failure: it releases nothing
    await settle();
    expect(p.released).toEqual([1]);
    p.write();
    await settle();
    expect(p.failed).toEqual([2, 3, 4]);
    expect(p.running).toEqual([]); // no sync is tried again after a failure
    await expect(p.pipeline.drain()).rejects.toThrow("EIO");
  });

  test("drain waits for every running sync, not just for the last batch to be durable", async () => {
    const p = heldPipeline(2);
    p.write();
    p.write();
    const [a, b] = [p.take(0), p.take(0)];
    b.release(); // everything durable, but A still runs on its descriptor
    await settle();
    let drained = false;
    const drain = p.pipeline.drain().then(() => {
      drained = true;
    });
    await settle();
    expect(drained).toBe(false);
    a.release();
    await drain;
    expect(drained).toBe(true);
  });

  test("a sync that throws before returning a promise fails like one that rejects", async () => {
    const pipeline = new SyncPipeline(() => {
      throw new Error("EBADF");
    }, 2);
    await expect(pipeline.wrote().durable).rejects.toThrow("EBADF");
    await expect(pipeline.wrote().durable).rejects.toThrow("EBADF");
  });
});
