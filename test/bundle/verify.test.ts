/**
 * verify-bundle's contract: a clean bundle passes with the right summary, and every kind of
 * damage fails naming the right item (numbered from 1) and its byte offset — in both framings,
 * with signatures checked on worker threads and on the main thread.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BundleEncoder, BundleError, type BundleFormat } from "../../src/bundle/format.ts";
import { BundleReader } from "../../src/bundle/reader.ts";
import { verifyBundle } from "../../src/bundle/verify.ts";
import { buildBundle, manifestFor, sampleRecords } from "./helpers.ts";

const records = sampleRecords();

async function failure(bytes: Uint8Array, threads = 1): Promise<BundleError> {
  try {
    await verifyBundle(bytes, { threads });
  } catch (err) {
    if (err instanceof BundleError) return err;
    throw err;
  }
  throw new Error("the bundle verified, but should not have");
}

/** Where `needle` first occurs in `bytes` at or after `from`. */
function find(bytes: Uint8Array, needle: string | Uint8Array, from = 0): number {
  const at = Buffer.from(bytes).indexOf(typeof needle === "string" ? Buffer.from(needle) : Buffer.from(needle), from);
  if (at < 0) throw new Error(`not found: ${needle}`);
  return at;
}

for (const format of ["ndjson", "cbor"] as BundleFormat[]) {
  describe(`verify-bundle (${format})`, () => {
    const clean = buildBundle(records, format);
    /** The byte in item `i` (0-based) where the text "aspirin" of the body starts. */
    const aspirinIn = (i: number) =>
      format === "ndjson"
        ? find(clean.bytes, "6173706972696e", clean.offsets[i])
        : find(clean.bytes, "aspirin", clean.offsets[i]);

    for (const threads of [0, 2]) {
      test(`a clean bundle passes (threads ${threads})`, async () => {
        const s = await verifyBundle(clean.bytes, { threads });
        expect(s.format).toBe(format);
        expect(s.records).toBe(5);
        expect(s.kinds).toEqual({ assertion: 2, vote: 1, retraction: 0, source: 1, source_retraction: 0, epoch: 1, review: 0 });
        expect(s.merkleRoot).toBe(manifestFor(records).merkle_root);
        expect(s.manifest.selection).toEqual({ subject_prefix: "pharma/drug/*" });
        expect(s.bytes).toBe(clean.bytes.length);
      });
    }

    test("one changed byte of a body's text: that item's signature does not verify", async () => {
      const bytes = new Uint8Array(clean.bytes);
      const at = aspirinIn(1); // item 2, the first assertion
      if (format === "ndjson")
        bytes[at + 1] = "2".charCodeAt(0); // "61" (a) → "62" (b)
      else bytes[at] = "b".charCodeAt(0);
      for (const threads of [0, 2]) {
        const err = await failure(bytes, threads);
        expect(err.item).toBe(2);
        expect(err.offset).toBe(clean.offsets[1] as number);
        expect(err.message).toMatch(/^item 2 at byte [\d,]+: signature does not verify for id [0-9a-f]{64}$/);
      }
    });

    test("a body that is no longer canonical CBOR names the item and what is wrong", async () => {
      const bytes = new Uint8Array(clean.bytes);
      // The body's first byte, a map head (a7 / a9 …), becomes a reserved head.
      if (format === "ndjson") {
        const at = find(bytes, '"body":"', clean.offsets[2]) + 8;
        bytes[at] = "f".charCodeAt(0);
        bytes[at + 1] = "c".charCodeAt(0);
      } else bytes[find(bytes, "body", clean.offsets[2]) + 6] = 0xfc;
      const err = await failure(bytes);
      expect(err.item).toBe(3);
      expect(err.offset).toBe(clean.offsets[2] as number);
      expect(err.reason).toMatch(/^body: /);
    });

    test("one changed byte of a signature", async () => {
      const bytes = new Uint8Array(clean.bytes);
      const sig = (records[3] as { sig: Uint8Array }).sig;
      if (format === "ndjson") {
        const at = find(bytes, Buffer.from(sig).toString("hex"), clean.offsets[3]) + 10;
        bytes[at] = bytes[at] === "0".charCodeAt(0) ? "1".charCodeAt(0) : "0".charCodeAt(0);
      } else {
        const at = find(bytes, sig, clean.offsets[3]) + 5;
        bytes[at] = (bytes[at] as number) ^ 0x01;
      }
      const err = await failure(bytes);
      expect(err.item).toBe(4);
      expect(err.offset).toBe(clean.offsets[3] as number);
      expect(err.reason).toStartWith("signature does not verify");
    });

    test("a manifest whose Merkle root is not the records' root", async () => {
      const bad = buildBundle(records, format, manifestFor(records, { merkle_root: "00".repeat(32) })).bytes;
      const err = await failure(bad);
      expect(err.item).toBe(6);
      expect(err.offset).toBe(clean.offsets[5] as number);
      expect(err.reason).toMatch(/^manifest: merkle_root 0{64} is not the root of the records, [0-9a-f]{64}$/);
    });

    test("a dropped record: the manifest's count no longer holds", async () => {
      const fewer = [records[0], records[1], records[3], records[4]] as typeof records;
      const bad = buildBundle(fewer, format, manifestFor(records));
      const err = await failure(bad.bytes);
      expect(err.item).toBe(5);
      expect(err.offset).toBe(bad.offsets[4] as number);
      expect(err.reason).toBe("manifest: says 5 records, the bundle holds 4");
    });

    test("a manifest with the right count but the wrong kinds", async () => {
      const m = manifestFor(records);
      const bad = buildBundle(records, format, { ...m, kinds: { ...m.kinds, vote: 0, retraction: 1 } }).bytes;
      expect((await failure(bad)).reason).toBe("manifest: kinds: says 0 vote records, the bundle holds 1");
    });

    test("the manifest moved to the front", async () => {
      const encoder = new BundleEncoder(format);
      const manifest = encoder.manifest(manifestFor(records));
      const bytes = new Uint8Array(Buffer.concat([manifest, ...records.map((r) => encoder.record(r.body, r.sig))]));
      const err = await failure(bytes);
      expect(err.item).toBe(1);
      expect(err.offset).toBe(0);
      expect(err.reason).toBe("the manifest must be the last item, but item 2 follows it");
    });

    test("two manifests", async () => {
      const encoder = new BundleEncoder(format);
      const twice = new Uint8Array(Buffer.concat([clean.bytes, encoder.manifest(manifestFor(records))]));
      const err = await failure(twice);
      expect(err.item).toBe(6);
      expect(err.reason).toBe("the manifest must be the last item, but item 7 follows it");
    });

    test("a record twice", async () => {
      const bad = buildBundle([...records, records[1] as (typeof records)[number]], format);
      const err = await failure(bad.bytes);
      expect(err.item).toBe(6);
      expect(err.offset).toBe(bad.offsets[5] as number);
      expect(err.reason).toMatch(/^the same record as item 2 \(id [0-9a-f]{64}\)$/);
    });

    test("truncated inside the manifest, and at an item boundary", async () => {
      const inside = await failure(clean.bytes.subarray(0, (clean.offsets[5] as number) + 20));
      expect(inside.item).toBe(6);
      expect(inside.offset).toBe(clean.offsets[5] as number);
      const atBoundary = await failure(clean.bytes.subarray(0, clean.offsets[5]));
      expect(atBoundary.item).toBe(6);
      expect(atBoundary.offset).toBe(clean.offsets[5] as number);
      expect(atBoundary.reason).toBe("the bundle ends without a manifest (truncated?)");
    });

    test("truncated inside a record", async () => {
      const err = await failure(clean.bytes.subarray(0, (clean.offsets[2] as number) + 30));
      expect(err.item).toBe(3);
      expect(err.offset).toBe(clean.offsets[2] as number);
    });

    test("the earliest bad item wins: a bad signature at item 2 before a broken body at item 4", async () => {
      const bytes = new Uint8Array(clean.bytes);
      if (format === "ndjson") bytes[aspirinIn(1) + 1] = "2".charCodeAt(0);
      else bytes[aspirinIn(1)] = "b".charCodeAt(0);
      const bodyAt =
        format === "ndjson" ? find(bytes, '"body":"', clean.offsets[3]) + 8 : find(bytes, "body", clean.offsets[3]) + 6;
      bytes[bodyAt] = format === "ndjson" ? "f".charCodeAt(0) : 0xfc;
      if (format === "ndjson") bytes[bodyAt + 1] = "c".charCodeAt(0);
      const err = await failure(bytes, 2);
      expect(err.item).toBe(2);
      expect(err.reason).toStartWith("signature does not verify");
    });

    test("the same items and offsets whatever the read size (items straddle chunks)", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-bundle-"));
      try {
        const file = path.join(dir, `b.${format}`);
        fs.writeFileSync(file, clean.bytes);
        for (const chunkBytes of [1, 7, 300, 1 << 20]) {
          const items = [...new BundleReader(file, chunkBytes).items()];
          expect(items.map((i) => i.offset)).toEqual(clean.offsets);
          expect(items.map((i) => i.item)).toEqual([1, 2, 3, 4, 5, 6]);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

describe("verify-bundle: not a bundle", () => {
  test("an empty file has no manifest", async () => {
    const err = await failure(new Uint8Array(0));
    expect(err.message).toBe("item 1 at byte 0: the bundle ends without a manifest (truncated?)");
  });

  test("a file that is neither NDJSON nor CBOR", async () => {
    const err = await failure(new TextEncoder().encode("hello\n"));
    expect(err.item).toBe(1);
    expect(err.reason).toMatch(/^not a bundle/);
  });

  test("an NDJSON line that is not JSON, and an unknown item type", async () => {
    const clean = buildBundle(records, "ndjson");
    const text = Buffer.from(clean.bytes).toString("utf8").split("\n");
    text[2] = "{not json";
    const e1 = await failure(new TextEncoder().encode(text.join("\n")));
    expect(e1.item).toBe(3);
    expect(e1.offset).toBe(clean.offsets[2] as number);
    text[2] = '{"type":"note"}';
    expect((await failure(new TextEncoder().encode(text.join("\n")))).reason).toBe('unknown item type "note"');
  });

  test("a manifest of another version, or with a field this version does not have", async () => {
    const v2 = buildBundle(records, "ndjson", manifestFor(records, { version: 2 })).bytes;
    expect((await failure(v2)).reason).toBe("manifest: version 2; this verifier reads version 1");
    const extra = buildBundle(records, "ndjson", { ...manifestFor(records), signer: "x" } as never).bytes;
    expect((await failure(extra)).reason).toBe('manifest: unknown field "signer"');
  });

  test("an NDJSON bundle whose last line lacks its newline still verifies", async () => {
    const clean = buildBundle(records, "ndjson").bytes;
    expect((await verifyBundle(clean.subarray(0, clean.length - 1), { threads: 0 })).records).toBe(5);
  });
});
