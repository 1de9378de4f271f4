/** Builders for really signed records, ready for deriveState. */
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { signRecord } from "../../src/crypto/signed.ts";
import type { StoredRecord } from "../../src/state/index.ts";

export interface Agent {
  hex: string;
  secretKey: Uint8Array;
}

export function newAgent(): Agent {
  const kp = generateKeyPair();
  return { hex: toHex(kp.publicKey), secretKey: kp.secretKey };
}

/** Signs JSON-shaped fields (ids and keys as hex) as `agent`. */
export function sign(agent: Agent, kind: string, ts: number, fields: Record<string, unknown>): StoredRecord {
  const signed = signRecord({ v: 1, kind, agent: agent.hex, ts, ...fields }, agent.secretKey, "json");
  return { id: toHex(signed.id), record: signed.record };
}

export const assertion = (agent: Agent, ts: number, extra: Record<string, unknown> = {}) =>
  sign(agent, "assertion", ts, {
    subject: "pharma/drug/aspirin",
    predicate: "bleeding_risk",
    object: ts,
    confidence: 0.9,
    ...extra,
  });
export const retraction = (agent: Agent, ts: number, target: StoredRecord) =>
  sign(agent, "retraction", ts, { target: target.id });
export const vote = (agent: Agent, ts: number, target: StoredRecord, value: 1 | -1) =>
  sign(agent, "vote", ts, { target: target.id, value });
export const source = (agent: Agent, ts: number, sourceId: string, tier: number, title = `title ${sourceId} ${tier}`) =>
  sign(agent, "source", ts, { source_id: sourceId, title, tier });
export const sourceRetraction = (agent: Agent, ts: number, sourceId: string) =>
  sign(agent, "source_retraction", ts, { source_id: sourceId });
export const epoch = (agent: Agent, ts: number, name: string, supersedes?: string) =>
  sign(agent, "epoch", ts, { name, starts_at: ts, ...(supersedes ? { supersedes } : {}) });
/** `target` is a record, or an agent key (hex) for agent-level decisions such as trust_seed. */
export const review = (agent: Agent, ts: number, action: string, target: StoredRecord | string) =>
  sign(agent, "review", ts, { action, target: typeof target === "string" ? target : target.id });

/** Same record under another id: only to build reference cycles, which real hashes cannot form. */
export const withId = (r: StoredRecord, id: string): StoredRecord => ({ id, record: r.record });
export const fakeId = (n: number) => n.toString(16).padStart(64, "0");
