/**
 * Audit bundles (docs/FORMAT.md#audit-bundles): one file that carries the full signed records of a selection and
 * their provenance closure, so that anyone can check them offline, with no server and no
 * trust in the node that wrote it. docs/FORMAT.md "Audit bundles" is the contract; this is
 * the same in fewer words.
 *
 * A bundle is a sequence of **items** in one of two framings:
 *
 * - **NDJSON** (default, `application/x-ndjson`): one JSON object per line, each line ended
 *   by `\n`. Byte strings are lowercase hex.
 * - **CBOR sequence** (RFC 8742, `application/cbor-seq`): CBOR data items back to back, with
 *   no framing between them. Each item is encoded in core deterministic CBOR (RFC 8949
 *   §4.2.1, the same rules as record bodies) and byte strings are CBOR byte strings.
 *
 * Every item but the last is a record: `{"type": "record", "body": <canonical body>, "sig":
 * <64-byte signature>}`, exactly as the log holds it (docs/FORMAT.md#id-and-signature: id = BLAKE3(body), sig signs
 * the 32 id bytes). The last item, and only the last, is the **manifest**:
 *
 *     {"type": "manifest", "version": 1, "records": n, "kinds": {kind: n, …all seven},
 *      "merkle_root": hex, "exported_at": ISO 8601, "node_id": text, "lsn": n,
 *      "selection": {"subject_prefix"?, "predicate"?, "since"?, "until"?},
 *      "selected": n, "dangling": n}
 *
 * The manifest is the same map in both framings (the root stays hex text in CBOR too), and it
 * comes last so that an exporter can stream records without holding them, and a truncated
 * file is always detectable: it ends without one. `merkle_root` is the BLAKE3 Merkle root
 * over the records' sorted ids (src/crypto/merkle.ts), so two bundles holding the same
 * records carry the same root whatever their order or framing.
 *
 * Items are numbered from 1 (for NDJSON, the line number) and located by their byte offset
 * from 0, which is how a verifier names the first bad one.
 */
import { encodeCanonical, type Value } from "../core/cbor.ts";
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { type Kind, kinds } from "../core/record.ts";

export const bundleVersion = 1;
export type BundleFormat = "ndjson" | "cbor";
export const bundleFormats: readonly BundleFormat[] = ["ndjson", "cbor"];
export const contentTypes: Record<BundleFormat, string> = {
  ndjson: "application/x-ndjson",
  cbor: "application/cbor-seq",
};
/** One item may not exceed this: a body is at most 64 KiB (128 KiB of hex, plus the envelope). */
export const itemBytesMax = 256 * 1024;

/** What was asked for (docs/FORMAT.md#audit-bundles): every field optional; absent fields select everything. */
export interface BundleSelection {
  /** An exact subject, `a/b/*` (descendants) or `*\/b` (the list syntax of GET /v1/assertions). */
  subject_prefix?: string;
  predicate?: string;
  /** Inclusive bounds on the selected assertions' `ts`, in ms. */
  since?: number;
  until?: number;
}

export interface BundleManifest {
  type: "manifest";
  version: number;
  records: number;
  kinds: Record<Kind, number>;
  merkle_root: string;
  exported_at: string;
  node_id: string;
  /** The log position the bundle reflects: no record past it is in the bundle. */
  lsn: number;
  selection: BundleSelection;
  /** Assertions the selection matched directly (the rest is their provenance closure). */
  selected: number;
  /** `depends_on` ids the node did not hold (reported, not an error). */
  dangling: number;
}

/** A bundle that fails a check: which item, where, and why. */
export class BundleError extends StemeError {
  constructor(
    readonly item: number,
    readonly offset: number,
    readonly reason: string,
  ) {
    super("bad_bundle", `item ${item} at byte ${offset.toLocaleString("en-US")}: ${reason}`, {
      extra: { item, offset },
    });
    this.name = "BundleError";
  }
}

/** Every kind with a zero count, in the order of docs/RECORDS.md#kinds-and-fields. */
export function emptyKindCounts(): Record<Kind, number> {
  return Object.fromEntries(kinds.map((k) => [k, 0])) as Record<Kind, number>;
}

const newline = 0x0a;
const textEncoder = new TextEncoder();

/** Encodes items in one framing. */
export class BundleEncoder {
  constructor(readonly format: BundleFormat) {}

  /** A record item: its body bytes verbatim and its signature. */
  record(body: Uint8Array, sig: Uint8Array): Uint8Array {
    if (this.format === "cbor") return encodeCanonical({ type: "record", body, sig });
    return textEncoder.encode(`{"type":"record","body":"${toHex(body)}","sig":"${toHex(sig)}"}\n`);
  }

  /** The manifest item, which must come last. */
  manifest(manifest: BundleManifest): Uint8Array {
    if (this.format === "cbor") return encodeCanonical(manifest as unknown as Value);
    const line = textEncoder.encode(JSON.stringify(manifest));
    const out = new Uint8Array(line.length + 1);
    out.set(line);
    out[line.length] = newline;
    return out;
  }
}

/** The framing of a bundle from its first byte: `{` for NDJSON, a CBOR map head otherwise. */
export function sniffFormat(firstByte: number | undefined): BundleFormat | null {
  if (firstByte === 0x7b) return "ndjson";
  if (firstByte !== undefined && firstByte >> 5 === 5) return "cbor";
  return null;
}
