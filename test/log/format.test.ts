import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import {
  decodeFrame,
  decodeSegmentHeader,
  encodeFrame,
  encodeSegmentHeader,
  frameBytesFor,
  parseSegmentFileName,
  payloadBytesMax,
  probeFrame,
  segmentFileName,
  segmentHeaderBytes,
} from "../../src/log/format.ts";
import { crc32c } from "../../src/log/crc32c.ts";
import { Log } from "../../src/log/index.ts";
import { entry, tempDir } from "./helpers.ts";

describe("segment header", () => {
  test("round trip and exact layout", () => {
    const bytes = encodeSegmentHeader({ segment: 7, firstLsn: 12345, createdAtMs: 1_700_000_000_123 });
    expect(bytes.length).toBe(48);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe("STEMELOG");
    const v = new DataView(bytes.buffer);
    expect(v.getUint32(8, true)).toBe(1);
    expect(v.getUint32(12, true)).toBe(48);
    expect(v.getBigUint64(16, true)).toBe(7n);
    expect(v.getBigUint64(24, true)).toBe(12345n);
    expect(v.getBigUint64(32, true)).toBe(1_700_000_000_123n);
    expect(v.getUint32(40, true)).toBe(0);
    expect(v.getUint32(44, true)).toBe(crc32c(bytes, 0, 44));
    expect(decodeSegmentHeader(bytes)).toEqual({ header: { segment: 7, firstLsn: 12345, createdAtMs: 1_700_000_000_123 } });
  });

  test("every single flipped byte is detected", () => {
    const good = encodeSegmentHeader({ segment: 1, firstLsn: 1, createdAtMs: 5 });
    for (let i = 0; i < segmentHeaderBytes; i++) {
      const bad = good.slice();
      bad[i] = (bad[i] as number) ^ 0x01;
      expect("error" in decodeSegmentHeader(bad)).toBe(true);
    }
  });

  test("names the reason: magic, short, version", () => {
    const good = encodeSegmentHeader({ segment: 1, firstLsn: 1, createdAtMs: 5 });
    const badMagic = good.slice();
    badMagic[0] = 0x58;
    expect(decodeSegmentHeader(badMagic)).toEqual({ error: expect.stringContaining("bad magic") });
    expect(decodeSegmentHeader(good.subarray(0, 20))).toEqual({ error: expect.stringContaining("shorter") });
    const v2 = good.slice();
    new DataView(v2.buffer).setUint32(8, 2, true);
    new DataView(v2.buffer).setUint32(44, crc32c(v2, 0, 44), true);
    expect(decodeSegmentHeader(v2)).toEqual({ error: expect.stringContaining("format version 2") });
  });

  test("file names", () => {
    expect(segmentFileName(1)).toBe("0000000001.seg");
    expect(segmentFileName(1234567890)).toBe("1234567890.seg");
    expect(parseSegmentFileName("0000000042.seg")).toBe(42);
    expect(parseSegmentFileName("42.seg")).toBeNull();
    expect(parseSegmentFileName("0000000042.seg.tmp")).toBeNull();
  });
});

describe("frame", () => {
  test("round trip with exact layout", () => {
    const e = entry(3, 100);
    const out = new Uint8Array(frameBytesFor(100) + 10);
    const end = encodeFrame(out, 10, 99, e);
    expect(end).toBe(10 + 16 + 72 + 100);
    const v = new DataView(out.buffer);
    expect(v.getUint32(10, true)).toBe(172);
    expect(v.getBigUint64(14, true)).toBe(99n);
    expect(v.getBigUint64(26, true)).toBe(BigInt(e.recordedAtMs));
    const probe = probeFrame(out, 10);
    expect(probe).toEqual({ kind: "ok", lsn: 99, payloadLength: 172, end });
    if (probe.kind !== "ok") throw new Error("unreachable");
    const decoded = decodeFrame(out, 10, probe, 4);
    expect(decoded).toEqual({ lsn: 99, recordedAtMs: e.recordedAtMs, sig: e.sig, body: e.body, segment: 4, offset: 10 });
    // Copies, not views: changing the buffer must not change the decoded record.
    out.fill(0);
    expect(decoded.body).toEqual(e.body);
  });

  test("CRC covers length, LSN and payload: every flipped byte fails", () => {
    const out = new Uint8Array(frameBytesFor(20));
    encodeFrame(out, 0, 1, entry(1, 20));
    for (let i = 0; i < out.length; i++) {
      const bad = out.slice();
      bad[i] = (bad[i] as number) ^ 0x80;
      expect(probeFrame(bad, 0).kind).not.toBe("ok");
    }
  });

  test("length bounds and incompleteness", () => {
    const out = new Uint8Array(frameBytesFor(20));
    encodeFrame(out, 0, 1, entry(1, 20));
    expect(probeFrame(out.subarray(0, 10), 0).kind).toBe("incomplete");
    expect(probeFrame(out.subarray(0, out.length - 1), 0).kind).toBe("incomplete");
    const tooLong = out.slice();
    new DataView(tooLong.buffer).setUint32(0, payloadBytesMax + 1, true);
    expect(probeFrame(tooLong, 0).kind).toBe("bad_length");
    const tooShort = out.slice();
    new DataView(tooShort.buffer).setUint32(0, 72, true);
    expect(probeFrame(tooShort, 0).kind).toBe("bad_length");
    expect(probeFrame(new Uint8Array(200), 0).kind).toBe("bad_length");
  });
});

describe("golden segment (test/fixtures/log/golden)", () => {
  test("a fresh log with the same records is byte-for-byte the fixture, and the fixture reads back", async () => {
    const fixture = readFileSync(join(import.meta.dir, "../fixtures/log/golden/0000000001.seg"));
    const dir = tempDir();
    const log = await Log.open(dir, { now: () => 1_700_000_000_000 });
    await log.append([entry(1, 1), entry(2, 20), entry(3, 100)]);
    await log.close();
    expect(new Uint8Array(readFileSync(join(dir, "0000000001.seg")))).toEqual(new Uint8Array(fixture));
    expect(fixture.length).toBe(48 + 3 * 88 + 1 + 20 + 100);
    const copy = tempDir();
    cpSync(join(import.meta.dir, "../fixtures/log/golden"), copy, { recursive: true });
    const reopened = await Log.open(copy);
    expect([...reopened.scan()].map((e) => [e.lsn, e.body.length, e.recordedAtMs])).toEqual([
      [1, 1, 1_700_000_000_001],
      [2, 20, 1_700_000_000_002],
      [3, 100, 1_700_000_000_003],
    ]);
    await reopened.close();
  });
});
