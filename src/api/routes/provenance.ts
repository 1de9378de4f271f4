/**
 * Provenance (docs/PROVENANCE.md): sources and what their retraction takes down, epochs, the provenance
 * chain of an assertion, audit bundles.
 */
import { StemeError } from "../../core/errors.ts";
import { toHex } from "../../core/hex.ts";
import { labelBytesMax } from "../../core/limits.ts";
import type { Epoch } from "../../core/record.ts";
import { fromCborSubmission, fromJsonSubmission, type SignedRecord } from "../../crypto/signed.ts";
import type { Decider } from "../../decisions/decider.ts";
import { listRecords } from "../../index/list.ts";
import { sourceNames } from "../../index/provenance.ts";
import type { Ingest, Submission, WriteResult } from "../../ingest/pipeline.ts";
import { computeImpact, impactPage } from "../../provenance/impact.ts";
import { describeSource } from "../../provenance/sources.ts";
import { provenanceDepthDefault, provenanceDepthMax, provenanceOf } from "../../provenance/tree.ts";
import type { Store } from "../../store/store.ts";
import { bodyFormat, parseJson, readBody, singleSubmission } from "../body.ts";
import { knownParams, parseKey, parseLimit, parseTime } from "../params.ts";
import { badQuery, json, notFound } from "../problem.ts";
import {
  decisionCodes,
  idParam,
  json as jsonContent,
  jsonBodyCodes,
  paramRef,
  pathParam,
  query,
  writeBody,
  writeCodes,
  written,
} from "../openapi/operation.ts";
import { int, ref } from "../openapi/schema.ts";
import type { Route } from "../route.ts";
import { exportDoc, exportHandler } from "./export.ts";
import { type WriteDeps, writeOne } from "./writes.ts";

export interface ProvenanceDeps extends WriteDeps {
  store: Store;
  ingest: Ingest;
  decider: Decider;
}

export function parseOffset(raw: string | null): number {
  if (raw === null || raw === "") return 0;
  if (!/^\d{1,9}$/.test(raw)) throw badQuery("cursor", "not a cursor this server issued");
  return Number(raw);
}

async function submitOne(deps: ProvenanceDeps, submission: Submission): Promise<WriteResult> {
  const [result] = await deps.ingest.submit([submission]);
  if (!result) throw new StemeError("internal", "no result");
  if (!result.ok) throw result.error;
  return result.result;
}

/** Parses one signed record without writing it (the endpoint checks it first). */
function parseSigned(submission: Submission): SignedRecord {
  if (submission.shape === "error") throw submission.error;
  if (submission.shape === "signed") return submission.signed;
  return submission.shape === "json" ? fromJsonSubmission(submission.value) : fromCborSubmission(submission.body, submission.sig);
}

// ---------- sources ----------

async function sourceDetail(deps: ProvenanceDeps, sourceId: string): Promise<Response> {
  await deps.store.indexCaughtUp();
  const view = describeSource(deps.store, sourceId);
  if (!view) throw new StemeError("unknown_source", `no source "${sourceId}" on this node`);
  return json(view);
}

/** `GET /v1/sources?limit=&cursor=&tier=`: sources by id, registered or only cited. */
async function listSources(deps: ProvenanceDeps, q: URLSearchParams): Promise<Response> {
  knownParams(q, ["limit", "cursor", "tier"]);
  const limit = parseLimit(q.get("limit"));
  const tierRaw = q.get("tier");
  const tier = tierRaw === null ? undefined : Number(tierRaw);
  if (tier !== undefined && !(Number.isInteger(tier) && tier >= 1 && tier <= 6))
    throw badQuery("tier", "expected 1–5, or 6 for unregistered");
  const cursor = q.get("cursor");
  const after = cursor === null || cursor === "" ? undefined : Buffer.from(cursor, "base64url").toString("utf8");
  await deps.store.indexCaughtUp();
  const names = sourceNames(deps.store.index, after, limit);
  const items = names
    .map((n) => describeSource(deps.store, n))
    .filter((v) => v !== null && (tier === undefined || v.tier === tier));
  const last = names.at(-1);
  return json({ items, next_cursor: names.length === limit && last ? Buffer.from(last).toString("base64url") : null });
}

async function sourceImpact(deps: ProvenanceDeps, sourceId: string, q: URLSearchParams): Promise<Response> {
  knownParams(q, ["limit", "cursor"]);
  const limit = parseLimit(q.get("limit"));
  const offset = parseOffset(q.get("cursor"));
  await deps.store.indexCaughtUp();
  if (!describeSource(deps.store, sourceId)) throw new StemeError("unknown_source", `no source "${sourceId}" on this node`);
  const impact = computeImpact(deps.store.index, sourceId);
  return json({ source_id: sourceId, dry_run: true, ...impactPage(impact, offset, limit) });
}

/**
 * `POST /v1/sources/:id/retract` with a signed `source_retraction` for that source, by its
 * registrar or an authority (anyone else's would be ignored by every reader, so it is refused
 * here and nothing is written). Answers the write and the impact, first page.
 */
async function retractSource(deps: ProvenanceDeps, request: Request, sourceId: string): Promise<Response> {
  const submission = singleSubmission(bodyFormat(request), await readBody(request, deps.limits.write));
  const signed = parseSigned(submission);
  const r = signed.record;
  if (r.kind !== "source_retraction")
    throw new StemeError("wrong_kind", `expected a source_retraction record, got a ${r.kind}`, { extra: { field: "kind" } });
  if (r.source_id !== sourceId)
    throw new StemeError("invalid_request", `the record retracts "${r.source_id}", the path names "${sourceId}"`, {
      extra: { field: "source_id" },
    });
  await deps.store.indexCaughtUp();
  const source = describeSource(deps.store, sourceId);
  const signer = toHex(r.agent);
  const authority = deps.store.dataDir.authorities.includes(signer);
  if (source?.disputed && !authority)
    throw new StemeError(
      "not_registrar",
      `"${sourceId}" is disputed between ${source.registrants.length} registrants: only an authority may retract it`,
      {
        hint: "an authority settles a dispute with POST /v1/admin/sources/{id}/confirm",
        extra: { registrar: null },
      },
    );
  if (!source?.registered && !authority)
    throw new StemeError("unknown_source", `no registered source "${sourceId}" on this node`, {
      hint: "register it first (POST /v1/sources), or retract it with an authority key",
    });
  if (source?.registered && signer !== source.registrar && !authority)
    throw new StemeError("not_registrar", `only the registrar of "${sourceId}" or an authority may retract it`, {
      extra: { registrar: source.registrar },
    });
  const write = await submitOne(deps, submission);
  await deps.store.indexCaughtUp();
  const impact = computeImpact(deps.store.index, sourceId);
  return json({ ...write, impact: impactPage(impact, 0, 100) }, write.duplicate ? 200 : 201);
}

// ---------- epochs ----------

interface EpochView {
  name: string;
  id: string;
  agent: string;
  authority: boolean;
  ts: number;
  starts_at: number;
  supersedes: string | null;
  superseded_by: string[];
}

function readEpochs(store: Store): EpochView[] {
  const out: EpochView[] = [];
  let afterLsn: number | undefined;
  for (;;) {
    const page = listRecords(store.index, { kinds: ["epoch"], limit: 1000, ...(afterLsn ? { afterLsn } : {}) });
    for (const loc of page.items) {
      const e = store.read(loc).record as Epoch;
      const agent = toHex(e.agent);
      out.push({
        name: e.name,
        id: toHex(loc.id),
        agent,
        authority: store.dataDir.authorities.includes(agent),
        ts: e.ts,
        starts_at: e.starts_at,
        supersedes: e.supersedes ?? null,
        superseded_by: [],
      });
    }
    if (page.next === null) break;
    afterLsn = page.next;
  }
  // Only an authority's supersession counts (state/flags.ts).
  for (const e of out)
    if (e.supersedes && e.authority && e.supersedes !== e.name)
      for (const old of out) if (old.name === e.supersedes && !old.superseded_by.includes(e.name)) old.superseded_by.push(e.name);
  return out.sort((a, b) => a.starts_at - b.starts_at || a.ts - b.ts || (a.id < b.id ? -1 : 1));
}

async function listEpochs(deps: ProvenanceDeps, q: URLSearchParams): Promise<Response> {
  knownParams(q, []);
  await deps.store.indexCaughtUp();
  return json({ items: readEpochs(deps.store) });
}

/**
 * `POST /v1/epochs/:name/supersede` with `{"by": new name, "starts_at"?: ms or ISO, "note"?}`:
 * the node's authority declares the new epoch superseding the old, a signed `epoch` record.
 * (An agent's own signed epoch record goes to `POST /v1/epochs`.)
 */
async function supersedeEpoch(deps: ProvenanceDeps, request: Request, name: string): Promise<Response> {
  const body = parseJson(await readBody(request, deps.limits.read));
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"by": "guideline-2025"}');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (!["by", "starts_at"].includes(key))
      throw new StemeError("unknown_field", `${key}: expected by, starts_at`, { extra: { field: key } });
  if (typeof b.by !== "string" || b.by.length === 0 || Buffer.byteLength(b.by) > labelBytesMax)
    throw new StemeError("invalid_type", `by: expected the new epoch's name (text, at most ${labelBytesMax} bytes)`, {
      extra: { field: "by" },
    });
  if (b.by === name) throw new StemeError("invalid_request", "an epoch cannot supersede itself", { extra: { field: "by" } });
  const startsAt =
    b.starts_at === undefined
      ? undefined
      : parseTime("starts_at", typeof b.starts_at === "number" ? String(b.starts_at) : String(b.starts_at));
  await deps.store.indexCaughtUp();
  if (!readEpochs(deps.store).some((e) => e.name === name))
    throw new StemeError("unknown_epoch", `no epoch "${name}" on this node`, { hint: "declare it first: POST /v1/epochs" });
  const write = await deps.decider.write({ kind: "epoch", name: b.by, starts_at: startsAt ?? Date.now(), supersedes: name });
  return json(write, write.duplicate ? 200 : 201);
}

// ---------- provenance ----------

async function provenance(deps: ProvenanceDeps, idHex: string, q: URLSearchParams): Promise<Response> {
  knownParams(q, ["depth"]);
  const id = parseKey("id", idHex);
  if (!id) throw badQuery("id", "expected 64 hex digits (a record id)");
  const raw = q.get("depth");
  const depth = raw === null ? provenanceDepthDefault : Number(raw);
  if (!Number.isInteger(depth) || depth < 0 || depth > provenanceDepthMax)
    throw badQuery("depth", `expected an integer 0–${provenanceDepthMax}`);
  await deps.store.indexCaughtUp();
  const tree = provenanceOf(deps.store, id, depth);
  if (!tree) throw notFound(`record ${idHex}`);
  return json(tree);
}

/** A source id or epoch name from the path: 1 to a label's length in bytes. */
function pathLabel(field: string, id: string): string {
  if (id.length === 0 || Buffer.byteLength(id) > labelBytesMax)
    throw badQuery(field, `expected an id of 1–${labelBytesMax} bytes in the path`);
  return id;
}

const sourceId = pathParam("id", "the source id; its slashes may stay unencoded (mega/trial-7), or be percent-encoded");

export function provenanceRoutes(deps: ProvenanceDeps): Route[] {
  const label = (field: string, params: Record<string, string>) => pathLabel(field, params[field] as string);
  return [
    {
      method: "POST",
      path: "/v1/sources",
      class: "write",
      handle: ({ request }) => writeOne(deps, request, ["source"]),
      doc: {
        id: "registerSource",
        tag: "provenance",
        summary: "Register a source (a signed source record)",
        description: "The first registrant is the registrar; later entries count from the registrar or an authority only.",
        body: writeBody("SourceSubmission", "a signed source record"),
        answers: written,
        errors: [...writeCodes, "wrong_kind"],
      },
    },
    {
      method: "GET",
      path: "/v1/sources",
      class: "read",
      handle: ({ url }) => listSources(deps, url.searchParams),
      doc: {
        id: "listSources",
        tag: "provenance",
        summary: "Sources by id, registered or only cited",
        parameters: [
          query("tier", "1–5, or 6 for unregistered", int(undefined, { minimum: 1, maximum: 6 })),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("SourcePage") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "GET",
      path: "/v1/sources/{id+}/impact",
      class: "read",
      handle: ({ url, params }) => sourceImpact(deps, label("id", params), url.searchParams),
      doc: {
        id: "sourceImpact",
        tag: "provenance",
        summary: "What retracting a source would flag (dry run)",
        description:
          "Every assertion citing the source (depth 0), then every assertion whose depends_on reaches one, by depth. Nothing is written.",
        parameters: [sourceId, paramRef("Limit"), paramRef("Cursor")],
        answers: { 200: { description: "the impact", schema: ref("ImpactReport") } },
        errors: ["invalid_query", "unknown_source"],
      },
    },
    {
      method: "POST",
      path: "/v1/sources/{id+}/retract",
      class: "write",
      handle: ({ request, params }) => retractSource(deps, request, label("id", params)),
      doc: {
        id: "retractSource",
        tag: "provenance",
        summary: "Retract a source (a signed source_retraction by its registrar or an authority)",
        description:
          "Anyone else's is refused (`403 not_registrar`) and nothing is written; a record for another source id is a 400. Answers the write and the first 100 items of the impact.",
        parameters: [sourceId],
        body: writeBody("SourceRetractionSubmission", "a signed source_retraction for this source"),
        answers: {
          201: { description: "retracted", schema: ref("SourceRetractResult") },
          200: { description: "the same retraction was already stored", schema: ref("SourceRetractResult") },
        },
        errors: [...writeCodes, "wrong_kind", "invalid_request", "invalid_query", "unknown_source", "not_registrar"],
      },
    },
    {
      method: "GET",
      path: "/v1/sources/{id+}",
      class: "read",
      handle: ({ params }) => sourceDetail(deps, label("id", params)),
      doc: {
        id: "getSource",
        tag: "provenance",
        summary: "A source: its entry, registrar, retraction and citations",
        parameters: [sourceId],
        answers: { 200: { description: "the source", schema: ref("SourceView") } },
        errors: ["invalid_query", "unknown_source"],
      },
    },
    {
      method: "POST",
      path: "/v1/epochs",
      class: "write",
      handle: ({ request }) => writeOne(deps, request, ["epoch"]),
      doc: {
        id: "declareEpoch",
        tag: "provenance",
        summary: "Declare an epoch (a signed epoch record)",
        body: writeBody("EpochSubmission", "a signed epoch record"),
        answers: written,
        errors: [...writeCodes, "wrong_kind"],
      },
    },
    {
      method: "GET",
      path: "/v1/epochs",
      class: "read",
      handle: ({ url }) => listEpochs(deps, url.searchParams),
      doc: {
        id: "listEpochs",
        tag: "provenance",
        summary: "Epochs by starts_at",
        answers: { 200: { description: "the epochs", schema: ref("EpochList") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "POST",
      path: "/v1/epochs/{name+}/supersede",
      class: "admin",
      handle: ({ request, params }) => supersedeEpoch(deps, request, label("name", params)),
      doc: {
        id: "supersedeEpoch",
        tag: "provenance",
        summary: "The node's authority declares a new epoch superseding this one",
        description: "Every assertion of the old epoch is flagged epoch_superseded. Only an authority's supersession counts.",
        parameters: [pathParam("name", "the epoch to supersede; its slashes may stay unencoded")],
        body: { content: jsonContent(ref("SupersedeRequest")) },
        answers: {
          201: { description: "the new epoch record", schema: ref("DecisionWrite") },
          200: { description: "already stored", schema: ref("DecisionWrite") },
        },
        errors: [...jsonBodyCodes, "invalid_query", "unknown_epoch", ...decisionCodes],
      },
    },
    {
      method: "GET",
      path: "/v1/provenance/{id}",
      class: "read",
      handle: ({ url, params }) => provenance(deps, params.id as string, url.searchParams),
      doc: {
        id: "provenance",
        tag: "provenance",
        summary: "The provenance chain of an assertion as a tree",
        parameters: [
          idParam,
          query("depth", "levels of depends_on, 0–32 (default 8)", int(undefined, { minimum: 0, maximum: 32 })),
        ],
        answers: { 200: { description: "the tree", schema: ref("ProvenanceTree") } },
        errors: ["invalid_query", "not_found"],
      },
    },
    {
      method: "GET",
      path: "/v1/export",
      class: "read",
      handle: ({ url }) => exportHandler(deps.store, url.searchParams),
      doc: exportDoc,
    },
  ];
}
