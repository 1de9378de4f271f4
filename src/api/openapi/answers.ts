/**
 * Answer schemas: what each endpoint sends back. They list the fields the server sends today;
 * clients must accept more (none is ever renamed).
 */
import { httpProblemCodes } from "../../core/errors.ts";
import * as limits from "../../core/limits.ts";
import { lensNames } from "../../lens/index.ts";
import { blockingFlags } from "../../state/index.ts";
import { anyValue, arr, bool, cursor, hex32, int, isoTime, millis, nullable, num, obj, oneOfEnum, ref, str } from "./schema.ts";
import type { Schema } from "./types.ts";

// ---------------------------------------------------------------- answers

export function answerSchemas(): Record<string, Schema> {
  const group = obj({
    value: anyValue("the object the group agrees on (its first member's)"),
    weight: num("what the group weighs under the lens"),
    count: int("members"),
    ids: arr(hex32("assertion id"), "members, earliest first"),
  });
  const auditEntry = obj({
    seq: str("opaque entry id"),
    at: isoTime("when the query was answered"),
    caller: str("`key:<id>` with an API key, else the client's address"),
    request_id: nullable(str()),
    subject: str(),
    predicate: str(),
    lens: str(),
    params: obj(
      {
        "as_of?": int(),
        "known_at?": int(),
        "valid_at?": int(),
        "tolerance?": num(),
        "include?": arr(ref("Flag")),
        "layers?": arr(str()),
        "fresh?": { const: true },
        "escalate?": { type: ["boolean", "number"] },
      },
      "the parameters given",
    ),
    winner: nullable(hex32("the winner's id")),
    value: anyValue("the answer's value; values over 256 characters of JSON are cut"),
    conflict: num(),
    support: num(),
    lsn: int(),
    from_view: bool("answered from a materialized view"),
  });
  return {
    Flag: oneOfEnum(blockingFlags, "a lifecycle flag (docs/SEMANTICS.md#lifecycle-flags)"),
    Lens: oneOfEnum(lensNames),
    WriteResult: obj(
      {
        id: hex32("the record id"),
        lsn: int("its log position"),
        status: oneOfEnum(["accepted", "quarantined"]),
        duplicate: bool("the record was already stored"),
        "replicas_acked?": int(
          "in a cluster: the replicas of the record's shard known durable when the write was answered (at least 1; a majority of the replication factor with `ack=quorum`)",
        ),
      },
      "A write acknowledged: in the log on stable storage and indexed.",
    ),
    DecisionWrite: obj(
      {
        id: hex32("the decision record's id"),
        lsn: int(),
        status: oneOfEnum(["accepted", "quarantined"]),
        duplicate: bool(),
        ts: millis("the decision's stated time"),
      },
      "A decision written as a record signed by the node's authority key.",
    ),
    BatchRequest: obj({
      records: arr(ref("RecordSubmission"), `1–${limits.batchRecordsMax} records`, {
        minItems: 1,
        maxItems: limits.batchRecordsMax,
      }),
    }),
    BatchResult: obj({
      results: arr({ oneOf: [ref("WriteResult"), obj({ error: ref("Problem") })] }, "one per input record, in input order"),
      accepted: int(),
      rejected: int(),
    }),
    RecordPage: obj({ items: arr(ref("Record")), next_cursor: cursor }),
    LensGroup: group,
    QueryAnswer: obj(
      {
        subject: str(),
        predicate: str(),
        lens: ref("Lens"),
        winner: nullable(ref("Record")),
        value: anyValue("the winner's object, or null"),
        support: num("the winner group's share of the total weight", { minimum: 0, maximum: 1 }),
        conflict: num("κ = (1 − W_max/W_total)/(1 − 1/k)", { minimum: 0, maximum: 1 }),
        "verdict?": oneOfEnum(["settled", "disputed", "contested"], "skeptic only"),
        "dissent?": obj(
          {
            groups: arr(ref("LensGroup"), "every group but the winner's, heaviest first"),
            outliers: arr(
              obj({ id: hex32("assertion id"), agent: str(), value: num(), distanceMads: nullable(num()) }),
              "numbers further than 3 MAD from the confidence-weighted median",
            ),
            median: nullable(num()),
            mad: nullable(num()),
          },
          "skeptic only",
        ),
        groups: arr(ref("LensGroup"), "heaviest first"),
        candidates: int("candidates counted, after one agent, one voice"),
        "explain?": arr(str(), "why, in sentences; left out with explain=false"),
        params: obj({ "tolerance?": num(), "layers?": arr(str()) }, "the lens parameters used"),
        lsn: int("the log position the answer reflects"),
        "trust_lsn?": int("the log position of the TrustRank used (vote, trust, layered)"),
        "as_of?": millis("the as_of asked"),
        "known_at?": millis("the known_at asked"),
        "escalation?": obj(
          { id: hex32("the escalation"), target: hex32("the winner"), opened: bool("false: it was already open") },
          "with escalate, when κ reached the threshold",
        ),
      },
      "What is known about (subject, predicate) through one lens.",
    ),
    QueryRequest: obj(
      {
        subject: str(),
        predicate: str(),
        "lenses?": arr(ref("Lens"), "1–8 lenses, side by side (default [consensus])", { minItems: 1, maxItems: 8 }),
        "lens?": ref("Lens"),
        "as_of?": { type: ["integer", "string"], description: "ms since the epoch or ISO 8601" },
        "known_at?": { type: ["integer", "string"], description: "ms since the epoch or ISO 8601" },
        "valid_at?": { type: ["integer", "string"], description: "ms since the epoch or ISO 8601" },
        "tolerance?": num(undefined, { minimum: 0, maximum: 1 }),
        "include?": arr(ref("Flag")),
        "layers?": arr(ref("Lens")),
        "fresh?": bool(),
        "escalate?": { type: ["boolean", "number"], description: "true, or a κ threshold in (0, 1]" },
        "explain?": bool(),
      },
      undefined,
      { additionalProperties: false },
    ),
    MultiQueryAnswer: obj({
      results: { type: "object", additionalProperties: ref("QueryAnswer"), description: "lens → answer" },
    }),
    SubjectAnswer: obj({
      subject: str(),
      lens: ref("Lens"),
      predicates: { type: "object", additionalProperties: ref("QueryAnswer"), description: "predicate → answer (at most 500)" },
    }),
    ConceptList: obj({
      prefix: str(),
      concepts: arr(
        obj({
          path: str(),
          segment: str(),
          is_subject: bool("records are filed under exactly this path"),
          subjects: int("distinct subjects at or below it"),
        }),
      ),
      truncated: bool(),
    }),
    AgentSummary: obj({
      agent: hex32("public key"),
      trust: num("TrustRank τ", { minimum: 0, maximum: 1 }),
      authority: bool(),
      seeded: bool("a trust seed (an authority, or named in a trust_seed review)"),
      endorsed_by: int(),
      disputed_by: int(),
    }),
    AgentPage: obj({
      items: arr(ref("AgentSummary")),
      next_cursor: cursor,
      trust_lsn: int(),
      trust_floor: num(),
      total: int(),
    }),
    AgentDetail: obj({
      agent: hex32("public key"),
      trust: num(undefined, { minimum: 0, maximum: 1 }),
      trust_lsn: int(),
      authority: bool(),
      seeded: bool(),
      rank: num("the raw PageRank score"),
      endorsed_by: int(),
      disputed_by: int(),
      gold: obj({ agree: int(), contradict: int() }),
      counts: { type: "object", additionalProperties: { type: "integer" }, description: "kind → records" },
      recent: arr(ref("Record"), "newest first"),
    }),
    Escalation: obj({
      id: hex32("the escalate review that opened it"),
      target: hex32("the assertion under review"),
      status: oneOfEnum(["open", "resolved"]),
      opened_at: isoTime("when it was opened"),
      context: {
        description: "subject, predicate, lens, conflict, threshold, request_id, api_key (the note of the escalate review)",
        anyOf: [
          obj({
            subject: str(),
            predicate: str(),
            lens: str(),
            conflict: num(),
            threshold: num(),
            "request_id?": str(),
            api_key: nullable(str()),
          }),
          { type: ["string", "null"] },
        ],
      },
      "resolution?": obj({ id: hex32("the resolve review"), at: isoTime("when"), note: nullable(str()) }),
    }),
    EscalationList: obj({ items: arr(ref("Escalation")) }),
    ResolveRequest: obj({ "note?": str(), "gold?": hex32("an assertion to mark a gold standard as well") }, "May be empty.", {
      additionalProperties: false,
    }),
    ResolveResult: obj({
      escalation: ref("Escalation"),
      lsn: int(),
      resolution_id: hex32("the resolve review"),
      "gold_id?": hex32("the gold review"),
    }),
    QueryAuditEntry: auditEntry,
    QueryAuditPage: obj({ items: arr(ref("QueryAuditEntry")), next_cursor: cursor }),
    ...provenanceSchemas(),
    ...adminSchemas(),
    Problem: problemSchema(),
  };
}

// Parts of the provenance answers.
const impactItem = obj({
  id: hex32("assertion id"),
  flag: oneOfEnum(["source_retracted", "cascade"]),
  subject: str(),
  predicate: str(),
  depth: int("0 cites the source; n is n depends_on steps from one that does"),
});
const impactFields = {
  source_retracted: int("assertions citing the source"),
  cascade: int("assertions whose depends_on reaches one of them"),
  total: int(),
  items: arr(ref("ImpactItem"), "citing assertions in log order, then the cascade by depth"),
  next_cursor: cursor,
};
const summary = obj(
  {
    id: hex32("record id"),
    kind: str(),
    agent: str(),
    ts: int(),
    "value?": oneOfEnum([1, -1]),
    "reason?": str(),
    "action?": str(),
    "note?": str(),
    "subject?": str(),
    "predicate?": str(),
  },
  "A record that targets the node.",
);

export function provenanceSchemas(): Record<string, Schema> {
  return {
    SourceView: obj({
      source_id: str(),
      registered: bool(),
      title: nullable(str()),
      tier: int("the tier that counts: 1–5; 6 when not registered or disputed", { minimum: 1, maximum: 6 }),
      claimed_tier: nullable(int("the tier the current entry states", { minimum: 1, maximum: 5 })),
      confirmed: bool("the entry is an authority's, or an authority confirmed it (confirm_source)"),
      disputed: bool("two or more agents registered it and no authority settled it: it counts as unregistered"),
      registrants: arr(str(), "every non-authority agent that registered it"),
      "url?": str(),
      "published_at?": int(),
      registrar: nullable(
        str("the sole registrant (or the one an authority confirmed); null when only authorities' entries count"),
      ),
      registration: nullable(hex32("the earliest counted source record")),
      registered_at: nullable(int()),
      record: nullable(hex32("the source record holding the current entry")),
      retracted: bool(),
      retraction: nullable(obj({ id: hex32("record id"), agent: str(), ts: int(), "reason?": str() })),
      notes: arr(str()),
      citing_assertions: int(),
    }),
    SourcePage: obj({ items: arr(ref("SourceView")), next_cursor: cursor }),
    ImpactItem: impactItem,
    ImpactReport: obj({ source_id: str(), dry_run: { const: true }, ...impactFields }),
    SourceRetractResult: obj({
      id: hex32("the source_retraction"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      impact: obj(impactFields, "the first 100 items"),
    }),
    Epoch: obj({
      name: str(),
      id: hex32("the epoch record"),
      agent: str(),
      authority: bool(),
      ts: int(),
      starts_at: int(),
      supersedes: nullable(str()),
      superseded_by: arr(str(), "epochs an authority declared superseding this one"),
    }),
    EpochList: obj({ items: arr(ref("Epoch")) }),
    SupersedeRequest: obj(
      {
        by: str("the new epoch's name"),
        "starts_at?": { type: ["integer", "string"], description: "ms or ISO 8601; default now" },
      },
      undefined,
      { additionalProperties: false },
    ),
    ProvenanceRef: summary,
    ProvenanceNode: {
      description:
        "An assertion with what bears on it, or a stub: dangling (not on this node), cycle, truncated (deeper than depth), or not an assertion.",
      oneOf: [
        obj({
          id: hex32("assertion id"),
          record: ref("Record"),
          flags: arr(ref("Flag")),
          notes: arr(str()),
          source: nullable(obj({ source_id: str(), title: nullable(str()), tier: int(), registered: bool(), retracted: bool() })),
          votes: arr(ref("ProvenanceRef")),
          retractions: arr(ref("ProvenanceRef")),
          reviews: arr(ref("ProvenanceRef")),
          superseded_by: arr(ref("ProvenanceRef")),
          depends_on: arr(ref("ProvenanceNode")),
        }),
        obj({ id: hex32("id"), dangling: { const: true } }),
        obj({ id: hex32("id"), cycle: { const: true } }),
        obj({ id: hex32("id"), truncated: { const: true } }),
        obj({ id: hex32("id"), not_an_assertion: { const: true }, kind: str() }),
      ],
    },
    ProvenanceTree: obj({
      root: ref("ProvenanceNode"),
      nodes: int("at most 2,000"),
      dangling: arr(hex32("id"), "dependencies this node does not hold"),
      lsn: int(),
    }),
  };
}

export function adminSchemas(): Record<string, Schema> {
  const role = oneOfEnum(["reader", "writer", "admin"]);
  return {
    GoldRequest: obj(
      {
        target: hex32("an assertion id"),
        "action?": oneOfEnum(["gold", "ungold"], "default gold"),
        "note?": str(`at most ${limits.textBytesMax / 2} bytes`),
      },
      undefined,
      { additionalProperties: false },
    ),
    GoldResult: obj({
      id: hex32("the review record"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      ts: int(),
      action: oneOfEnum(["gold", "ungold"]),
      target: hex32("the assertion"),
    }),
    SourceConfirmRequest: obj(
      {
        "note?": str(`at most ${limits.textBytesMax / 2} bytes`),
        "record?": hex32("the registration (source record) to confirm; default the current entry; required when disputed"),
      },
      undefined,
      { additionalProperties: false },
    ),
    SourceConfirmResult: obj({
      id: hex32("the confirm_source review"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      ts: int(),
      source_id: str(),
      target: hex32("the source record confirmed"),
      source: ref("SourceView"),
    }),
    AdminAuditPage: obj({ items: arr(ref("Decision"), "in log order"), next_cursor: cursor }),
    ...defenseSchemas(),
    KeyCreateRequest: obj(
      {
        name: str("1–128 bytes"),
        role,
        "signing?": bool(
          "true: the node makes and keeps a signing key for this API key and signs the records it writes through /mcp with it (not for reader keys)",
        ),
      },
      undefined,
      { additionalProperties: false },
    ),
    KeyCreated: obj({
      id: str("16 hex digits", { pattern: "^[0-9a-f]{16}$" }),
      name: str(),
      role,
      secret: str("send as Authorization: Bearer <secret>; shown only here", { pattern: "^stm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$" }),
      created_at: isoTime("created"),
      "agent?": hex32("with signing: the signing key's public key, the `agent` of the records it signs"),
    }),
    KeyInfo: obj({
      id: str(),
      name: str(),
      role,
      created_at: isoTime("created"),
      revoked_at: nullable(isoTime("revoked")),
      agent: nullable(
        hex32("the public key of the signing key the node keeps for this key (the records' agent); null without one"),
      ),
      last_used_at: nullable(isoTime("last authenticated, this process")),
    }),
    KeyList: obj({ items: arr(ref("KeyInfo")) }),
    KeyRevoked: obj({ id: str(), revoked: { const: true } }),
    ViewsDropped: obj({ dropped: int() }),
    SnapshotRequest: obj(
      { "name?": str("the directory under --backup-dir: letters, digits, . _ - (default stemedb-<time>)") },
      "May be empty.",
      { additionalProperties: false },
    ),
    Snapshot: obj({
      path: str("where the backup is, absolute"),
      dir: str("the same as path (the field's first name, kept)"),
      lsn: int("the log position it is consistent at"),
      records: int(),
      merkle_root: hex32("the Merkle root over the record ids"),
      files: int("files in the manifest"),
      ms: int("how long it took"),
    }),
    Health: obj({
      status: { const: "ok" },
      version: str(),
      node_id: str("the first 16 hex digits of the node key"),
      lsn: int("last log position"),
      index_lsn: int("last indexed position"),
      root: nullable(
        hex32(
          "the Merkle root over every record id up to root_lsn; recomputed on a worker thread every 30 s when the log has moved, so it trails `lsn` after start and during writes; null until the first one is done",
        ),
      ),
      root_lsn: nullable(int("the log position the root covers (not the node's: see `lsn`)")),
      root_records: nullable(int("the records the root covers")),
      uptime_s: int(),
    }),
    Ready: obj({ ready: { const: true }, lsn: int() }),
    NotReady: obj({ ready: { const: false }, reason: str() }),
  };
}

/** Content defense (docs/DEFENSE.md): the quarantine queue, decisions on it, circuit breakers. */
export function defenseSchemas(): Record<string, Schema> {
  const state = oneOfEnum(["closed", "open", "half_open"]);
  const breaker = {
    state,
    writes: int("verified writes in the current window"),
    bad: int("quarantined or rejected writes in the current window"),
    opened_at: nullable(isoTime("when it last opened; null when closed")),
    retry_after_s: nullable(int("seconds until a probe may pass (1 while a probe is out); null when closed")),
    reason: nullable(str("why it last opened")),
    trips: int("times it opened since start or the last reset"),
  };
  return {
    QuarantineItem: obj({
      id: hex32("the held assertion"),
      assertion: ref("AssertionRecord"),
      hold: obj({
        id: hex32("the hold review"),
        lsn: int(),
        agent: nullable(hex32("the authority that signed the hold")),
        recorded_at: nullable(millis("when this node wrote it")),
        api_key: nullable(str("the API key that asked, for a hold an admin made")),
      }),
      rules: arr(oneOfEnum(["unknown_agent", "trust_below", "gold_contradiction"]), "the policy rules that fired"),
      why: anyValue("the rules with what each saw ({rule, detail, trust?, threshold?, gold?, confidence?}), or the hold's note"),
    }),
    QuarantinePage: obj({
      items: arr(ref("QuarantineItem"), "oldest hold first"),
      held: int("assertions held now"),
      next_cursor: cursor,
    }),
    QuarantineDecisionRequest: obj({ "note?": str(`at most ${limits.textBytesMax / 2} bytes`) }, "May be empty.", {
      additionalProperties: false,
    }),
    QuarantineDecision: obj({
      id: hex32("the review record"),
      lsn: int(),
      status: oneOfEnum(["accepted", "quarantined"]),
      duplicate: bool(),
      ts: int(),
      action: oneOfEnum(["approve", "reject"]),
      target: hex32("the assertion"),
      state: oneOfEnum(["approved", "rejected"]),
    }),
    Breaker: obj({ agent: hex32("the agent key"), ...breaker }),
    GlobalBreaker: obj({
      state: oneOfEnum(["closed", "open"]),
      fsync_p99_ms: nullable(num("p99 fdatasync time of the recent group commits; null with too few")),
      samples: int("syncs in the window"),
      bound_ms: num("--shed-fsync-p99-ms (0: off)"),
      opened_at: nullable(isoTime("when it opened")),
      retry_after_s: nullable(int()),
      reason: nullable(str("why it last opened")),
    }),
    BreakerList: obj({
      items: arr(ref("Breaker"), "open first, then half-open, then the busiest closed ones"),
      global: ref("GlobalBreaker"),
      rejections: int("writes refused by agent breakers since start"),
    }),
    BreakerReset: obj({ agent: hex32("the agent key"), reset: { const: true }, ...breaker }),
    ...changeSchemas(),
  };
}

/** The change feed's event data (docs/API.md#change-feed); a `record` event's data is a Record. */
export function changeSchemas(): Record<string, Schema> {
  return {
    ChangeConflict: obj(
      {
        subject: str(),
        predicate: str(),
        lens: ref("Lens"),
        conflict: num("κ now"),
        previous_conflict: nullable(num("κ before this change; null on the first event for the pair")),
        winner_id: nullable(hex32("the winner now")),
        previous_winner_id: nullable(hex32("the winner before; null on the first event or when there was none")),
        value: anyValue("the answer's value now"),
        lsn: int("the log position the answer reflects"),
      },
      "Event `conflict`: a watched pair's κ crossed min_conflict, or its winner changed.",
    ),
    ChangeCutoff: obj(
      {
        last_lsn: int("the last position sent: resume from here (since= or Last-Event-ID)"),
        reason: oneOfEnum(
          ["slow_consumer", "read_failed"],
          "it could not keep up; or the node could not read a record for it (reconnect later)",
        ),
      },
      "Event `cutoff`: the follower could not keep up; the stream ends after it.",
    ),
  };
}

export function problemSchema(): Schema {
  return obj(
    {
      type: str("https://stemedb.dev/problems/<code>", { format: "uri" }),
      title: str(),
      status: int(),
      code: oneOfEnum(httpProblemCodes(), "stable: program against this"),
      detail: str("for people"),
      "hint?": str("what to do about it"),
      "instance?": str(),
      "request_id?": str("the X-Request-Id; in the server's log lines too"),
      "field?": str("the field or parameter at fault"),
      "computed_id?": hex32("bad_signature: the id the server computed"),
      "allow?": str("method_not_allowed: the methods the path takes"),
      "retry_after_s?": int(),
      "bytes_max?": int(),
      "items_max?": int(),
      "offset?": int(),
      "server_time?": int(),
      "registrar?": str("not_registrar: the source's registrar"),
      "expected?": arr(str(), "unknown_lens: the lenses there are"),
      "agent?": str("breaker_open: the agent whose breaker is open"),
      "state?": str("already_decided: approved, rejected or deciding"),
      "decision?": nullable(hex32("already_decided: the review that decided it")),
      "file?": str("log_corrupt: the damaged segment"),
    },
    "RFC 9457 problem details with a stable `code`.",
    { additionalProperties: true },
  );
}
