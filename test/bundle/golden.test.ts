/**
 * The golden bundles in test/fixtures/bundles/ (docs/FORMAT.md "Audit bundles"): the committed
 * bytes are what the encoder produces today, they verify, both framings carry the same root,
 * and an independent verifier (Python: cbor2, PyNaCl, b3sum) accepts them and refuses a
 * tampered copy.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BundleFormat } from "../../src/bundle/format.ts";
import { verifyBundle } from "../../src/bundle/verify.ts";
import { buildGolden, goldenFiles } from "../fixtures/bundles/generate.ts";

const goldenRoot = "e7a6eccca52748c79c7d2668d45b01e463104c485219389a9922b09c625c8f10";
const python = path.join(import.meta.dir, "../fixtures/bundles/independent_verify.py");

async function independent(file: string): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["/usr/bin/python3", python, file], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out: out + err };
}

for (const format of ["ndjson", "cbor"] as BundleFormat[]) {
  describe(`golden bundle (${format})`, () => {
    const file = goldenFiles[format];

    test("the committed file is what the encoder writes (bun test/fixtures/bundles/generate.ts)", () => {
      expect(Buffer.from(fs.readFileSync(file)).equals(Buffer.from(buildGolden(format)))).toBe(true);
    });

    test("verifies, with the pinned root", async () => {
      const s = await verifyBundle(file, { threads: 1 });
      expect(s.records).toBe(5);
      expect(s.merkleRoot).toBe(goldenRoot);
      expect(s.manifest.merkle_root).toBe(goldenRoot);
    });

    test("an independent verifier agrees, and catches one flipped signature bit", async () => {
      const ok = await independent(file);
      expect(ok.out.trim()).toBe(`ok records=5 root=${goldenRoot}`);
      expect(ok.code).toBe(0);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-golden-"));
      try {
        const bytes = new Uint8Array(fs.readFileSync(file));
        // Item 1's signature: in NDJSON the hex after `"sig":"`; in CBOR the 64 bytes after the
        // text "sig" and the byte string's 2-byte head (58 40).
        const text = Buffer.from(bytes);
        const at = format === "ndjson" ? text.indexOf('"sig":"') + 7 : text.indexOf("sig") + 5;
        bytes[at] = bytes[at] === 0x30 ? 0x31 : format === "ndjson" ? 0x30 : (bytes[at] as number) ^ 1;
        const tampered = path.join(dir, "t");
        fs.writeFileSync(tampered, bytes);
        const bad = await independent(tampered);
        expect(bad.code).toBe(1);
        expect(bad.out).toContain("bad item 1: signature does not verify");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
