/**
 * Writes (docs/API.md): one signed record of any kind, a vote, a retraction, a batch. Each takes
 * the raw request, so body limits, content types and parse errors are ours to answer with
 * problem+json.
 */
import { StemeError } from "../../core/errors.ts";
import * as limits from "../../core/limits.ts";
import type { Kind } from "../../core/record.ts";
import type { ItemResult, SubmitOptions, Submitter } from "../../ingest/pipeline.ts";
import { type BodyLimit, batchSubmissions, bodyFormat, readBody, singleSubmission } from "../body.ts";
import { bodyCodes, type Answer, query, writeBody, writeCodes, written } from "../openapi/operation.ts";
import { arr, mib, obj, oneOfEnum, ref } from "../openapi/schema.ts";
import { badQuery, json, negotiated } from "../problem.ts";
import type { Route } from "../route.ts";

/** What each kind of endpoint takes of a body (--write-body-limit, --batch-body-limit, --read-body-limit). */
export interface ApiLimits {
  write: BodyLimit;
  batch: BodyLimit;
  /** Reads and admin calls with a small JSON body. */
  read: BodyLimit;
  batchRecordsMax: number;
}

export interface WriteDeps {
  /** The ingest pipeline; in a cluster, the writer that routes each record to its shard's replicas (src/cluster/data). */
  ingest: Submitter;
  limits: ApiLimits;
}

/** `?ack=one|quorum` (docs/CLUSTER.md#ack-levels): how many replicas must be durable before a cluster answers. */
function ackOf(request: Request): SubmitOptions["ack"] {
  const q = request.url.indexOf("?");
  if (q < 0) return undefined;
  const ack = new URLSearchParams(request.url.slice(q + 1)).get("ack");
  if (ack === null || ack === "") return undefined;
  if (ack !== "one" && ack !== "quorum") throw badQuery("ack", `expected "one" or "quorum", got "${ack.slice(0, 20)}"`);
  return ack;
}

const ackParam = query(
  "ack",
  "in a cluster: `one` (default) answers once one replica of the record's shard is durable, `quorum` once a majority of the replication factor is (`replicas_acked` says how many); a single node ignores it",
  oneOfEnum(["one", "quorum"]),
);

/** One signed record (JSON or CBOR) through ingest; `kinds` restricts what the endpoint takes. */
export async function writeOne(deps: WriteDeps, request: Request, kinds?: Kind[]): Promise<Response> {
  const ack = ackOf(request);
  const submission = singleSubmission(bodyFormat(request), await readBody(request, deps.limits.write));
  const [result] = await deps.ingest.submit([submission], { ...(kinds ? { kinds } : {}), ...(ack ? { ack } : {}) });
  if (!result) throw new StemeError("internal", "ingest gave no result for one submission");
  if (!result.ok) throw result.error;
  return json(result.result, result.result.duplicate ? 200 : 201);
}

async function writeBatch(deps: WriteDeps, request: Request): Promise<Response> {
  const ack = ackOf(request);
  const format = bodyFormat(request);
  const body = await readBody(request, deps.limits.batch);
  const results = await deps.ingest.submit(batchSubmissions(format, body, deps.limits.batchRecordsMax), ack ? { ack } : {});
  return negotiated(request, batchReply(results));
}

function batchReply(results: ItemResult[]) {
  let accepted = 0;
  let rejected = 0;
  const out = results.map((r) => {
    if (r.ok) {
      accepted++;
      return r.result;
    }
    rejected++;
    return { error: r.error.toProblem() };
  });
  return { results: out, accepted, rejected };
}

const batchAnswer: Record<number, Answer> = {
  200: {
    description: "every item's outcome",
    content: { "application/json": { schema: ref("BatchResult") }, "application/cbor": { schema: ref("BatchResult") } },
  },
};

export function writeRoutes(deps: WriteDeps): Route[] {
  return [
    {
      method: "POST",
      path: "/v1/assert",
      class: "write",
      handle: ({ request }) => writeOne(deps, request),
      doc: {
        id: "assert",
        tag: "write",
        summary: "Submit one signed record of any kind",
        description:
          "The server encodes JSON fields canonically (docs/FORMAT.md), computes the id and verifies the signature; a CBOR body must already be canonical. Nothing is written on any error.",
        parameters: [ackParam],
        body: writeBody("RecordSubmission", "one signed record"),
        answers: written,
        errors: [...writeCodes, "invalid_query", "not_enough_replicas"],
      },
    },
    {
      method: "POST",
      path: "/v1/vote",
      class: "write",
      handle: ({ request }) => writeOne(deps, request, ["vote"]),
      doc: {
        id: "vote",
        tag: "write",
        summary: "Submit a signed vote",
        description: "As POST /v1/assert for one `vote` record; any other kind is `400 wrong_kind`.",
        parameters: [ackParam],
        body: writeBody("VoteSubmission", "a signed vote"),
        answers: written,
        errors: [...writeCodes, "wrong_kind", "invalid_query", "not_enough_replicas"],
      },
    },
    {
      method: "POST",
      path: "/v1/retract",
      class: "write",
      handle: ({ request }) => writeOne(deps, request, ["retraction"]),
      doc: {
        id: "retract",
        tag: "write",
        summary: "Submit a signed retraction",
        description:
          "As POST /v1/assert for one `retraction` record; it counts only when signed by the assertion's author or an authority.",
        parameters: [ackParam],
        body: writeBody("RetractionSubmission", "a signed retraction"),
        answers: written,
        errors: [...writeCodes, "wrong_kind", "invalid_query", "not_enough_replicas"],
      },
    },
    {
      method: "POST",
      path: "/v1/assert/batch",
      class: "write",
      handle: ({ request }) => writeBatch(deps, request),
      doc: {
        id: "assertBatch",
        tag: "write",
        summary: `Submit up to ${limits.batchRecordsMax} records`,
        description:
          "Results are in input order; one bad item fails alone (its slot holds `{error: problem}`), the others are stored. A record twice in one batch is stored once, the later copy answering `duplicate: true`. A malformed envelope, an empty batch or too many records fail the whole request. `Accept: application/cbor` answers in CBOR.",
        parameters: [ackParam],
        body: {
          description: `{"records": [...]} in JSON, or {records: [{body, sig}, …]} in CBOR; at most ${mib(limits.batchBodyBytesMax)} (--batch-body-limit).`,
          content: {
            "application/json": { schema: ref("BatchRequest") },
            "application/cbor": { schema: obj({ records: arr(ref("CborSubmission"), undefined, { minItems: 1 }) }) },
          },
        },
        answers: batchAnswer,
        errors: [
          "malformed_json",
          "malformed_cbor",
          "invalid_request",
          "unknown_field",
          "batch_too_large",
          "unsupported_media_type",
          "overloaded",
          "invalid_query",
          ...bodyCodes,
        ],
      },
    },
  ];
}
