/**
 * The MCP endpoint (docs/MCP.md#over-http-at-mcp): the MCP tools over Streamable HTTP at `/mcp`,
 * for remote agents, with an API key as the bearer.
 *
 * **Stateless.** Each POST gets its own MCP server and transport, answers in JSON (no SSE
 * stream) and is done: nothing is kept between requests, so any node behind a balancer can take
 * any request, and there is no session table to bound or expire. It costs a server and a
 * transport per request — well under a millisecond (docs/BENCHMARKS.md#mcp) — the tool list is
 * built once per namespace. The MCP specification lets a server without sessions or a server-
 * sent stream answer GET and DELETE with 405, which the route table does (only POST is a row).
 *
 * **Who writes.** A remote agent cannot sign through MCP, so records written here are signed by
 * the signing key the node keeps for the caller's API key (`keys create --signing`); their
 * `agent` is its public key, so every record still verifies and says which key wrote it. An
 * API key without one, a reader key, or a node with no keys at all (open mode: nobody to sign
 * as) gets a refused call from the writing tools, with the hint to make such a key. Reads
 * need only the door's reader role, which this route's class asks for.
 *
 * **In-process.** The tools use the HTTP API through the project's client, whose `fetch` here
 * hands each request to the node's own request path (`dispatch`: the door with the caller's key,
 * rate limits, deadline, metrics, the query audit trail) without a socket — the same rules as
 * over the network, one loopback hop fewer, and the MCP layer never reaches into the store.
 * The MCP layer and the SDK are loaded on the first request, so a node that never serves MCP
 * does not pay for them at start.
 */
import { type KeyStore, roleAtLeast } from "../../auth/keys.ts";
import type { KeyPair } from "../../crypto/sign.ts";
import { StemeError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import { type BodyLimit, parseJson, readBody } from "../body.ts";
import { bodyCodes, json as jsonContent, query } from "../openapi/operation.ts";
import { anyValue, arr, obj, ref, str } from "../openapi/schema.ts";
import { knownParams } from "../params.ts";
import type { Route } from "../route.ts";

export interface McpDeps {
  keys: KeyStore;
  version: string;
  logger: Logger;
  limits: { write: BodyLimit };
  apiKeyOf: (request: Request) => string | null;
  requestIdOf: (request: Request) => string | undefined;
  addressOf: (request: Request) => string;
  /** The node's request path, in-process: the door, limits and metrics as for any request. */
  dispatch: (request: Request, address: string) => Promise<Response>;
}

/** The origin the in-process client's URLs carry; nothing listens there, `dispatch` takes them. */
const inProcessOrigin = "http://stemedb.in-process";

let layer:
  | Promise<[typeof import("../../mcp/index.ts"), typeof import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js")]>
  | undefined;

function loadLayer() {
  layer ??= Promise.all([import("../../mcp/index.ts"), import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js")]);
  return layer;
}

async function handleMcp(deps: McpDeps, request: Request, url: URL): Promise<Response> {
  knownParams(url.searchParams, ["namespace"]);
  const body = parseJson(await readBody(request, deps.limits.write));
  const [{ createBackend, createMcpServer, keySigner, Namespace }, { WebStandardStreamableHTTPServerTransport }] =
    await loadLayer();
  const namespace = Namespace.parse(url.searchParams.get("namespace") ?? undefined);
  const signing = signingFor(deps, request);
  const signer = signing instanceof StemeError ? signing : keySigner(signing);
  const backend = createBackend(inProcessConnection(deps, request), signer, namespace);
  const server = createMcpServer(backend, { version: deps.version, logger: deps.logger });
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request, { parsedBody: body });
  } finally {
    await server.close();
  }
}

/** The caller's signing key, or why its writes are refused (see the top of this file). */
function signingFor(deps: McpDeps, request: Request): KeyPair | StemeError {
  const keyId = deps.apiKeyOf(request);
  if (keyId === null)
    return new StemeError(
      "no_signing_key",
      "this node has no API keys, so nobody can be signed for: writing through /mcp needs an API key with a signing key",
    );
  const info = deps.keys.info(keyId);
  if (info === null) return new StemeError("unauthorized", "the API key is unknown or revoked");
  if (!roleAtLeast(info.role, "writer"))
    return new StemeError("forbidden", `writing needs the writer role; this API key has ${info.role}`, {
      hint: "use a writer key made with a signing key: `stemedb keys create --signing --role writer --name NAME`",
    });
  const key = deps.keys.signingKey(keyId);
  if (key === null)
    return new StemeError(
      "no_signing_key",
      `the API key ${keyId} (${info.name}) has no signing key, so the node cannot sign its writes`,
    );
  return key;
}

/** A connection whose requests go through the node's request path in-process, as the caller. */
function inProcessConnection(deps: McpDeps, request: Request) {
  const headers: Record<string, string> = {};
  const authorization = request.headers.get("authorization");
  if (authorization) headers.authorization = authorization;
  const requestId = deps.requestIdOf(request);
  if (requestId) headers["x-request-id"] = requestId; // the calls a tool makes share the MCP request's id in the log
  const address = deps.addressOf(request);
  const dispatch = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    deps.dispatch(input instanceof Request ? new Request(input, init) : new Request(String(input), init), address);
  return { url: inProcessOrigin, headers, fetch: Object.assign(dispatch, { preconnect: fetch.preconnect }) as typeof fetch };
}

const jsonRpcEnvelope = obj({
  jsonrpc: { const: "2.0" },
  "id?": anyValue("the request's id"),
  "result?": anyValue("the result (tools/call: content, structuredContent, isError)"),
  "error?": anyValue("a protocol error: {code, message}"),
});

const jsonRpc = (description: string) => ({
  "application/json": { schema: { description, oneOf: [jsonRpcEnvelope, arr(jsonRpcEnvelope)] } },
});

export function mcpRoutes(deps: McpDeps): Route[] {
  return [
    {
      method: "POST",
      path: "/mcp",
      class: "read",
      handle: ({ request, url }) => handleMcp(deps, request, url),
      doc: {
        id: "mcp",
        tag: "mcp",
        summary: "The MCP tools over Streamable HTTP (stateless, JSON answers)",
        description:
          "One JSON-RPC message (or a batch) per request, as the Model Context Protocol's Streamable HTTP transport sends it: `Accept: application/json, text/event-stream`, `Content-Type: application/json`. No sessions: GET and DELETE answer 405. The door needs a reader key; the writing tools need a writer key the node keeps a signing key for (`stemedb keys create --signing`), whose public key signs the records. A refused tool call is a JSON-RPC result with `isError: true` and the problem's code (docs/MCP.md).",
        parameters: [query("namespace", "keep the agent's subjects under this prefix (docs/MCP.md#namespaces)", str())],
        body: {
          description: `a JSON-RPC request, notification or batch; at most the write body limit (--write-body-limit)`,
          content: jsonContent(anyValue("JSON-RPC 2.0")),
        },
        answers: {
          200: { description: "the JSON-RPC response(s)", content: jsonRpc("a JSON-RPC response, or an array of them") },
          202: { description: "notifications or responses only: accepted, no body" },
          400: {
            description: "not JSON (a problem), or not a JSON-RPC message (a JSON-RPC error)",
            content: {
              ...jsonRpc("a JSON-RPC error"),
              "application/problem+json": {
                schema: {
                  allOf: [
                    ref("Problem"),
                    { properties: { code: { enum: ["malformed_json", "invalid_query", "invalid_path"] } } },
                  ],
                },
              },
            },
          },
          406: { description: "Accept lacks application/json or text/event-stream", content: jsonRpc("a JSON-RPC error") },
          415: { description: "Content-Type is not application/json", content: jsonRpc("a JSON-RPC error") },
        },
        errors: [...bodyCodes],
      },
    },
  ];
}
