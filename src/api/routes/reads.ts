/**
 * Reading records (docs/API.md): one by id with its lifecycle derived now, listings by subject
 * (exact, prefix, tail), predicate, agent, source, kind and time, and the concept tree.
 */
import { labelBytesMax, predicateBytesMax, subjectBytesMax } from "../../core/limits.ts";
import { kinds } from "../../core/record.ts";
import { browseConcepts, type ListFilter, listRecords } from "../../index/list.ts";
import { lifecycleOf } from "../../query/query.ts";
import type { Store } from "../../store/store.ts";
import { idParam, paramRef, query, timeParam } from "../openapi/operation.ts";
import { hex32, oneOfEnum, ref } from "../openapi/schema.ts";
import { encodeCursor, knownParams, parseCursor, parseKey, parseLimit, parseText, parseTime } from "../params.ts";
import { badQuery, json, notFound } from "../problem.ts";
import type { Route } from "../route.ts";

export interface ReadDeps {
  store: Store;
}

/** `GET /v1/assertions/{id}`: for an assertion, its flags and the notes that explain them, derived now. */
async function getRecord(store: Store, idHex: string): Promise<Response> {
  const id = parseKey("id", idHex);
  if (!id) throw badQuery("id", "expected 64 hex digits");
  const view = store.getById(id);
  if (!view) throw notFound(`record ${idHex}`);
  if (view.kind === "assertion") {
    await store.indexCaughtUp();
    const { flags, notes } = lifecycleOf(store, view.id, view.subject as string, view.predicate as string);
    view.flags = flags;
    view.notes = notes;
  }
  return json(view);
}

const listParams = ["subject", "predicate", "agent", "source", "kind", "since", "until", "cursor", "limit", "order"];

/** The filter of `GET /v1/assertions` (all but the cursor, whose form a single node and a cluster read apart). */
export function parseListQuery(q: URLSearchParams): Omit<ListFilter, "afterLsn"> {
  knownParams(q, listParams);
  const kindParam = q.get("kind") ?? "assertion";
  const kindList = kindParam === "any" ? [] : kindParam.split(",");
  for (const k of kindList)
    if (!kinds.includes(k as (typeof kinds)[number])) throw badQuery("kind", `expected "any" or a list of ${kinds.join(", ")}`);
  const order = q.get("order") ?? "asc";
  if (order !== "asc" && order !== "desc") throw badQuery("order", 'expected "asc" or "desc"');
  return stripUndefined({
    subject: parseText("subject", q.get("subject"), subjectBytesMax + 2),
    predicate: parseText("predicate", q.get("predicate"), predicateBytesMax),
    agent: parseKey("agent", q.get("agent")),
    source: parseText("source", q.get("source"), labelBytesMax),
    since: parseTime("since", q.get("since")),
    until: parseTime("until", q.get("until")),
    kinds: kindList as Array<(typeof kinds)[number]>,
    limit: parseLimit(q.get("limit")),
    order: order as "asc" | "desc",
  });
}

async function listHandler(store: Store, q: URLSearchParams): Promise<Response> {
  const filter: ListFilter = { ...parseListQuery(q) };
  const afterLsn = parseCursor(q.get("cursor"));
  if (afterLsn !== undefined) filter.afterLsn = afterLsn;
  await store.indexCaughtUp(); // lists see every acknowledged record
  const page = listRecords(store.index, filter);
  return json({
    items: page.items.map((loc) => store.view(loc)),
    next_cursor: page.next === null ? null : encodeCursor(page.next),
  });
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

async function concepts(store: Store, q: URLSearchParams): Promise<Response> {
  const prefix = parseText("prefix", q.get("prefix"), subjectBytesMax) ?? "";
  await store.indexCaughtUp();
  return json(browseConcepts(store.index, prefix, parseLimit(q.get("limit"))));
}

export function readRoutes({ store }: ReadDeps): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/assertions/{id}",
      class: "read",
      handle: ({ params }) => getRecord(store, params.id as string),
      doc: {
        id: "getRecord",
        tag: "read",
        summary: "A record by id, of any kind",
        description:
          "For an assertion, `flags` are its lifecycle flags derived now and `notes` explain them (including what was ignored).",
        parameters: [idParam],
        answers: { 200: { description: "the record", schema: ref("Record") } },
        errors: ["invalid_query", "not_found"],
      },
    },
    {
      method: "GET",
      path: "/v1/assertions",
      class: "read",
      handle: ({ url }) => listHandler(store, url.searchParams),
      doc: {
        id: "listRecords",
        tag: "read",
        summary: "List records",
        description: "Unknown parameters are an error, so a typo never silently widens a query. Listings do not derive flags.",
        parameters: [
          query("subject", "exact path; `a/b/*` for everything below a path; `*/b` for paths ending so"),
          query("predicate", "exact"),
          query("agent", "the agent's public key, hex", hex32("public key")),
          query("source", "a source id, exact"),
          query("kind", `assertion (default), a comma list of ${kinds.join(", ")}, or any`),
          timeParam("since", "ts at or after"),
          timeParam("until", "ts at or before"),
          query("order", "log order", oneOfEnum(["asc", "desc"])),
          paramRef("Limit"),
          paramRef("Cursor"),
        ],
        answers: { 200: { description: "a page", schema: ref("RecordPage") } },
        errors: ["invalid_query"],
      },
    },
    {
      method: "GET",
      path: "/v1/concepts",
      class: "read",
      handle: ({ url }) => concepts(store, url.searchParams),
      doc: {
        id: "concepts",
        tag: "read",
        summary: "The concept tree: the children of a path",
        parameters: [query("prefix", "a concept path; the roots without it"), paramRef("Limit")],
        answers: { 200: { description: "the children", schema: ref("ConceptList") } },
        errors: ["invalid_query"],
      },
    },
  ];
}
