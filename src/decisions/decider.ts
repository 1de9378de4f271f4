/**
 * Decisions are records (docs/RECORDS.md#kinds-and-fields, §3): an admin action — a gold standard, an escalation, an
 * epoch superseded on an operator's word — is a record signed by the node's authority key and
 * written through the ingest pipeline like any other, so it is durable, replicated and in the
 * audit trail for good. The note of each names the API key that asked (null until keys exist).
 */
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { signRecord } from "../crypto/signed.ts";
import type { Ingest, WriteResult } from "../ingest/pipeline.ts";
import type { Store } from "../store/store.ts";

export class Decider {
  private lastTs = 0;

  constructor(
    private readonly store: Store,
    private readonly ingest: Ingest,
    private readonly now: () => number = Date.now,
  ) {}

  /** The node's authority key, hex. */
  get agent(): string {
    return toHex(this.store.dataDir.nodeKey.publicKey);
  }

  /**
   * Signs `fields` (JSON shape: ids and keys in hex) with the node key and writes them. `ts`
   * is the node's clock, kept strictly increasing and after `notBefore`, so a decision always
   * sorts after the one it follows.
   */
  async write(fields: Record<string, unknown>, notBefore = 0): Promise<WriteResult & { ts: number }> {
    const ts = Math.max(this.now(), this.lastTs + 1, notBefore + 1);
    this.lastTs = ts;
    const key = this.store.dataDir.nodeKey;
    const signed = signRecord({ v: 1, agent: toHex(key.publicKey), ts, ...fields }, key.secretKey, "json");
    const [result] = await this.ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
    if (!result) throw new StemeError("internal", "no result");
    if (!result.ok) throw result.error;
    return { ...result.result, ts };
  }
}

/** A decision's note: who asked (the API key id, null while the server runs without keys) and why. */
/** A decision's note read back: the JSON object `decisionNote` wrote, or the text as it is (older or hand-made notes). */
export function parseNote(note: string | undefined): Record<string, unknown> | string | null {
  if (note === undefined) return null;
  try {
    const v = JSON.parse(note);
    return v !== null && typeof v === "object" ? (v as Record<string, unknown>) : note;
  } catch {
    return note;
  }
}

export function decisionNote(fields: Record<string, unknown>, apiKey: string | null): string {
  return JSON.stringify({ ...fields, api_key: apiKey });
}
