/**
 * Handlers for provenance (SPEC §5, issue 4): sources and what their retraction takes down,
 * epochs, the provenance chain of an assertion, and the authority's decisions (gold
 * standards, the admin audit). `app.ts` maps routes onto them.
 */
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { labelBytesMax, textBytesMax } from "../core/limits.ts";
import type { Epoch, StemeRecord } from "../core/record.ts";
import { fromCborSubmission, fromJsonSubmission, type SignedRecord } from "../crypto/signed.ts";
import type { Decider } from "../decisions/decider.ts";
import { decisionNote } from "../decisions/decider.ts";
import { listRecords } from "../index/list.ts";
import { sourceNames } from "../index/provenance.ts";
import type { Ingest, WriteResult } from "../ingest/pipeline.ts";
import { computeImpact, impactPage } from "../provenance/impact.ts";
import { describeSource } from "../provenance/sources.ts";
import { provenanceDepthDefault, provenanceDepthMax, provenanceOf } from "../provenance/tree.ts";
import type { Submission } from "../ingest/pipeline.ts";
import type { Store } from "../store/store.ts";
import { bodyFormat, parseJson, readBody, singleSubmission } from "./body.ts";
import { parseKey, parseLimit, parseTime } from "./params.ts";
import { badQuery, json, notFound } from "./problem.ts";

export interface ProvenanceDeps {
  store: Store;
  ingest: Ingest;
  decider: Decider;
  writeBodyBytesMax: number;
  readBodyBytesMax: number;
  apiKeyOf: (request: Request) => string | null;
}

function knownParams(q: URLSearchParams, known: string[]): void {
  for (const key of q.keys())
    if (!known.includes(key)) throw badQuery(key, `unknown parameter; expected one of ${known.join(", ")}`);
}

function parseOffset(raw: string | null): number {
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
  return submission.shape === "json" ? fromJsonSubmission(submission.value) : fromCborSubmission(submission.body, submission.sig);
}

// ---------- sources ----------

export async function sourceDetail(deps: ProvenanceDeps, sourceId: string): Promise<Response> {
  await deps.store.indexCaughtUp();
  const view = describeSource(deps.store, sourceId);
  if (!view) throw new StemeError("unknown_source", `no source "${sourceId}" on this node`);
  return json(view);
}

/** `GET /v1/sources?limit=&cursor=&tier=`: sources by id, registered or only cited. */
export async function listSources(deps: ProvenanceDeps, q: URLSearchParams): Promise<Response> {
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

export async function sourceImpact(deps: ProvenanceDeps, sourceId: string, q: URLSearchParams): Promise<Response> {
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
export async function retractSource(deps: ProvenanceDeps, request: Request, sourceId: string): Promise<Response> {
  const submission = singleSubmission(bodyFormat(request), await readBody(request, deps.writeBodyBytesMax));
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

export async function listEpochs(deps: ProvenanceDeps, q: URLSearchParams): Promise<Response> {
  knownParams(q, []);
  await deps.store.indexCaughtUp();
  return json({ items: readEpochs(deps.store) });
}

/**
 * `POST /v1/epochs/:name/supersede` with `{"by": new name, "starts_at"?: ms or ISO, "note"?}`:
 * the node's authority declares the new epoch superseding the old, a signed `epoch` record.
 * (An agent's own signed epoch record goes to `POST /v1/epochs`.)
 */
export async function supersedeEpoch(deps: ProvenanceDeps, request: Request, name: string): Promise<Response> {
  const body = parseJson(await readBody(request, deps.readBodyBytesMax));
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

export async function provenance(deps: ProvenanceDeps, idHex: string, q: URLSearchParams): Promise<Response> {
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

// ---------- authority decisions ----------

/** `POST /v1/admin/gold` `{"target": assertion id, "action"?: "gold" | "ungold", "note"?}` */
export async function adminGold(deps: ProvenanceDeps, request: Request): Promise<Response> {
  const body = parseJson(await readBody(request, deps.readBodyBytesMax));
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"target": "<assertion id>"}');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (!["target", "action", "note"].includes(key))
      throw new StemeError("unknown_field", `${key}: expected target, action, note`, { extra: { field: key } });
  const target = parseKey("target", typeof b.target === "string" ? b.target : null);
  if (!target) throw new StemeError("missing_field", "target: required (an assertion id)", { extra: { field: "target" } });
  const action = b.action ?? "gold";
  if (action !== "gold" && action !== "ungold")
    throw new StemeError("out_of_range", 'action: "gold" or "ungold"', { extra: { field: "action" } });
  if (b.note !== undefined && (typeof b.note !== "string" || Buffer.byteLength(b.note) > textBytesMax / 2))
    throw new StemeError("invalid_type", "note: expected short text", { extra: { field: "note" } });
  await deps.store.indexCaughtUp();
  const loc = deps.store.lookupId(target);
  if (!loc || deps.store.read(loc).record.kind !== "assertion")
    throw new StemeError("not_found", `no assertion ${toHex(target)} on this node`);
  const write = await deps.decider.write({
    kind: "review",
    action,
    target: toHex(target),
    note: decisionNote(b.note === undefined ? {} : { note: b.note }, deps.apiKeyOf(request)),
  });
  return json({ ...write, action, target: toHex(target) }, write.duplicate ? 200 : 201);
}

const decisionKinds = ["review", "retraction", "source_retraction", "epoch"] as const;

/**
 * `GET /v1/admin/audit?from=&to=&limit=&cursor=`: every decision an authority signed —
 * reviews (holds, approvals, gold standards, trust seeds, escalations), retractions, source
 * retractions and epochs — by stated time `ts` in [from, to], in log order.
 */
export async function adminAudit(deps: ProvenanceDeps, q: URLSearchParams): Promise<Response> {
  knownParams(q, ["from", "to", "limit", "cursor"]);
  const from = parseTime("from", q.get("from"));
  const to = parseTime("to", q.get("to"));
  const limit = parseLimit(q.get("limit"));
  let afterLsn = parseOffset(q.get("cursor")) || undefined;
  await deps.store.indexCaughtUp();
  const authorities = deps.store.dataDir.authorities;
  const items: Array<Record<string, unknown>> = [];
  let next: number | null = null;
  // Pages of the kind index, keeping authority records, until a page of results is full.
  for (;;) {
    const page = listRecords(deps.store.index, {
      kinds: [...decisionKinds],
      limit: 1000,
      ...(from !== undefined ? { since: from } : {}),
      ...(to !== undefined ? { until: to } : {}),
      ...(afterLsn !== undefined ? { afterLsn } : {}),
    });
    for (const loc of page.items) {
      const view = deps.store.view(loc);
      if (!authorities.includes(view.agent as string)) continue;
      if (items.length === limit) {
        next = items.at(-1)?.lsn as number;
        break;
      }
      items.push({ ...view, decision: describeDecision(deps.store.read(loc).record) });
    }
    if (next !== null || page.next === null) break;
    afterLsn = page.next;
  }
  return json({ items, next_cursor: next === null ? null : String(next) });
}

function describeDecision(r: StemeRecord): Record<string, unknown> {
  let note: unknown = null;
  if (r.kind === "review" && r.note) {
    try {
      note = JSON.parse(r.note);
    } catch {
      note = r.note;
    }
  }
  const apiKey = note !== null && typeof note === "object" && "api_key" in note ? (note as { api_key: unknown }).api_key : null;
  return { kind: r.kind, ...(r.kind === "review" ? { action: r.action } : {}), api_key: apiKey };
}
