/**
 * A record set for the union property (docs/CLUSTER.md#the-promise): everything a node derives
 * from records, spread over many subjects — and so over shards — with references that cross
 * them: votes on assertions of other shards (TrustRank), `depends_on` chains across subjects
 * (cascades), a `supersedes` whose correction is filed under another subject, retractions by
 * authors and by strangers, sources with claimed and confirmed tiers, a source retraction,
 * epochs, trust seeds and a gold standard. Shared by the in-memory union test and the
 * real-process one (test/integration/cluster.test.ts).
 */
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, toHex } from "../../../src/client/index.ts";
import { seededRandom } from "../../../src/cluster/random.ts";

export interface Workload {
  records: SignedRecord[];
  /** (subject, predicate) pairs to query. */
  pairs: Array<[string, string]>;
}

const id = (r: SignedRecord) => toHex(r.id);

/** Records in write order; `authority` must be in every node's authorities. */
export function unionWorkload(authority: KeyPair, seed = 1, subjects = 24): Workload {
  const random = seededRandom(seed);
  const t0 = Date.now() - 10_000_000;
  let ts = t0;
  const next = () => (ts += 1 + random.int(3));
  const agents = Array.from({ length: 6 }, () => generateKeyPair());
  const pick = <T>(xs: readonly T[]): T => xs[random.int(xs.length)] as T;
  const records: SignedRecord[] = [];
  const put = (key: KeyPair, fields: Record<string, unknown> & { kind: string }) => {
    const r = signClaim(key, { ...fields, ts: next() });
    records.push(r);
    return r;
  };
  const pairs: Array<[string, string]> = [];
  const predicates = ["dose_mg", "risk", "label"];
  const sources = ["fda", "trial-7", "forum", "blog"];
  put(authority, { kind: "source", source_id: "fda", title: "FDA", tier: 1 });
  put(pick(agents), { kind: "source", source_id: "trial-7", title: "Trial 7", tier: 2 });
  put(pick(agents), { kind: "source", source_id: "forum", title: "Forum", tier: 5 });
  put(agents[5] as KeyPair, { kind: "source", source_id: "blog", title: "Blog", tier: 2 }); // a claimed tier, unconfirmed
  put(authority, { kind: "epoch", name: "e1", starts_at: t0 });
  put(authority, { kind: "review", action: "trust_seed", target: toHex((agents[0] as KeyPair).publicKey) });
  put(authority, { kind: "review", action: "trust_seed", target: toHex((agents[1] as KeyPair).publicKey) });
  const claims: SignedRecord[] = [];
  for (let s = 0; s < subjects; s++) {
    const subject = `pharma/drug/d${s}`;
    for (const predicate of predicates) {
      pairs.push([subject, predicate]);
      const n = 1 + random.int(4);
      for (let k = 0; k < n; k++) {
        const fields: Record<string, unknown> & { kind: string } = {
          kind: "assertion",
          subject,
          predicate,
          object: predicate === "label" ? pick(["a", "b"]) : pick([1, 2, 2.5, 40]),
          confidence: pick([0.5, 0.7, 0.9]),
        };
        if (random.float() < 0.6) fields.source = pick(sources);
        if (random.float() < 0.2) fields.epoch = "e0";
        if (claims.length > 0 && random.float() < 0.25) fields.depends_on = [id(pick(claims))];
        claims.push(put(pick(agents), fields));
      }
    }
  }
  // Votes across shards: they move TrustRank, which every trust-weighted answer reads.
  for (let i = 0; i < 60; i++)
    put(pick(agents), { kind: "vote", target: id(pick(claims)), value: random.float() < 0.7 ? 1 : -1 });
  // A correction filed under another subject, by the same agent.
  const original = claims[3] as SignedRecord;
  if (original.record.kind === "assertion") {
    const author = agents.find((a) => toHex(a.publicKey) === toHex(original.record.agent)) as KeyPair;
    put(author, {
      kind: "assertion",
      subject: `${original.record.subject}/corrections`,
      predicate: original.record.predicate,
      object: 3,
      confidence: 0.9,
      supersedes: id(original),
    });
    pairs.push([`${original.record.subject}/corrections`, original.record.predicate]);
  }
  // Retractions: one by an author (counts), one by a stranger (ignored), one by the authority.
  const byAuthor = claims[5] as SignedRecord;
  const author = agents.find((a) => toHex(a.publicKey) === toHex(byAuthor.record.agent)) as KeyPair;
  put(author, { kind: "retraction", target: id(byAuthor) });
  put(generateKeyPair(), { kind: "retraction", target: id(claims[6] as SignedRecord) });
  put(authority, { kind: "retraction", target: id(claims[7] as SignedRecord) });
  put(authority, { kind: "source_retraction", source_id: "forum" });
  put(authority, { kind: "epoch", name: "e2", starts_at: ts, supersedes: "e0" });
  // A gold standard on one pair: every agent's latest claim there agrees or contradicts it.
  put(authority, { kind: "review", action: "gold", target: id(claims[10] as SignedRecord) });
  put(authority, { kind: "review", action: "reject", target: id(claims[11] as SignedRecord) });
  return { records, pairs };
}

/** Node-local fields (docs/SEMANTICS.md#the-record-set) left out of a comparison. */
const nodeLocal = new Set(["lsn", "recorded_at", "trust_lsn", "from_view", "known_at"]);

export function withoutNodeLocal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNodeLocal);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!nodeLocal.has(k)) out[k] = withoutNodeLocal(v);
  return out;
}
