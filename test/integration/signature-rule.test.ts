/**
 * docs/FORMAT.md#which-signatures-verify end to end: a real server refuses every signature vector marked "reject" with
 * 400 bad_signature (naming the id it computed) and takes the "accept" ones; the real
 * `stemedb verify-bundle` process fails a bundle holding a mixed-order signature and passes one
 * holding only accepted vectors. (Every verifier's verdict on every vector, in process:
 * test/crypto/signature-rule.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { fromCborSubmission } from "../../src/crypto/signed.ts";
import { buildBundle } from "../bundle/helpers.ts";
import { type VectorFile, vectorsPath } from "../fixtures/vectors/generate.ts";
import { cleanupAll, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

const cases = ((await Bun.file(vectorsPath).json()) as VectorFile).signatures;
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
let server: ServerProcess;

beforeAll(async () => {
  server = await spawnServer(tempDir("stemedb-sig-"));
});
afterAll(cleanupAll);

describe("the server applies docs/FORMAT.md#which-signatures-verify to submissions", () => {
  test("each signature vector as a JSON submission: rejected ones get 400 bad_signature, accepted ones 2xx", async () => {
    for (const c of cases) {
      const res = await fetch(`${server.url}/v1/assert`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...c.json, sig: c.sig }),
      });
      const body = (await res.json()) as { code?: string; id?: string; computed_id?: string };
      if (c.expected === "accept") {
        expect([c.name, res.status < 300, body.id]).toEqual([c.name, true, c.id]);
      } else {
        expect([c.name, res.status, body.code, body.computed_id]).toEqual([c.name, 400, "bad_signature", c.id]);
      }
    }
  });
});

describe("stemedb verify-bundle applies it offline", () => {
  const bundleFile = (names: string[]): string => {
    const records = names.map((n) => {
      const c = cases.find((v) => v.name === n) ?? expect.unreachable(n);
      return fromCborSubmission(unhex(c.body_hex), unhex(c.sig));
    });
    const file = path.join(tempDir("stemedb-sig-bundle-"), "bundle.ndjson");
    fs.writeFileSync(file, buildBundle(records, "ndjson").bytes);
    return file;
  };

  test("a bundle with a mixed-order signature fails at that item; one with only accepted vectors passes", async () => {
    const bad = await runCli(["verify-bundle", bundleFile(["control_valid", "mixed_order_a_order_8"])]);
    expect(bad.code).toBe(1);
    const mixed = cases.find((c) => c.name === "mixed_order_a_order_8")?.id;
    expect(bad.stdout).toMatch(new RegExp(`^FAILED: .*: item 2 at byte [0-9,]+: signature does not verify for id ${mixed}\\n$`));
    const good = await runCli(["verify-bundle", bundleFile(["control_valid", "mixed_order_a_torsion_cancelled"])]);
    expect(good.stdout).toContain("ok: ");
    expect(good.code).toBe(0);
  });
});
