/**
 * The shared code the client made portable, before and after, in one process: hex (Buffer →
 * native `Uint8Array.toHex`/`fromHex` with a table fallback) and the float16 rule
 * (`Math.f16round`/`DataView.setFloat16` → src/core/float16.ts), and the server stages they sit
 * in: canonical encoding, the JSON submission path (validate + encode + BLAKE3), the CBOR decode
 * path, and a record's JSON form (reads).
 *
 *   bun bench/portable.ts [BASE_REF]     (default 3faa28c, the last commit before the change)
 *
 * The base's src/ is extracted with `git archive` into .bench/base-REF/ (node_modules linked)
 * and imported beside the working tree's; each case runs both in alternating rounds and prints
 * the median ns per call. The table fallback's figures (what Node 20–24 runs) are printed too.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const baseRef = process.argv[2] ?? "3faa28c";
const baseDir = path.join(root, ".bench", `base-${baseRef}`);
if (!fs.existsSync(path.join(baseDir, "src"))) {
  fs.mkdirSync(baseDir, { recursive: true });
  const tar = execFileSync("git", ["archive", baseRef, "src"], { cwd: root, maxBuffer: 1 << 28 });
  execFileSync("tar", ["-x", "-C", baseDir], { input: tar });
  fs.symlinkSync(path.join(root, "node_modules"), path.join(baseDir, "node_modules"));
}

type Modules = {
  hex: typeof import("../src/core/hex.ts");
  cbor: typeof import("../src/core/cbor.ts");
  record: typeof import("../src/core/record.ts");
  signed: typeof import("../src/crypto/signed.ts");
};
async function load(dir: string): Promise<Modules> {
  return {
    hex: await import(path.join(dir, "src/core/hex.ts")),
    cbor: await import(path.join(dir, "src/core/cbor.ts")),
    record: await import(path.join(dir, "src/core/record.ts")),
    signed: await import(path.join(dir, "src/crypto/signed.ts")),
  };
}
const base = await load(baseDir);
const head = await load(root);

// A typical assertion as an agent submits it: fractional numbers (a half and a double), hex keys.
const secret = new Uint8Array(32).fill(7);
const { publicKeyOf } = await import("../src/crypto/sign.ts");
const agent = head.hex.toHex(publicKeyOf(secret));
const fields = {
  v: 1,
  kind: "assertion",
  agent,
  ts: 1_735_689_600_000,
  subject: "pharma/drug/aspirin",
  predicate: "bleeding_risk_pct",
  object: 0.2,
  confidence: 0.75,
  source: "fda-label-2024",
  depends_on: [agent.replace(/^../, "ab")],
};
const signedRecord = head.signed.signRecord(fields, secret, "json");
const submission = { ...head.record.recordToJson(signedRecord.record), sig: head.hex.toHex(signedRecord.sig) };
const id = signedRecord.id;
const idHex = head.hex.toHex(id);

let sink = 0;
function median(samples: number[]): number {
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1] as number;
}

/** Median ns per call of each function, measured in alternating rounds. */
function compare(fns: Array<() => unknown>, iters: number, rounds = 9): number[] {
  for (const fn of fns) for (let i = 0; i < iters; i++) sink ^= fn() ? 1 : 0; // warm-up
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, k) => {
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < iters; i++) sink ^= fn() ? 1 : 0;
      (samples[k] as number[]).push((Bun.nanoseconds() - t0) / iters);
    });
  }
  return samples.map(median);
}

const cases: Array<{ name: string; base: () => unknown; head: () => unknown; table?: () => unknown; iters: number }> = [
  {
    name: "toHex (32 bytes)",
    base: () => base.hex.toHex(id),
    head: () => head.hex.toHex(id),
    table: () => head.hex.toHexPortable(id),
    iters: 200_000,
  },
  {
    name: "fromHex (64 digits, checked)",
    base: () => base.hex.fromHex(idHex, "id", 32),
    head: () => head.hex.fromHex(idHex, "id", 32),
    table: () => head.hex.fromHexPortable(idHex),
    iters: 200_000,
  },
  {
    name: "encodeCanonical (the record)",
    base: () => base.cbor.encodeCanonical(signedRecord.record as never),
    head: () => head.cbor.encodeCanonical(signedRecord.record as never),
    iters: 100_000,
  },
  {
    name: "encodeCanonical (8 fractions)",
    base: () => base.cbor.encodeCanonical([0.5, 0.75, 0.2, 0.95, 1.5, 0.1, 0.875, 3.25]),
    head: () => head.cbor.encodeCanonical([0.5, 0.75, 0.2, 0.95, 1.5, 0.1, 0.875, 3.25]),
    iters: 200_000,
  },
  {
    name: "decodeCanonical (the body)",
    base: () => base.cbor.decodeCanonical(signedRecord.body),
    head: () => head.cbor.decodeCanonical(signedRecord.body),
    iters: 100_000,
  },
  {
    name: "fromJsonSubmission (validate+encode+BLAKE3)",
    base: () => base.signed.fromJsonSubmission(submission),
    head: () => head.signed.fromJsonSubmission(submission),
    iters: 50_000,
  },
  {
    name: "recordToJson (a read's hex)",
    base: () => base.record.recordToJson(signedRecord.record as never),
    head: () => head.record.recordToJson(signedRecord.record as never),
    iters: 100_000,
  },
];

console.log(
  `base ${baseRef} vs working tree; bun ${Bun.version}; load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.log("case                                            base ns    head ns   head/base   table ns");
for (const c of cases) {
  const fns = c.table ? [c.base, c.head, c.table] : [c.base, c.head];
  const [b, h, t] = compare(fns, c.iters);
  const ratio = (h as number) / (b as number);
  console.log(
    `${c.name.padEnd(46)} ${(b as number).toFixed(0).padStart(8)} ${(h as number).toFixed(0).padStart(10)} ${ratio.toFixed(2).padStart(11)} ${t === undefined ? "" : t.toFixed(0).padStart(10)}`,
  );
}
console.log(
  `load after: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}${sink === 0.5 ? "" : ""}`,
);
