/** The caches' admission: a key is let in the second time it is offered, while remembered. */
import { expect, test } from "bun:test";
import { Doorkeeper } from "../../src/query/doorkeeper.ts";

test("a key is new at its first offer and known at the next; strings and numbers alike", () => {
  const door = new Doorkeeper(1024);
  expect(door.offer("consensus\0s\0p")).toBe(false);
  expect(door.offer("consensus\0s\0p")).toBe(true);
  expect(door.offer("consensus\0s\0p")).toBe(true);
  expect(door.offer("recency\0s\0p")).toBe(false);
  expect(door.offer(7)).toBe(false);
  expect(door.offer(7)).toBe(true);
  expect(door.offer(2 ** 40 + 7)).toBe(false); // the high half counts
});

test("it remembers about as many keys as it has slots: older ones are forgotten, never a false 'new' for a fresh one", () => {
  const door = new Doorkeeper(1024);
  for (let i = 0; i < 100; i++) expect(door.offer(`k${i}`)).toBe(false);
  let remembered = 0;
  for (let i = 0; i < 100; i++) if (door.offer(`k${i}`)) remembered++;
  expect(remembered).toBeGreaterThan(90); // 100 keys in 1,024 slots: few collisions
  for (let i = 0; i < 100_000; i++) door.offer(`other${i}`);
  let still = 0;
  for (let i = 0; i < 100; i++) if (door.offer(`k${i}`)) still++;
  expect(still).toBeLessThan(10); // pushed out by 100,000 others
});
