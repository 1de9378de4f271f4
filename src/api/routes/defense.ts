/**
 * Handlers for content defense (docs/DEFENSE.md, issue 5): the quarantine review queue and its
 * decisions, and the circuit breakers.
 *
 * Approving or rejecting is an authority decision: a `review` record signed by the node's key
 * and written through ingest (the Decider), its note naming the API key that asked — so the
 * decision is durable, replicated and in the admin audit like every other.
 */
import { StemeError } from "../../core/errors.ts";
import { toHex } from "../../core/hex.ts";
import { textBytesMax } from "../../core/limits.ts";
import type { Decider } from "../../decisions/decider.ts";
import { decisionNote, parseNote } from "../../decisions/decider.ts";
import type { Defense } from "../../defense/defense.ts";
import type { QuarantineDecision } from "../../defense/quarantine.ts";
import type { Store } from "../../store/store.ts";
import {
  decisionCodes,
  idParam,
  json as jsonContent,
  jsonBodyCodes,
  type OperationDoc,
  paramRef,
  pathParam,
  query,
} from "../openapi/operation.ts";
import { hex32, oneOfEnum, ref } from "../openapi/schema.ts";
import type { Route } from "../route.ts";
import { type BodyLimit, parseJson, readBody } from "../body.ts";
import { encodeCursor, knownParams, parseCursor, parseKey, parseLimit } from "../params.ts";
import { badQuery, json } from "../problem.ts";

export interface DefenseDeps {
  store: Store;
  defense: Defense;
  decider: Decider;
  limits: { read: BodyLimit };
  /** The id of the API key the request came with, or null (open mode). */
  apiKeyOf: (request: Request) => string | null;
}

/** Targets with a decision being written, per node: a second approve/reject of one waits its turn. */
const deciding = new WeakMap<Defense, Set<string>>();

/** A key or id from the path: 64 hex digits, either case. */
function pathKey(field: string, raw: string): string {
  const bytes = parseKey(field, raw.toLowerCase());
  if (!bytes) throw badQuery(field, "expected 64 hex digits");
  return toHex(bytes);
}

// ---------- quarantine ----------

/**
 * `GET /v1/admin/quarantine?limit=&cursor=`: assertions held now, oldest hold first, each with
 * the hold that holds it and why (the rules the policy fired, from the hold's note).
 */
function listQuarantine(deps: DefenseDeps, q: URLSearchParams): Response {
  knownParams(q, ["limit", "cursor"]);
  const limit = parseLimit(q.get("limit"));
  const afterLsn = parseCursor(q.get("cursor")) ?? 0;
  const page = deps.defense.quarantine.page(afterLsn, limit);
  const items = page.items.map(({ target, hold }) => describeHeld(deps.store, target, hold)).filter((x) => x !== null);
  const last = page.items.at(-1);
  return json({
    items,
    held: deps.defense.quarantine.size,
    next_cursor: page.more && last ? encodeCursor(last.hold.lsn) : null,
  });
}

function describeHeld(store: Store, target: string, hold: QuarantineDecision): Record<string, unknown> | null {
  const loc = store.lookupId(Buffer.from(target, "hex"));
  if (!loc) return null; // a hold on a record this node does not have (yet): nothing to show
  const assertion = store.view(loc);
  if (assertion.kind !== "assertion") return null;
  assertion.flags = ["quarantined"];
  const holdLoc = store.lookupId(Buffer.from(hold.id, "hex"));
  const holdView = holdLoc ? store.view(holdLoc) : null;
  const note = parseNote(typeof holdView?.note === "string" ? holdView.note : undefined);
  const reasons = note !== null && typeof note === "object" && Array.isArray(note.reasons) ? note.reasons : null;
  return {
    id: target,
    assertion,
    hold: {
      id: hold.id,
      lsn: hold.lsn,
      agent: holdView?.agent ?? null,
      recorded_at: holdView?.recorded_at ?? null,
      api_key: note !== null && typeof note === "object" ? (note.api_key ?? null) : null,
    },
    rules: reasons ? reasons.map((r) => (r as { rule?: unknown }).rule) : [],
    why: reasons ?? note,
  };
}

/**
 * `POST /v1/admin/quarantine/:id/approve` and `…/reject` with an optional `{"note"}`: the
 * authority's decision on a held assertion. 404 when the assertion is not held (never was, or
 * not here), 409 when it was held and already decided.
 */
async function decideQuarantine(
  deps: DefenseDeps,
  request: Request,
  idRaw: string,
  action: "approve" | "reject",
): Promise<Response> {
  const id = pathKey("id", idRaw);
  const note = parseDecisionBody(await readBody(request, deps.limits.read));
  const book = deps.defense.quarantine;
  const loc = deps.store.lookupId(Buffer.from(id, "hex"));
  const state = book.state(id);
  if (!loc || deps.store.read(loc).record.kind !== "assertion" || state === null)
    throw new StemeError("not_found", `assertion ${id} is not in quarantine on this node`, {
      hint: "GET /v1/admin/quarantine lists what is held",
    });
  const busy = deciding.get(deps.defense) ?? new Set<string>();
  deciding.set(deps.defense, busy);
  if (state !== "held" || busy.has(id)) {
    const latest = book.latest(id);
    throw new StemeError(
      "already_decided",
      busy.has(id) ? `a decision on ${id} is being written` : `assertion ${id} was already ${state}`,
      { extra: { state: busy.has(id) ? "deciding" : state, decision: latest?.id ?? null } },
    );
  }
  busy.add(id);
  try {
    const write = await deps.decider.write(
      {
        kind: "review",
        action,
        target: id,
        note: decisionNote(note === undefined ? {} : { note }, deps.apiKeyOf(request)),
      },
      book.latest(id)?.ts ?? 0,
    );
    return json(
      { ...write, action, target: id, state: action === "approve" ? "approved" : "rejected" },
      write.duplicate ? 200 : 201,
    );
  } finally {
    busy.delete(id);
  }
}

/** `{"note"?: text}`, or an empty body. */
function parseDecisionBody(raw: Uint8Array): string | undefined {
  if (raw.length === 0) return undefined;
  const body = parseJson(raw);
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new StemeError("invalid_request", 'expected a JSON object like {"note": "checked against the label"}');
  for (const key of Object.keys(body))
    if (key !== "note")
      throw new StemeError("unknown_field", `${key}: not a field of a decision; expected note`, { extra: { field: key } });
  const { note } = body as { note?: unknown };
  if (note !== undefined && (typeof note !== "string" || Buffer.byteLength(note) > textBytesMax / 2))
    throw new StemeError("invalid_type", `note: expected text of at most ${textBytesMax / 2} bytes`, {
      extra: { field: "note" },
    });
  return note as string | undefined;
}

// ---------- circuit breakers ----------

/** `GET /v1/admin/breakers`: per-agent breakers that are open, half-open or busy, and the global one. */
function listBreakers(deps: DefenseDeps, q: URLSearchParams): Response {
  knownParams(q, ["state"]);
  const state = q.get("state");
  if (state !== null && !["closed", "open", "half_open"].includes(state))
    throw badQuery("state", "expected closed, open or half_open");
  const now = deps.defense.now();
  const items = deps.defense.breakers.list(now).filter((b) => state === null || b.state === state);
  return json({ items, global: deps.defense.global.snapshot(now), rejections: deps.defense.breakers.rejections });
}

/** `POST /v1/admin/breakers/:agent/reset`: closes the agent's breaker and empties its windows. */
function resetBreaker(deps: DefenseDeps, agentRaw: string): Response {
  const agent = pathKey("agent", agentRaw);
  if (!deps.defense.breakers.reset(agent))
    throw new StemeError("not_found", `no circuit breaker for agent ${agent} (it has not written lately)`);
  return json({ agent, reset: true, ...deps.defense.breakers.get(agent, deps.defense.now()) });
}

function decideDoc(action: "approve" | "reject", id: string, summary: string): OperationDoc {
  return {
    id,
    tag: "admin",
    summary,
    description: `A \`${action}\` review signed by the node's authority key, its note naming the API key. 404 when the assertion is not held, 409 when it was already decided.`,
    parameters: [idParam],
    body: { required: false, content: jsonContent(ref("QuarantineDecisionRequest")) },
    answers: { 201: { description: "the decision", schema: ref("QuarantineDecision") } },
    errors: [...jsonBodyCodes, "invalid_query", "not_found", "already_decided", ...decisionCodes],
  };
}

export function defenseRoutes(deps: DefenseDeps): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/admin/quarantine",
      class: "admin",
      handle: ({ url }) => listQuarantine(deps, url.searchParams),
      doc: {
        id: "listQuarantine",
        tag: "admin",
        summary: "Assertions held in quarantine now, with why",
        description:
          "Held at ingest by a policy (--quarantine-unknown-agents, --quarantine-trust-below, --quarantine-gold) or by an authority's hold review; invisible to lenses until approved.",
        parameters: [paramRef("Limit"), paramRef("Cursor")],
        answers: { 200: { description: "a page", schema: ref("QuarantinePage") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "POST",
      path: "/v1/admin/quarantine/{id}/approve",
      class: "admin",
      handle: ({ request, params }) => decideQuarantine(deps, request, params.id as string, "approve"),
      doc: decideDoc("approve", "approveQuarantine", "Approve a held assertion"),
    },
    {
      method: "POST",
      path: "/v1/admin/quarantine/{id}/reject",
      class: "admin",
      handle: ({ request, params }) => decideQuarantine(deps, request, params.id as string, "reject"),
      doc: decideDoc("reject", "rejectQuarantine", "Reject a held assertion"),
    },
    {
      method: "GET",
      path: "/v1/admin/breakers",
      class: "admin",
      handle: ({ url }) => listBreakers(deps, url.searchParams),
      doc: {
        id: "listBreakers",
        tag: "admin",
        summary: "Per-agent circuit breakers that are open, half-open or busy, and the global breaker",
        parameters: [query("state", "only breakers in this state", oneOfEnum(["closed", "open", "half_open"]))],
        answers: { 200: { description: "the breakers", schema: ref("BreakerList") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "POST",
      path: "/v1/admin/breakers/{agent}/reset",
      class: "admin",
      handle: ({ params }) => resetBreaker(deps, params.agent as string),
      doc: {
        id: "resetBreaker",
        tag: "admin",
        summary: "Close an agent's circuit breaker and empty its windows",
        parameters: [pathParam("agent", "an agent key, 64 hex digits", hex32("agent key"))],
        answers: { 200: { description: "closed", schema: ref("BreakerReset") } },
        errors: ["invalid_query", "not_found"],
      },
    },
  ];
}
