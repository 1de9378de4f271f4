/**
 * Administration (docs/API.md): an authority's decisions (gold standards, the decision audit),
 * API keys (the secret is in the creation answer and nowhere else), online snapshots, and the
 * materialized views. Content defense's queue and breakers are in defense.ts.
 */
import type { KeyStore } from "../../auth/keys.ts";
import type { OpsService } from "../../backup/service.ts";
import { StemeError } from "../../core/errors.ts";
import { toHex } from "../../core/hex.ts";
import { textBytesMax } from "../../core/limits.ts";
import type { StemeRecord } from "../../core/record.ts";
import type { Decider } from "../../decisions/decider.ts";
import { decisionNote } from "../../decisions/decider.ts";
import { labelBytesMax } from "../../core/limits.ts";
import { listRecords } from "../../index/list.ts";
import { describeSource } from "../../provenance/sources.ts";
import { loadSource } from "../../query/gather.ts";
import type { QueryEngine } from "../../query/engine.ts";
import type { Store } from "../../store/store.ts";
import { type BodyLimit, parseJson, readBody } from "../body.ts";
import { decisionCodes, json as jsonContent, jsonBodyCodes, paramRef, pathParam, timeParam } from "../openapi/operation.ts";
import { ref, str } from "../openapi/schema.ts";
import { knownParams, parseKey, parseLimit, parseTime } from "../params.ts";
import { json } from "../problem.ts";
import type { Route } from "../route.ts";
import { parseOffset } from "./provenance.ts";

export interface AdminDeps {
  store: Store;
  decider: Decider;
  keys: KeyStore;
  engine: QueryEngine;
  ops: OpsService;
  limits: { read: BodyLimit };
  /** The id of the API key the request came with, or null (open mode). */
  apiKeyOf: (request: Request) => string | null;
}

/** `POST /v1/admin/gold` `{"target": assertion id, "action"?: "gold" | "ungold", "note"?}` */
async function adminGold(deps: AdminDeps, request: Request): Promise<Response> {
  const body = parseJson(await readBody(request, deps.limits.read));
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

/** `{}` or `{"note"?, "record"?}`: a confirmation's body. */
function parseConfirmBody(raw: Uint8Array): { note?: string; record?: string } {
  if (raw.length === 0) return {};
  const body = parseJson(raw);
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"note": "checked against the register"}');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b))
    if (key !== "note" && key !== "record")
      throw new StemeError("unknown_field", `${key}: expected note, record`, { extra: { field: key } });
  if (b.note !== undefined && (typeof b.note !== "string" || Buffer.byteLength(b.note) > textBytesMax / 2))
    throw new StemeError("invalid_type", `note: expected text of at most ${textBytesMax / 2} bytes`, {
      extra: { field: "note" },
    });
  const record = b.record === undefined ? undefined : parseKey("record", typeof b.record === "string" ? b.record : null);
  if (b.record !== undefined && !record)
    throw new StemeError("invalid_type", "record: expected a source record id (64 hex digits)", { extra: { field: "record" } });
  return { ...(b.note !== undefined ? { note: b.note as string } : {}), ...(record ? { record: toHex(record) } : {}) };
}

/**
 * `POST /v1/admin/sources/{id+}/confirm` with `{}` or `{"note"?, "record"?}`: the authority
 * vouches for a registration (docs/SEMANTICS.md#sources-and-registrars) — a `confirm_source`
 * review of the source's current entry, or of the registration `record` names, signed by the
 * node's key. Its tier 1–3 then counts, and a disputed source is settled for that registrant.
 * A disputed source needs `record` (`409 source_disputed` lists the registrations).
 */
async function confirmSource(deps: AdminDeps, request: Request, sourceId: string): Promise<Response> {
  if (sourceId.length === 0 || Buffer.byteLength(sourceId) > labelBytesMax)
    throw new StemeError("invalid_query", `id: expected a source id of 1–${labelBytesMax} bytes in the path`);
  const body = parseConfirmBody(await readBody(request, deps.limits.read));
  await deps.store.indexCaughtUp();
  const registrations = loadSource(deps.store, sourceId).flatMap((r) =>
    r.record.kind === "source" && r.record.source_id === sourceId
      ? [{ record: r.id, agent: toHex(r.record.agent), tier: r.record.tier, ts: r.record.ts }]
      : [],
  );
  if (registrations.length === 0)
    throw new StemeError("unknown_source", `no registration of source "${sourceId}" on this node`, {
      hint: "a source is registered with a signed source record (POST /v1/sources)",
    });
  const view = describeSource(deps.store, sourceId);
  let target = body.record ?? view?.record ?? null;
  if (body.record !== undefined && !registrations.some((r) => r.record === body.record))
    throw new StemeError("not_found", `record ${body.record} is not a registration of source "${sourceId}" on this node`);
  if (body.record === undefined && view?.disputed) target = null;
  if (target === null)
    throw new StemeError(
      "source_disputed",
      `source "${sourceId}" is disputed between ${view?.registrants.length ?? 0} registrants`,
      {
        extra: { registrations },
      },
    );
  const write = await deps.decider.write({
    kind: "review",
    action: "confirm_source",
    target,
    note: decisionNote(body.note === undefined ? {} : { note: body.note }, deps.apiKeyOf(request)),
  });
  await deps.store.indexCaughtUp();
  const after = describeSource(deps.store, sourceId);
  return json({ ...write, source_id: sourceId, target, source: after }, write.duplicate ? 200 : 201);
}

const decisionKinds = ["review", "retraction", "source_retraction", "epoch"] as const;

/**
 * `GET /v1/admin/audit?from=&to=&limit=&cursor=`: every decision an authority signed —
 * reviews (holds, approvals, gold standards, trust seeds, escalations), retractions, source
 * retractions and epochs — by stated time `ts` in [from, to], in log order.
 */
async function adminAudit(deps: AdminDeps, q: URLSearchParams): Promise<Response> {
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

/**
 * `{"name", "role", "signing"?}` → `201 {"id", "name", "role", "secret", "created_at", "agent"?}`.
 * `signing: true` makes the node keep a signing key for the API key (docs/MCP.md#over-http-at-mcp);
 * only its public key is answered, as `agent`.
 */
async function createKey(deps: AdminDeps, request: Request): Promise<Response> {
  const body = parseJson(await readBody(request, deps.limits.read));
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"name": "ingest-bot", "role": "writer"}');
  for (const key of Object.keys(body))
    if (key !== "name" && key !== "role" && key !== "signing")
      throw new StemeError("unknown_field", `${key}: expected name, role, signing`, { extra: { field: key } });
  const { name, role, signing } = body as { name?: unknown; role?: unknown; signing?: unknown };
  if (typeof name !== "string") throw new StemeError("missing_field", "name: required text", { extra: { field: "name" } });
  if (typeof role !== "string")
    throw new StemeError("missing_field", "role: required (reader, writer or admin)", { extra: { field: "role" } });
  if (signing !== undefined && typeof signing !== "boolean")
    throw new StemeError("invalid_type", "signing: expected true or false", { extra: { field: "signing" } });
  return json(deps.keys.create(name, role, { signing: signing === true }), 201);
}

function revokeKey(deps: AdminDeps, id: string): Response {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new StemeError("invalid_query", "id: expected a key id (16 hex digits)");
  if (!deps.keys.revoke(id)) throw new StemeError("not_found", `no API key ${id}`);
  return json({ id, revoked: true });
}

/**
 * `POST /v1/admin/snapshot` with `{}` or `{"name"}`: an online backup under --backup-dir.
 * Answers `path` (docs/STORAGE.md#backups) and, as it first shipped, the same directory as `dir`.
 */
async function snapshot(deps: AdminDeps, request: Request): Promise<Response> {
  const raw = await readBody(request, deps.limits.read);
  const body = raw.length === 0 ? {} : parseJson(raw);
  if (body === null || typeof body !== "object" || Array.isArray(body) || Object.keys(body).some((k) => k !== "name"))
    throw new StemeError("invalid_request", 'expected {} or {"name": "<directory under --backup-dir>"}');
  const name = (body as { name?: unknown }).name;
  if (name !== undefined && typeof name !== "string") throw new StemeError("invalid_type", "name: expected text");
  const r = await deps.ops.snapshot(name);
  const m = r.manifest;
  return json(
    {
      path: r.dir,
      dir: r.dir,
      lsn: m.lsn,
      records: m.records,
      merkle_root: m.merkle_root,
      files: m.files.length,
      ms: Math.round(r.ms),
    },
    201,
  );
}

function dropViews(engine: QueryEngine): Response {
  const dropped = engine.views.size;
  engine.views.clear();
  return json({ dropped });
}

export function adminRoutes(deps: AdminDeps): Route[] {
  return [
    {
      method: "POST",
      path: "/v1/admin/gold",
      class: "admin",
      handle: ({ request }) => adminGold(deps, request),
      doc: {
        id: "markGold",
        tag: "admin",
        summary: "Mark (or unmark) a gold standard",
        description: "A review signed by the node's authority key; TrustRank scores agents by agreement with gold standards.",
        body: { content: jsonContent(ref("GoldRequest")) },
        answers: {
          201: { description: "the review", schema: ref("GoldResult") },
          200: { description: "already stored", schema: ref("GoldResult") },
        },
        errors: [...jsonBodyCodes, "missing_field", "out_of_range", "invalid_query", "not_found", ...decisionCodes],
      },
    },
    {
      method: "POST",
      path: "/v1/admin/sources/{id+}/confirm",
      class: "admin",
      handle: ({ request, params }) => confirmSource(deps, request, params.id as string),
      doc: {
        id: "confirmSource",
        tag: "admin",
        summary: "Confirm a source's registration (its tier 1–3 counts; a dispute is settled)",
        description:
          "A confirm_source review signed by the node's authority key, of the source's current entry or of the registration `record` names (needed when the source is disputed). docs/SEMANTICS.md#sources-and-registrars.",
        parameters: [pathParam("id", "the source id; its slashes may stay unencoded, or be percent-encoded")],
        body: { required: false, content: jsonContent(ref("SourceConfirmRequest")) },
        answers: { 201: { description: "the review, and the source as it now counts", schema: ref("SourceConfirmResult") } },
        errors: [...jsonBodyCodes, "invalid_query", "unknown_source", "not_found", "source_disputed", ...decisionCodes],
      },
    },
    {
      method: "GET",
      path: "/v1/admin/audit",
      class: "admin",
      handle: ({ url }) => adminAudit(deps, url.searchParams),
      doc: {
        id: "adminAudit",
        tag: "admin",
        summary: "Every decision an authority signed, in log order",
        parameters: [
          timeParam("from", "stated time at or after"),
          timeParam("to", "stated time at or before"),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("AdminAuditPage") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "POST",
      path: "/v1/admin/keys",
      class: "admin",
      handle: ({ request }) => createKey(deps, request),
      doc: {
        id: "createKey",
        tag: "admin",
        summary: "Create an API key; the secret is in this answer only",
        description:
          "With `signing: true` the node also makes and keeps an Ed25519 signing key for it, with which it signs the records this key writes through /mcp; the answer shows its public key (`agent`), never its secret.",
        body: { content: jsonContent(ref("KeyCreateRequest")) },
        answers: { 201: { description: "the key and its secret", schema: ref("KeyCreated") } },
        errors: [...jsonBodyCodes, "missing_field"],
      },
    },
    {
      method: "GET",
      path: "/v1/admin/keys",
      class: "admin",
      handle: () => json({ items: deps.keys.list() }),
      doc: {
        id: "listKeys",
        tag: "admin",
        summary: "API keys (never secrets, hashes or signing secrets)",
        answers: { 200: { description: "the keys", schema: ref("KeyList") } },
      },
    },
    {
      method: "DELETE",
      path: "/v1/admin/keys/{id}",
      class: "admin",
      handle: ({ params }) => revokeKey(deps, params.id as string),
      doc: {
        id: "revokeKey",
        tag: "admin",
        summary: "Revoke an API key, effective at once",
        parameters: [pathParam("id", "the key id, 16 hex digits", str(undefined, { pattern: "^[0-9a-f]{16}$" }))],
        answers: { 200: { description: "revoked", schema: ref("KeyRevoked") } },
        errors: ["invalid_query", "not_found"],
      },
    },
    {
      method: "POST",
      path: "/v1/admin/snapshot",
      class: "admin",
      handle: ({ request }) => snapshot(deps, request),
      doc: {
        id: "snapshot",
        tag: "admin",
        summary: "Take an online backup into a new directory under --backup-dir",
        description:
          "Consistent at one log position: the index copied with VACUUM INTO, the log cut at a frame, a manifest with per-file BLAKE3 and the Merkle root. Check it with `stemedb verify --backup DIR`; restore with `stemedb restore`. The answer's `path` is the backup's directory (`dir` repeats it, as first shipped).",
        body: { required: false, content: jsonContent(ref("SnapshotRequest")) },
        answers: { 201: { description: "the backup", schema: ref("Snapshot") } },
        errors: [...jsonBodyCodes, "no_backup_dir", "busy", "exists", "backup_failed", "io_error"],
      },
    },
    {
      method: "DELETE",
      path: "/v1/admin/views",
      class: "admin",
      handle: () => dropViews(deps.engine),
      doc: {
        id: "dropViews",
        tag: "admin",
        summary: "Drop every materialized view (answers do not change)",
        answers: { 200: { description: "how many were dropped", schema: ref("ViewsDropped") } },
      },
    },
  ];
}
