/**
 * The log's face for reading a log directory from outside a running log (what backup,
 * archival, restore and the Merkle root use): segment files listed, read whole and walked
 * frame by frame with the records decoded; a walk stopped at a frame; a header read alone;
 * the last whole LSN of a directory whose tail is torn.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import {
  entriesFrom,
  lastWholeLsn,
  listSegmentFiles,
  Log,
  readSegmentHeader,
  type SegmentFile,
  SegmentImage,
} from "../../src/log/index.ts";
import { entriesChunkBytes } from "../../src/log/segment-image.ts";
import { entry, tempDir } from "./helpers.ts";

async function writeLog(dir: string, count: number, segmentBytesMax = 2048): Promise<void> {
  const log = await Log.open(dir, { segmentBytesMax });
  for (let n = 1; n <= count; n++) await log.append([entry(n)]);
  await log.close();
}

function image(file: SegmentFile): SegmentImage {
  const read = SegmentImage.read(file);
  if ("error" in read) throw new Error(read.error);
  return read;
}

describe("SegmentImage", () => {
  test("walking every segment visits every record once, in order, decoded as written", async () => {
    const dir = tempDir();
    await writeLog(dir, 50);
    const files = listSegmentFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    expect(files.map((f) => f.segment)).toEqual(files.map((_, i) => i + 1));
    let next = 1;
    for (const file of files) {
      const img = image(file);
      expect(img.firstLsn).toBe(next);
      const walk = img.walk((offset, lsn, end) => {
        expect(lsn).toBe(next++);
        const e = img.entry(offset, lsn, end);
        const want = entry(lsn);
        expect([e.lsn, e.segment, e.offset, e.recordedAtMs]).toEqual([lsn, file.segment, offset, want.recordedAtMs]);
        expect(e.body).toEqual(want.body);
        expect(e.sig).toEqual(want.sig);
      });
      expect(walk.damage).toBeUndefined();
      expect(walk.stopped).toBeUndefined();
      expect(walk.goodEnd).toBe(img.bytes.length);
    }
    expect(next).toBe(51);
  });

  test("a visitor returning false stops the walk before that frame: not counted, goodEnd at its start", async () => {
    const dir = tempDir();
    await writeLog(dir, 12, 1 << 20);
    const img = image(listSegmentFiles(dir)[0] as SegmentFile);
    const starts: number[] = [];
    const walk = img.walk((offset, lsn) => {
      starts.push(offset);
      if (lsn === 8) return false;
    });
    expect(walk).toMatchObject({ firstLsn: 1, lastLsn: 7, records: 7, goodEnd: starts[7], stopped: true });
    expect(walk.damage).toBeUndefined();
    const none = img.walk(() => false);
    expect(none).toMatchObject({ lastLsn: 0, records: 0, stopped: true });
    expect(none.goodEnd).toBe(starts[0] as number);
  });

  test("a torn tail ends the walk with the damage, goodEnd at the last whole frame", async () => {
    const dir = tempDir();
    await writeLog(dir, 5, 1 << 20);
    const file = listSegmentFiles(dir)[0] as SegmentFile;
    const whole = fs.statSync(file.path).size;
    fs.truncateSync(file.path, whole - 3);
    const walk = image(file).walk();
    expect(walk.lastLsn).toBe(4);
    expect(walk.damage?.message).toContain("incomplete frame");
    expect(walk.goodEnd).toBeLessThan(whole - 3);
  });

  test("a file that is not a segment is an error naming why, not an image", () => {
    const dir = tempDir();
    const path = join(dir, "0000000001.seg");
    fs.writeFileSync(path, new Uint8Array(100).fill(7));
    const file = listSegmentFiles(dir)[0] as SegmentFile;
    expect(SegmentImage.read(file)).toEqual({ error: "segment header: bad magic (not a StemeDB log segment)" });
    expect(readSegmentHeader(file)).toEqual({ error: "segment header: bad magic (not a StemeDB log segment)" });
  });
});

describe("readSegmentHeader and lastWholeLsn", () => {
  test("the header alone says each segment's number and first LSN", async () => {
    const dir = tempDir();
    await writeLog(dir, 40);
    for (const file of listSegmentFiles(dir)) {
      const read = readSegmentHeader(file);
      expect("header" in read && read.header).toMatchObject({ segment: file.segment, firstLsn: image(file).firstLsn });
    }
    const short = join(dir, "0000000099.seg");
    fs.writeFileSync(short, new Uint8Array(10));
    expect(readSegmentHeader({ segment: 99, name: "0000000099.seg", path: short })).toEqual({
      error: "segment header: file is 10 bytes, shorter than the 48-byte header",
    });
  });

  test("lastWholeLsn: the last whole frame, past a torn tail and a segment torn while being created", async () => {
    const dir = tempDir();
    expect(lastWholeLsn(dir)).toBe(0);
    await writeLog(dir, 30);
    expect(lastWholeLsn(dir)).toBe(30);
    const last = listSegmentFiles(dir).at(-1) as SegmentFile;
    fs.truncateSync(last.path, fs.statSync(last.path).size - 1);
    expect(lastWholeLsn(dir)).toBe(29);
    const next = last.segment + 1;
    fs.writeFileSync(join(dir, `${String(next).padStart(10, "0")}.seg`), new Uint8Array(20));
    expect(lastWholeLsn(dir)).toBe(29);
  });
});

describe("entriesFrom", () => {
  /** A segment well over one chunk, its frames of varied sizes so that chunk ends cut frames. */
  async function bigSegment(): Promise<{ file: SegmentFile; img: SegmentImage; count: number }> {
    const dir = tempDir();
    const log = await Log.open(dir, { segmentBytesMax: 8 << 20 });
    const count = 3000;
    for (let n = 1; n <= count; n += 100)
      await log.append(Array.from({ length: 100 }, (_, i) => entry(n + i, 300 + ((n + i) % 997))));
    await log.close();
    const files = listSegmentFiles(dir);
    expect(files.length).toBe(1);
    const file = files[0] as SegmentFile;
    expect(fs.statSync(file.path).size).toBeGreaterThan(2 * entriesChunkBytes);
    return { file, img: image(file), count };
  }

  test("from the first frame, a chunk at a time, it visits what a whole read visits, frames cut by chunks included", async () => {
    const { file, img, count } = await bigSegment();
    const offsets = new Map<number, number>();
    img.walk((offset, lsn) => void offsets.set(lsn, offset));
    const seen: number[] = [];
    const walk = entriesFrom(file, null, (e) => {
      expect(e.body).toEqual(entry(e.lsn, 300 + (e.lsn % 997)).body);
      expect(e.segment).toBe(1);
      expect(e.offset).toBe(offsets.get(e.lsn) as number); // the file's offset, in every chunk
      seen.push(e.lsn);
    });
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(walk).toEqual(img.walk());
  });

  test("from a known frame, it starts there; a place that is not that LSN's frame visits nothing", async () => {
    const { file, img, count } = await bigSegment();
    const offsets = new Map<number, number>();
    img.walk((offset, lsn) => void offsets.set(lsn, offset));
    const seen: number[] = [];
    const walk = entriesFrom(file, { offset: offsets.get(2500) as number, lsn: 2500 }, (e) => seen.push(e.lsn));
    expect(seen).toEqual(Array.from({ length: count - 2499 }, (_, i) => i + 2500));
    expect(walk).toMatchObject({ firstLsn: 2500, lastLsn: count, records: count - 2499, goodEnd: img.bytes.length });
    expect(entriesFrom(file, { offset: offsets.get(2500) as number, lsn: 2501 }, () => seen.push(-1))).toMatchObject({
      records: 0,
      damage: { offset: offsets.get(2500) },
    });
    expect(entriesFrom(file, { offset: (offsets.get(2500) as number) + 1, lsn: 2500 }, () => seen.push(-1))).toMatchObject({
      records: 0,
    });
    // Outside the file, before the first frame, or not a position at all: nothing visited, nothing thrown.
    for (const offset of [img.bytes.length, img.bytes.length + 10_000_000, 3, -1, 100.5, Number.NaN])
      expect(entriesFrom(file, { offset, lsn: 2500 }, () => seen.push(-1))).toMatchObject({ records: 0 });
    expect(seen).not.toContain(-1);
  });

  test("a torn tail stops the walk at the last whole frame; damage mid-segment stops it there", async () => {
    const { file, img, count } = await bigSegment();
    const offsets = new Map<number, number>();
    img.walk((offset, lsn) => void offsets.set(lsn, offset));
    fs.truncateSync(file.path, img.bytes.length - 5);
    let last = 0;
    expect(entriesFrom(file, null, (e) => (last = e.lsn))).toMatchObject({ lastLsn: count - 1, damage: {} });
    expect(last).toBe(count - 1);
    const bytes = fs.readFileSync(file.path);
    const at = (offsets.get(1700) as number) + 40;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    fs.writeFileSync(file.path, bytes);
    expect(entriesFrom(file, null, (e) => (last = e.lsn))).toMatchObject({
      lastLsn: 1699,
      damage: { offset: offsets.get(1700) },
    });
    expect(last).toBe(1699);
  });
});
