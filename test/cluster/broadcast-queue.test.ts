/** The gossip queue: one message per member, least-sent first, dropped after the retransmit limit. */
import { expect, test } from "bun:test";
import { BroadcastQueue } from "../../src/cluster/broadcast-queue.ts";
import { presets, retransmitLimit } from "../../src/cluster/config.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test("newer news about a member replaces older news still queued", () => {
  const q = new BroadcastQueue();
  q.enqueue("a", bytes(10, 1));
  q.enqueue("b", bytes(10, 2));
  q.enqueue("a", bytes(10, 3));
  expect(q.length).toBe(2);
  const out = q.take(1000, 0, 10);
  expect(out.map((m) => m[0])).toEqual([3, 2]); // newest first among the never-sent
});

test("a message leaves after the retransmit limit; the least-sent go first", () => {
  const q = new BroadcastQueue();
  q.enqueue("a", bytes(10, 1));
  expect(q.take(1000, 0, 3)).toHaveLength(1);
  q.enqueue("b", bytes(10, 2));
  expect(q.take(15, 0, 3).map((m) => m[0])).toEqual([2]); // b never sent, a sent once; room for one
  expect(q.take(1000, 0, 3).map((m) => m[0])).toEqual([2, 1]);
  expect(q.take(1000, 0, 3).map((m) => m[0])).toEqual([2, 1]); // a's third send: gone
  expect(q.has("a")).toBe(false);
  expect(q.take(1000, 0, 3).map((m) => m[0])).toEqual([]); // b's 3 sends are done too
  expect(q.length).toBe(0);
});

test("take never exceeds the byte budget and skips what does not fit for what does", () => {
  const q = new BroadcastQueue();
  q.enqueue("big", bytes(100, 1));
  q.enqueue("small", bytes(20, 2));
  const out = q.take(50, 5, 10);
  expect(out.map((m) => m.length)).toEqual([20]);
  expect(q.take(5, 5, 10)).toEqual([]);
});

test("the retransmit limit grows with log10 of the cluster size", () => {
  expect(retransmitLimit(presets.lan, 1)).toBe(4);
  expect(retransmitLimit(presets.lan, 9)).toBe(4);
  expect(retransmitLimit(presets.lan, 10)).toBe(8);
  expect(retransmitLimit(presets.lan, 100)).toBe(12);
});
