/**
 * Read routing (docs/CLUSTER.md#routing): any node takes any read, and answers it as a node
 * holding every record would.
 *
 * - A query about one subject — `GET` and `POST /v1/query`, `GET /v1/subjects/{path}` — is
 *   answered by a node that holds the subject's shard **in sync** (and the global records): this
 *   node when it can, else the first such replica, else a complete leaver; a node that is not in
 *   sync refuses a forwarded read (`shard_unavailable`) and the next candidate is asked. Nothing
 *   is answered from a partial shard; with no candidate left the answer is `503
 *   shard_unavailable` with Retry-After.
 * - `GET /v1/assertions/{id}`: the id does not say its shard. A record held here is answered here
 *   (a global one), or by a reader of its shard (an assertion); otherwise every live peer is
 *   asked whether it holds it, and the request goes to one that does. `404` only once a reader
 *   of every shard said no.
 * - `GET /v1/assertions` gathers from one reader per shard (gather.ts).
 *
 * Forwarding goes over the `rpc` channel of an authenticated session, not over HTTP to the
 * peer's API port: the session already proves the peer is a member (docs/CLUSTER-WIRE.md), so
 * the receiving node's door (API keys, rate limits) need not admit the request twice — nor must
 * every node hold every node's API keys — and it costs one frame each way on a connection that
 * is already open (docs/BENCHMARKS.md has the measurement). The forwarded request carries its
 * request id (`X-Request-Id`), a W3C `traceparent` (the caller's trace with a new span, or a new
 * trace), the content type and accept headers, and who asked (for the audit trail). The answer
 * says who answered: `X-Stemedb-Answered-By`.
 *
 * These are wrappers around the route table's rows (src/api/routes): the handlers are the
 * single node's, untouched. A single node does not wrap anything.
 */
import type { Route, RouteContext } from "../../api/route.ts";
import type { ForwardedFacts } from "../../api/http.ts";
import { parseKey } from "../../api/params.ts";
import { StemeError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { decodeStoredBody } from "../../crypto/signed.ts";
import { kindCodes } from "../../index/schema.ts";
import type { ReplicationMetrics } from "../../metrics/replication.ts";
import type { Store } from "../../store/store.ts";
import { shardOf } from "../placement.ts";
import { type PeerLink, PeerUnavailable } from "./rpc.ts";
import { stateCodes, type ShardMap } from "./shards.ts";
import type { MessageOf } from "./wire.ts";

export interface RouterOptions {
  /** How long a forwarded read may take. */
  forwardTimeoutMs: number;
  /** A body read to find a query's subject at most (the read routes' own limit). */
  readBodyBytesMax: number;
}

/** What each request knows about itself (src/api/http.ts RequestBook). */
export interface RequestFactsOf {
  requestIdOf(request: Request): string | undefined;
  callerOf(request: Request): string;
  apiKeyOf(request: Request): string | null;
  addressOf(request: Request): string;
}

export interface RouterDeps {
  shards: ShardMap;
  store: Store;
  rpc(peer: string): PeerLink;
  nameOf(peer: string): string;
  facts: RequestFactsOf;
  metrics: ReplicationMetrics | undefined;
  logger: Logger;
}

/** Headers a forwarded request keeps. */
const keptHeaders = ["content-type", "accept", "x-request-id", "traceparent", "tracestate"];
/** Headers of a forwarded answer that travel back. */
const answerHeaders = ["content-type", "retry-after", "x-stemedb-answered-by"];

export function shardUnavailable(shard: number | "global", why: string): StemeError {
  const which = shard === "global" ? "the global records" : `shard ${shard}`;
  return new StemeError("shard_unavailable", `no replica holding ${which} in sync could answer: ${why}`, {
    extra: { shard, retry_after_s: 1 },
  });
}

/** A W3C trace context for a forwarded hop: the caller's trace with a new span id, or a new trace. */
export function childTraceparent(incoming: string | null): string {
  const span = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  const m = incoming ? /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/.exec(incoming) : null;
  if (m && m[1] !== "0".repeat(32)) return `00-${m[1]}-${span}-${m[2]}`;
  return `00-${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}-${span}-00`;
}

export class ReadRouter {
  private readonly forwarded = new WeakSet<Request>();
  private dispatch: ((request: Request, facts: ForwardedFacts) => Promise<Response>) | null = null;

  constructor(
    private readonly deps: RouterDeps,
    private readonly options: RouterOptions,
  ) {}

  /** The node's request path for forwarded requests (src/api/http.ts forwardedHandler). */
  setDispatch(dispatch: (request: Request, facts: ForwardedFacts) => Promise<Response>): void {
    this.dispatch = dispatch;
  }

  /** Was this request forwarded here by a peer? (Then it is answered here or refused, never forwarded on.) */
  isForwarded(request: Request): boolean {
    return this.forwarded.has(request);
  }

  /** The route table with the cluster's reads wrapped; `list` answers `GET /v1/assertions`. */
  wrap(routes: readonly Route[], list: (ctx: RouteContext, route: Route) => Promise<Response>): Route[] {
    return routes.map((route) => {
      switch (`${route.method} ${route.path}`) {
        case "GET /v1/query":
          return this.bySubject(route, async (ctx) => ctx.url.searchParams.get("subject") ?? undefined);
        case "POST /v1/query":
          return this.bySubject(route, (ctx) => this.subjectInBody(ctx.request));
        case "GET /v1/subjects/{path+}":
          return this.bySubject(route, async (ctx) => ctx.params.path);
        case "GET /v1/assertions/{id}":
          return { ...route, handle: (ctx) => this.byId(ctx, route) };
        case "GET /v1/assertions":
          return { ...route, handle: (ctx) => (this.isForwarded(ctx.request) ? route.handle(ctx) : list(ctx, route)) };
        default:
          return route;
      }
    });
  }

  private bySubject(route: Route, subjectOf: (ctx: RouteContext) => Promise<string | undefined>): Route {
    return {
      ...route,
      handle: async (ctx) => {
        const subject = await subjectOf(ctx).catch(() => undefined);
        // No subject (or a body that does not parse): the route's own checks answer, here.
        if (subject === undefined || subject === "") return route.handle(ctx);
        return this.answerFor(shardOf(subject, this.deps.shards.shardCount), ctx, route);
      },
    };
  }

  /** The subject of a `POST /v1/query` body, read from a copy (the route reads the original). */
  private async subjectInBody(request: Request): Promise<string | undefined> {
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > this.options.readBodyBytesMax) return undefined;
    const text = await request.clone().text();
    if (text.length > this.options.readBodyBytesMax) return undefined;
    const subject = (JSON.parse(text) as { subject?: unknown } | null)?.subject;
    return typeof subject === "string" ? subject : undefined;
  }

  /** Here when this node is an in-sync replica of `shard`; else the first reader that answers (this node among them). */
  private async answerFor(shard: number, ctx: RouteContext, route: Route): Promise<Response> {
    const { shards } = this.deps;
    if (shards.servesReads(shard)) return route.handle(ctx);
    if (this.isForwarded(ctx.request)) {
      if (shards.answersAsFallback(shard)) return route.handle(ctx);
      throw shardUnavailable(shard, "the node it was forwarded to is not in sync for it");
    }
    return this.forwardToReaders(shards.readers(shard), shard, ctx.request, () => route.handle(ctx));
  }

  /** Tries `readers` in turn (this node, when listed, by `here`); a reader that cannot be reached or is not in sync passes it on. */
  private async forwardToReaders(
    readers: readonly string[],
    shard: number | "global",
    request: Request,
    here?: () => Response | Promise<Response>,
  ): Promise<Response> {
    let why = "no live replica holds it in sync";
    for (const peer of readers) {
      if (peer === this.deps.shards.selfId) {
        if (here) return here();
        continue;
      }
      try {
        const response = await this.forward(peer, request);
        if (response.status === 503 && (await problemCode(response)) === "shard_unavailable") {
          why = `${this.deps.nameOf(peer)} is not in sync`;
          continue;
        }
        return response;
      } catch (err) {
        if (!(err instanceof PeerUnavailable)) throw err;
        why = err.message;
      }
    }
    throw shardUnavailable(shard, why);
  }

  /** `GET /v1/assertions/{id}`: here, or where the record's shard is read. */
  private async byId(ctx: RouteContext, route: Route): Promise<Response> {
    const id = (() => {
      try {
        return parseKey("id", ctx.params.id ?? null);
      } catch {
        return undefined;
      }
    })();
    if (id === undefined || this.isForwarded(ctx.request)) return route.handle(ctx);
    const { store, shards } = this.deps;
    const loc = store.lookupId(id);
    if (loc) {
      if (loc.kind !== kindCodes.assertion) return route.handle(ctx);
      const record = decodeStoredBody(store.read(loc).body);
      if (record.kind === "assertion") return this.answerFor(shardOf(record.subject, shards.shardCount), ctx, route);
    }
    const peers = shards.live.map((m) => m.nodeId).filter((p) => p !== shards.selfId);
    const answers = await Promise.all(
      peers.map((peer) =>
        this.deps
          .rpc(peer)
          .call({ type: "has", id }, this.options.forwardTimeoutMs, "has_answer")
          .then((a) => ({ peer, a }))
          .catch(() => null),
      ),
    );
    const found = answers.find((x) => x?.a.found);
    if (found) {
      const shard = found.a.shard;
      if (shard === null) return this.forwardToReaders([found.peer], "global", ctx.request);
      const readers = shards.readers(shard);
      const order = readers.includes(found.peer) ? [found.peer, ...readers.filter((p) => p !== found.peer)] : readers;
      return this.forwardToReaders(order, shard, ctx.request, () => route.handle(ctx));
    }
    const answered = new Set(answers.filter((x) => x !== null).map((x) => (x as { peer: string }).peer));
    const uncovered = this.uncoveredShards(answered);
    if (uncovered === null) return route.handle(ctx); // a reader of every shard said no: 404 here
    throw shardUnavailable(uncovered, "its readers could not be asked whether they hold the record");
  }

  /** A shard (or the globals) no in-sync reader among this node and `answered` covers, or null. */
  private uncoveredShards(answered: ReadonlySet<string>): number | "global" | null {
    const { shards } = this.deps;
    const readers = [shards.selfId, ...answered];
    if (!readers.some((p) => shards.globalInSync(p))) return "global";
    for (let s = 0; s < shards.shardCount; s++) {
      const covered = readers.some((p) => {
        const c = shards.codeOf(p, s);
        return c === stateCodes.in_sync || c === stateCodes.leaving;
      });
      if (!covered) return s;
    }
    return null;
  }

  /** Sends `request` to `peer` over its `rpc` channel and turns the answer back into a Response. */
  async forward(peer: string, request: Request): Promise<Response> {
    const url = new URL(request.url);
    const headers: Array<[string, string]> = [];
    for (const name of keptHeaders) {
      const v = request.headers.get(name);
      if (v !== null && name !== "traceparent") headers.push([name, v]);
    }
    const requestId = this.deps.facts.requestIdOf(request);
    if (requestId) headers.push(["x-request-id", requestId]);
    headers.push(["traceparent", childTraceparent(request.headers.get("traceparent"))]);
    headers.push(["x-stemedb-caller", this.deps.facts.callerOf(request)]);
    const keyId = this.deps.facts.apiKeyOf(request);
    if (keyId) headers.push(["x-stemedb-key-id", keyId]);
    const body = request.method === "GET" ? null : new Uint8Array(await request.clone().arrayBuffer());
    let answer: MessageOf<"response">;
    try {
      answer = await this.deps
        .rpc(peer)
        .call(
          { type: "forward", method: request.method, path: url.pathname + url.search, headers, body },
          this.options.forwardTimeoutMs,
          "response",
        );
      this.deps.metrics?.forwardedTotal.inc({ kind: "read", result: "ok" });
    } catch (err) {
      this.deps.metrics?.forwardedTotal.inc({ kind: "read", result: "failed" });
      if (err instanceof StemeError) throw new PeerUnavailable(`${this.deps.nameOf(peer)} refused: ${err.message}`);
      throw err;
    }
    const out = new Headers();
    for (const [k, v] of answer.headers) if (answerHeaders.includes(k)) out.set(k, v);
    out.set("x-stemedb-answered-by", this.deps.nameOf(peer));
    return new Response(answer.body, { status: answer.status, headers: out });
  }

  /** A peer's `forward`: the request through this node's request path, marked so it is answered here. */
  async answerForward(m: MessageOf<"forward">, peer: string): Promise<MessageOf<"response">> {
    if (!this.dispatch) throw new StemeError("unavailable", "this node does not take forwarded requests yet");
    const get = (name: string) => m.headers.find(([k]) => k === name)?.[1] ?? null;
    const headers = new Headers(m.headers.filter(([k]) => !k.startsWith("x-stemedb-")));
    const request = new Request(`http://cluster.internal${m.path}`, {
      method: m.method,
      headers,
      ...(m.body && m.method !== "GET" ? { body: m.body } : {}),
    });
    this.forwarded.add(request);
    const response = await this.dispatch(request, {
      requestId: get("x-request-id"),
      caller: get("x-stemedb-caller") ?? `peer:${this.deps.nameOf(peer)}`,
      keyId: get("x-stemedb-key-id"),
      address: `peer:${this.deps.nameOf(peer)}`,
    });
    const out: Array<[string, string]> = [];
    response.headers.forEach((v, k) => {
      out.push([k, v]);
    });
    return {
      type: "response",
      seq: m.seq,
      status: response.status,
      headers: out,
      body: new Uint8Array(await response.arrayBuffer()),
    };
  }
}

/** The `code` of a problem answer (read from a copy). */
async function problemCode(response: Response): Promise<string | null> {
  try {
    return ((await response.clone().json()) as { code?: string }).code ?? null;
  } catch {
    return null;
  }
}
