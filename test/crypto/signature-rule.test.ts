/**
 * One signature rule everywhere (docs/FORMAT.md#which-signatures-verify): every verifier in the project — the server's native
 * check (verifyId / verifyIdAsync), the pure-JS one the client and demo use (verifyIdNoble), and
 * offline bundle verification (verifyBundle) — and libsodium through PyNaCl (independent) give
 * the same verdict on every signature vector, and that verdict is the one the vector states.
 *
 * The control checks show the vectors have teeth: @noble/ed25519's own (cofactored) verify
 * accepts the mixed-order ones, and BoringSSL without our two pre-checks accepts the small-order
 * ones, so a regression to either would be caught here.
 */
import { describe, expect, test } from "bun:test";
import crypto from "node:crypto";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ed from "@noble/ed25519";
import { BundleError } from "../../src/bundle/format.ts";
import { verifyBundle } from "../../src/bundle/verify.ts";
import { verifySignature } from "../../src/client/index.ts";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair, signId } from "../../src/crypto/sign.ts";
import { type SignedRecord, fromCborSubmission } from "../../src/crypto/signed.ts";
import { verifyId, verifyIdAsync } from "../../src/crypto/verify.ts";
import { verifyIdNoble } from "../../src/crypto/verify-noble.ts";
import { buildBundle } from "../bundle/helpers.ts";
import type { VectorFile } from "../fixtures/vectors/generate.ts";
import { vectorsPath } from "../fixtures/vectors/generate.ts";
import { prng } from "../support/prng.ts";

const vectors = (await Bun.file(vectorsPath).json()) as VectorFile;
const cases = vectors.signatures;
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const { Point } = ed;
const L = Point.CURVE().n;
const T8 = Point.fromHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");

const signedOf = (c: (typeof cases)[number]): SignedRecord => fromCborSubmission(unhex(c.body_hex), unhex(c.sig));
const accepts = (expected: string): boolean => expected === "accept";

/** BoringSSL alone, with none of verify.ts's pre-checks. */
function boringSslAlone(sig: Uint8Array, id: Uint8Array, agent: Uint8Array): boolean {
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), agent]);
  return crypto.verify(null, id, crypto.createPublicKey({ key: spki, format: "der", type: "spki" }), sig);
}

async function bundleVerdict(records: SignedRecord[], threads: number): Promise<{ ok: boolean; error?: BundleError }> {
  try {
    await verifyBundle(buildBundle(records, "ndjson").bytes, { threads });
    return { ok: true };
  } catch (err) {
    if (!(err instanceof BundleError)) throw err;
    return { ok: false, error: err };
  }
}

async function naclVerdicts(): Promise<Map<string, boolean>> {
  const script = join(import.meta.dir, "../fixtures/vectors/independent_check.py");
  const proc = Bun.spawn(["/usr/bin/python3", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if ((await proc.exited) !== 0) throw new Error(`independent_check.py failed:\n${out}${err}`);
  const verdicts = new Map<string, boolean>();
  for (const m of out.matchAll(/^sig {2}(\S+): nacl (accept|reject) /gm)) verdicts.set(m[1] as string, m[2] === "accept");
  return verdicts;
}

describe("the signature vectors", () => {
  test("cover every category, with the equations the constructions promise", () => {
    const byCategory = Map.groupBy(cases, (c) => c.category);
    expect([...byCategory.keys()].sort()).toEqual([
      "mixed_order_a",
      "mixed_order_r",
      "non_canonical_a",
      "non_canonical_r",
      "s_not_reduced",
      "small_order_a",
      "small_order_r",
      "valid",
    ]);
    for (const c of cases) {
      // Mixed-order rejections are exactly where the two equations part ways; every other case
      // satisfies the cofactorless equation and is decided by the encoding and order rules alone.
      const mixedReject = c.category.startsWith("mixed_order") && c.expected === "reject";
      expect({ name: c.name, ...c.equations }).toEqual({ name: c.name, cofactorless: !mixedReject, cofactored: true });
    }
    expect(cases.filter((c) => c.expected === "accept").map((c) => c.name)).toEqual([
      "control_valid",
      "mixed_order_a_torsion_cancelled",
    ]);
  });
});

describe("four verifiers agree on every signature vector", () => {
  test("server (native, sync and async), client (noble cofactorless), bundle, libsodium", async () => {
    const nacl = await naclVerdicts();
    expect(nacl.size).toBe(cases.length);
    for (const c of cases) {
      const [sig, id, agent] = [unhex(c.sig), unhex(c.id), unhex(c.public_key)];
      const want = accepts(c.expected);
      const got = {
        name: c.name,
        server: verifyId(sig, id, agent),
        serverAsync: await verifyIdAsync(sig, id, agent),
        client: verifySignature(sig, id, agent),
        noble: verifyIdNoble(sig, id, agent),
        bundle: (await bundleVerdict([signedOf(c)], 0)).ok,
        libsodium: nacl.get(c.name),
      };
      expect(got).toEqual({
        name: c.name,
        server: want,
        serverAsync: want,
        client: want,
        noble: want,
        bundle: want,
        libsodium: want,
      });
    }
  });

  test("verifyBundle on worker threads names the mixed-order record as the first bad item", async () => {
    const named = (n: string) => signedOf(cases.find((c) => c.name === n) ?? expect.unreachable());
    const records = [named("control_valid"), named("mixed_order_a_torsion_cancelled"), named("mixed_order_r_order_8")];
    const { ok, error } = await bundleVerdict(records, 1);
    expect(ok).toBe(false);
    expect(error?.item).toBe(3);
    expect(error?.reason).toBe(`signature does not verify for id ${toHex(records[2]?.id ?? new Uint8Array())}`);
    expect((await bundleVerdict(records.slice(0, 2), 1)).ok).toBe(true);
  });
});

describe("the vectors would catch a regression", () => {
  test("@noble/ed25519's verify (cofactored, zip215: false) accepts every mixed-order rejection", () => {
    const mixed = cases.filter((c) => c.category.startsWith("mixed_order") && c.expected === "reject");
    expect(mixed.length).toBe(6);
    for (const c of mixed)
      expect([c.name, ed.verify(unhex(c.sig), unhex(c.id), unhex(c.public_key), { zip215: false })]).toEqual([c.name, true]);
  });

  test("BoringSSL without the pre-checks accepts every small-order A and small-order R case", () => {
    const smallOrder = cases.filter((c) => ["small_order_a", "non_canonical_a", "small_order_r"].includes(c.category));
    expect(smallOrder.length).toBe(15);
    for (const c of smallOrder) {
      expect([c.name, boringSslAlone(unhex(c.sig), unhex(c.id), unhex(c.public_key))]).toEqual([c.name, true]);
      expect([c.name, verifyId(unhex(c.sig), unhex(c.id), unhex(c.public_key))]).toEqual([c.name, false]);
    }
  });
});

describe("server and client agree beyond the fixed vectors", () => {
  const le = (b: Uint8Array): bigint => b.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n);
  const toLe = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  const challenge = (r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint => le(ed.hash(Uint8Array.from([...r, ...a, ...m]))) % L;

  /** A signature by (a, A + T) with R = rB + U: the cofactored equation always holds; the cofactorless one iff k·T + U = 0. */
  function crafted(a: bigint, t: bigint, u: bigint, r: bigint, id: Uint8Array): { sig: Uint8Array; agent: Uint8Array } {
    const agent = Point.BASE.multiply(a).add(T8.multiply(t, false)).toBytes();
    const rBytes = Point.BASE.multiply(r).add(T8.multiply(u, false)).toBytes();
    const s = (r + challenge(rBytes, agent, id) * a) % L;
    return { sig: Uint8Array.from([...rBytes, ...toLe(s)]), agent };
  }

  test("400 random signatures, honest, mixed-order (R, A or both), S + L and flipped bits: the same verdicts", async () => {
    const rand = prng(2024);
    const byte = () => Math.floor(rand() * 256);
    const verdicts = { accept: 0, reject: 0, mixedAccepted: 0 };
    for (let i = 0; i < 400; i++) {
      const id = Uint8Array.from({ length: 32 }, byte);
      let sig: Uint8Array;
      let agent: Uint8Array;
      const kind = i % 4;
      if (kind === 0) {
        const key = generateKeyPair();
        [sig, agent] = [signId(id, key.secretKey), key.publicKey];
      } else {
        const a = le(Uint8Array.from({ length: 32 }, byte)) % L || 1n;
        const t = kind === 2 ? 0n : BigInt(Math.floor(rand() * 8));
        const u = kind === 1 ? 0n : BigInt(Math.floor(rand() * 8));
        ({ sig, agent } = crafted(a, t, u, le(Uint8Array.from({ length: 32 }, byte)) % L || 1n, id));
        if (t !== 0n || u !== 0n) verdicts.mixedAccepted += verifyIdNoble(sig, id, agent) ? 1 : 0;
      }
      if (i % 5 === 3) sig = Uint8Array.from([...sig.subarray(0, 32), ...toLe(le(sig.subarray(32)) + L)]);
      if (i % 7 === 6) sig[byte() % 64] = (sig[byte() % 64] as number) ^ (1 << (byte() % 8));
      const native = verifyId(sig, id, agent);
      expect([i, verifyIdNoble(sig, id, agent)]).toEqual([i, native]);
      if (i % 10 === 0) expect([i, await verifyIdAsync(sig, id, agent)]).toEqual([i, native]);
      verdicts[native ? "accept" : "reject"]++;
    }
    // Both outcomes occur, and some mixed-order signatures pass (where the torsion cancels).
    expect(verdicts.accept).toBeGreaterThan(50);
    expect(verdicts.reject).toBeGreaterThan(50);
    expect(verdicts.mixedAccepted).toBeGreaterThan(0);
  });
});

describe("the client's verifier runs outside Bun", () => {
  const node = Bun.which("node");

  test.skipIf(node === null)(
    "bundled for browsers (no Buffer, no node: modules), it gives every vector's verdict on Node",
    async () => {
      const dir = fs.mkdtempSync(join(tmpdir(), "stemedb-verify-noble-"));
      try {
        const built = await Bun.build({
          entrypoints: [join(import.meta.dir, "../../src/crypto/verify-noble.ts")],
          target: "browser",
          outdir: dir,
        });
        expect(built.success).toBe(true);
        const code = fs.readFileSync(join(dir, "verify-noble.js"), "utf8");
        expect(code).not.toMatch(/\bBuffer\b|["']node:/);
        const script = join(dir, "run.mjs");
        fs.writeFileSync(
          script,
          `import { verifyIdNoble } from "./verify-noble.js";
const cases = JSON.parse(process.argv[2]);
const unhex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
console.log(JSON.stringify(cases.map((c) => verifyIdNoble(unhex(c.sig), unhex(c.id), unhex(c.public_key)))));`,
        );
        const input = JSON.stringify(cases.map(({ sig, id, public_key }) => ({ sig, id, public_key })));
        const proc = Bun.spawn([node as string, script, input], { stdout: "pipe", stderr: "pipe" });
        const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
        expect([await proc.exited, err]).toEqual([0, ""]);
        expect(JSON.parse(out)).toEqual(cases.map((c) => accepts(c.expected)));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
