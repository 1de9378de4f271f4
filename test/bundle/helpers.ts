/**
 * Building bundles in memory for the bundle tests: signed records from fixed keys, framed by
 * the real encoder, with a manifest that describes them (or one the test spoils on purpose).
 */
import { toHex } from "../../src/core/hex.ts";
import type { Kind } from "../../src/core/record.ts";
import { merkleRoot } from "../../src/crypto/merkle.ts";
import { publicKeyOf } from "../../src/crypto/sign.ts";
import { type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import {
  BundleEncoder,
  type BundleFormat,
  type BundleManifest,
  bundleVersion,
  emptyKindCounts,
} from "../../src/bundle/format.ts";

export const T0 = 1732400000000;
const fill = (byte: number): Uint8Array => new Uint8Array(32).fill(byte);
export const keys = { A: fill(0x01), B: fill(0x02), C: fill(0x03) } as const;
export const agentOf = (k: keyof typeof keys): string => toHex(publicKeyOf(keys[k]));

export function sign(k: keyof typeof keys, fields: Record<string, unknown>): SignedRecord {
  return signRecord({ v: 1, agent: agentOf(k), ...fields }, keys[k], "json");
}

/** A small living review: a source, a claim and one that depends on it, a vote, an epoch. */
export function sampleRecords(): SignedRecord[] {
  const source = sign("A", { kind: "source", ts: T0, source_id: "fda-label-2023", title: "FDA label 2023", tier: 1 });
  const base = sign("A", {
    kind: "assertion",
    ts: T0 + 1,
    subject: "pharma/drug/aspirin",
    predicate: "bleeding_risk_pct",
    object: 0.2,
    confidence: 0.95,
    source: "fda-label-2023",
  });
  const derived = sign("B", {
    kind: "assertion",
    ts: T0 + 2,
    subject: "pharma/drug/aspirin",
    predicate: "gi_bleeding_pct",
    object: 0.1,
    confidence: 0.8,
    depends_on: [toHex(base.id)],
  });
  const vote = sign("C", { kind: "vote", ts: T0 + 3, target: toHex(derived.id), value: 1 });
  const epoch = sign("C", { kind: "epoch", ts: T0 + 4, name: "guideline-2024", starts_at: T0 });
  return [source, base, derived, vote, epoch];
}

export function manifestFor(records: readonly SignedRecord[], overrides: Partial<BundleManifest> = {}): BundleManifest {
  const kinds = emptyKindCounts();
  for (const r of records) kinds[r.record.kind as Kind]++;
  return {
    type: "manifest",
    version: bundleVersion,
    records: records.length,
    kinds,
    merkle_root: toHex(merkleRoot(records.map((r) => r.id))),
    exported_at: "2024-11-24T00:00:00.000Z",
    node_id: "golden0000000000",
    lsn: records.length,
    selection: { subject_prefix: "pharma/drug/*" },
    selected: records.filter((r) => r.record.kind === "assertion").length,
    dangling: 0,
    ...overrides,
  };
}

/** The bytes of a bundle and where each item starts. */
export function buildBundle(
  records: readonly SignedRecord[],
  format: BundleFormat,
  manifest: BundleManifest = manifestFor(records),
): { bytes: Uint8Array; offsets: number[] } {
  const encoder = new BundleEncoder(format);
  const parts = [...records.map((r) => encoder.record(r.body, r.sig)), encoder.manifest(manifest)];
  const offsets: number[] = [];
  let at = 0;
  for (const p of parts) {
    offsets.push(at);
    at += p.length;
  }
  return { bytes: new Uint8Array(Buffer.concat(parts)), offsets };
}
