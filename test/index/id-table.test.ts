import { describe, expect, test } from "bun:test";
import { IdTable } from "../../src/index/id-table.ts";

function id(seed: number): Uint8Array {
  const b = new Uint8Array(32);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < 32; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

describe("IdTable", () => {
  test("finds every id it holds across many growths, and nothing it does not", () => {
    const table = new IdTable(16);
    const n = 200_000;
    for (let i = 1; i <= n; i++) table.add(id(i), i);
    expect(table.size).toBe(n);
    for (let i = 1; i <= n; i += 7) expect(table.candidates(id(i))).toEqual([i]);
    for (let i = n + 1; i <= n + 5000; i++) expect(table.candidates(id(i))).toEqual([]);
  });

  test("ids sharing the 8-byte prefix are all returned as candidates", () => {
    const table = new IdTable();
    const a = id(1);
    const b = new Uint8Array(a);
    b[20] = (b[20] as number) ^ 1;
    const c = new Uint8Array(a);
    c[8] = (c[8] as number) ^ 1;
    table.add(a, 5);
    table.add(b, 9);
    table.add(c, 12);
    expect(table.candidates(a).sort((x, y) => x - y)).toEqual([5, 9, 12]);
    const d = new Uint8Array(a);
    d[7] = (d[7] as number) ^ 1;
    expect(table.candidates(d)).toEqual([]);
  });

  test("dropAfter forgets entries past an LSN and keeps the rest findable", () => {
    const table = new IdTable();
    for (let i = 1; i <= 1000; i++) table.add(id(i), i);
    table.dropAfter(600);
    expect(table.size).toBe(600);
    expect(table.candidates(id(600))).toEqual([600]);
    expect(table.candidates(id(601))).toEqual([]);
    table.add(id(601), 601);
    expect(table.candidates(id(601))).toEqual([601]);
  });

  test("LSN 0 is not a valid entry (it marks empty slots)", () => {
    expect(() => new IdTable().add(id(1), 0)).toThrow(/invariant/);
  });
});
