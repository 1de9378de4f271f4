/**
 * The change feed, `GET /v1/changes` (docs/API.md#change-feed): server-sent events — every new
 * record (event `record`, SSE id = its LSN, so `Last-Event-ID` resumes with nothing lost or
 * repeated) and, for watched (subject, predicate) pairs, `conflict` when κ crosses a threshold
 * or the winner changes. The work is in src/feed; this module reads the parameters.
 */
import { predicateBytesMax, subjectBytesMax } from "../../core/limits.ts";
import { type Kind, kinds } from "../../core/record.ts";
import type { ChangeFeed, WatchRequest } from "../../feed/change-feed.ts";
import type { FeedFilter } from "../../feed/filter.ts";
import { parseSubjectMatch } from "../../index/list.ts";
import { checkLens } from "../../query/query.ts";
import type { Store } from "../../store/store.ts";
import { query } from "../openapi/operation.ts";
import { hex32, int, num, ref, str } from "../openapi/schema.ts";
import { knownParams, parseKey, parseText } from "../params.ts";
import { badQuery } from "../problem.ts";
import type { Route } from "../route.ts";

export interface ChangesDeps {
  store: Store;
  feed: ChangeFeed;
  /** Re-arms a streaming request's idle timeout (seconds); see http.ts. */
  lingerOf: (request: Request) => (secs: number) => void;
}

/** Watched pairs per follower. */
export const watchPairsMax = 100;
const defaultLens = "consensus";
const defaultMinConflict = 0.5;
const params = ["since", "subject", "kind", "agent", "watch", "lens", "layers", "min_conflict"];

export const streamHeaders = {
  "content-type": "text/event-stream; charset=utf-8",
  // Every event now, not when a proxy's buffer fills (nginx honours X-Accel-Buffering).
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** An LSN: `since=` or `Last-Event-ID`; not past the end of this node's log. */
function parseLsn(field: string, raw: string, lastLsn: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw badQuery(field, `expected a log position (an integer ≥ 0), got "${raw.slice(0, 40)}"`);
  if (n > lastLsn)
    throw badQuery(
      field,
      `this node's log ends at ${lastLsn}; position ${n} is not one it gave (another node's, or a lost tail)`,
    );
  return n;
}

/** `Last-Event-ID` wins over `since`: EventSource reconnects to the same URL, adding the header. */
export function startOf(q: URLSearchParams, headers: Headers, lastLsn: number): number | undefined {
  const resume = headers.get("last-event-id");
  if (resume !== null && resume.trim() !== "") return parseLsn("Last-Event-ID", resume.trim(), lastLsn);
  const since = q.get("since");
  if (since === null || since === "" || since === "now") return undefined;
  return parseLsn("since", since, lastLsn);
}

export function parseFilter(q: URLSearchParams): FeedFilter {
  const filter: FeedFilter = {};
  const subject = parseText("subject", q.get("subject"), subjectBytesMax + 2);
  if (subject !== undefined) filter.subject = parseSubjectMatch(subject);
  const kind = q.get("kind");
  if (kind !== null && kind !== "" && kind !== "any") {
    const list = kind.split(",");
    for (const k of list)
      if (!kinds.includes(k as Kind)) throw badQuery("kind", `expected "any" or a comma list of ${kinds.join(", ")}`);
    filter.kinds = new Set(list as Kind[]);
  }
  const agent = parseKey("agent", q.get("agent"));
  if (agent !== undefined) filter.agent = agent;
  return filter;
}

/** `watch=subject|predicate` (repeatable; split at the last `|`), `lens`, `layers`, `min_conflict`. */
export function parseWatch(q: URLSearchParams): WatchRequest | undefined {
  const raw = q.getAll("watch");
  if (raw.length === 0) {
    for (const p of ["lens", "layers", "min_conflict"]) if (q.has(p)) throw badQuery(p, "only with watch=subject|predicate");
    return undefined;
  }
  if (raw.length > watchPairsMax) throw badQuery("watch", `at most ${watchPairsMax} pairs`);
  const pairs = raw.map((w) => {
    const bar = w.lastIndexOf("|");
    const subject = w.slice(0, bar);
    const predicate = w.slice(bar + 1);
    if (bar <= 0 || predicate === "") throw badQuery("watch", `expected subject|predicate, got "${w.slice(0, 80)}"`);
    if (subject.includes("*") || subject.split("/").some((s) => s === "") || Buffer.byteLength(subject) > subjectBytesMax)
      throw badQuery("watch", `"${subject.slice(0, 80)}" is not a subject path`);
    if (Buffer.byteLength(predicate) > predicateBytesMax)
      throw badQuery("watch", `a predicate is at most ${predicateBytesMax} bytes`);
    return { subject, predicate };
  });
  const lens = q.get("lens") || defaultLens;
  checkLens(lens);
  const layers = q.get("layers") ? (q.get("layers") as string).split(",") : undefined;
  for (const l of layers ?? []) checkLens(l);
  if (lens === "layered" && !layers) throw badQuery("layers", "the layered lens needs layers=a,b,…");
  const rawMin = q.get("min_conflict");
  const threshold = rawMin === null || rawMin === "" ? defaultMinConflict : Number(rawMin);
  if (!(threshold >= 0 && threshold <= 1)) throw badQuery("min_conflict", "expected a κ in [0, 1]");
  return { pairs, lens, ...(layers ? { layers } : {}), threshold };
}

function follow(deps: ChangesDeps, request: Request, q: URLSearchParams): Response {
  knownParams(q, params);
  const since = startOf(q, request.headers, deps.store.log.lastLsn);
  const filter = parseFilter(q);
  const watch = parseWatch(q);
  const follower = deps.feed.follow({
    filter,
    ...(since !== undefined ? { since } : {}),
    ...(watch ? { watch } : {}),
    linger: deps.lingerOf(request),
  });
  return new Response(follower.stream, { headers: streamHeaders });
}

export function changeRoutes(deps: ChangesDeps): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/changes",
      class: "read",
      stream: true,
      handle: ({ request, url }) => follow(deps, request, url.searchParams),
      doc: {
        id: "changes",
        tag: "read",
        summary: "The change feed: new records and conflicts as server-sent events",
        description:
          "`text/event-stream` (docs/API.md#change-feed). Event `record`: `id` is the record's LSN, `data` the record as listings show it (schema Record). Event `conflict` (no id): a watched pair's κ crossed `min_conflict` or its winner changed (schema ChangeConflict); the first for each pair says where it stands. Event `cutoff`: the follower was too slow; `data` (schema ChangeCutoff) names its last position, then the stream ends. Comment lines are heartbeats; a block with only `id` moves the resume point past records the filter skipped. `Last-Event-ID` wins over `since`. Unknown parameters are an error.",
        parameters: [
          query(
            "since",
            "start after this log position (`now`, the default: only new records)",
            str(undefined, { pattern: "^(\\d+|now)$" }),
          ),
          query("subject", "exact path; `a/b/*` for everything below a path; `*/b` for paths ending so (assertions only)"),
          query("kind", `every kind (default, or any), or a comma list of ${kinds.join(", ")}`),
          query("agent", "only records signed by this agent, hex", hex32("public key")),
          query(
            "watch",
            `subject|predicate (split at the last |) to watch for conflicts; repeat for more, up to ${watchPairsMax}`,
          ),
          query("lens", "the lens watched pairs are resolved through (default consensus)", ref("Lens")),
          query("layers", "for layered: lenses in order, comma-separated"),
          query(
            "min_conflict",
            "κ threshold of conflict events, in [0, 1] (default 0.5)",
            num(undefined, { minimum: 0, maximum: 1 }),
          ),
          {
            name: "Last-Event-ID",
            in: "header",
            description: "resume after this log position (the last `id` received); wins over `since`",
            schema: int(undefined, { minimum: 0 }),
          },
        ],
        answers: {
          200: {
            description: "the event stream; it ends only on a cut-off or when the server stops",
            content: { "text/event-stream": { schema: str("server-sent events (WHATWG HTML §9.2)") } },
            headers: {
              "Cache-Control": { description: "no-cache", schema: str() },
              "X-Accel-Buffering": { description: "no: proxies pass each event on at once", schema: str() },
            },
          },
        },
        errors: ["invalid_query", "unknown_lens", "too_many_followers", "unavailable"],
      },
    },
  ];
}
