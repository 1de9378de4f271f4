/**
 * The MCP server (docs/MCP.md): the tools, the lens guide resource and the fact-check prompt
 * over one backend, on the SDK's protocol `Server` — one per stdio session, one per request on
 * the node's `/mcp` (stateless).
 *
 * Why the low-level `Server` and not the SDK's `McpServer`: `McpServer` checks tool arguments
 * itself and answers a failure as bare text, while here every refused call — a wrong argument
 * included — must carry the API's problem code and a hint (problem.ts, args.ts). So the tool
 * list and the calls are dispatched here; the SDK still does the protocol, the capabilities
 * and the transports. Tool definitions (JSON Schema from the zod schemas) are built once per
 * namespace and kept, since the HTTP endpoint makes a server per request.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  type CallToolResult,
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type Tool as ToolDefinition,
} from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { z } from "zod";
import type { Logger } from "../core/logger.ts";
import { parseArguments } from "./args.ts";
import type { McpBackend } from "./backend.ts";
import { factCheckPrompt, lensGuideText, lensGuideUri, serverInstructions } from "./guide.ts";
import type { Namespace } from "./namespace.ts";
import { errorResult, internalProblem, problemOf } from "./problem.ts";
import type { Tool } from "./tool.ts";
import { assertClaim } from "./tools/assert-claim.ts";
import { listClaims } from "./tools/list-claims.ts";
import { queryClaim } from "./tools/query-claim.ts";
import { registerSource } from "./tools/register-source.ts";
import { retractClaim } from "./tools/retract-claim.ts";
import { traceProvenance } from "./tools/trace-provenance.ts";
import { voteClaim } from "./tools/vote-claim.ts";

/** Every tool, in the order a client lists them. */
export const tools: readonly Tool[] = [
  assertClaim,
  queryClaim,
  listClaims,
  voteClaim,
  retractClaim,
  traceProvenance,
  registerSource,
];

export interface McpServerOptions {
  /** The StemeDB version the server reports. */
  version: string;
  /** Where a tool's bug is logged (stderr: stdout is the protocol on stdio). */
  logger: Logger;
}

/** The server for one session (stdio) or one request (HTTP); connect it to a transport. */
export function createMcpServer(backend: McpBackend, options: McpServerOptions): Server {
  const agent = "sign" in backend.signer ? backend.signer.agent : null;
  const server = new Server(
    { name: "stemedb", title: "StemeDB", version: options.version },
    {
      capabilities: { tools: {}, resources: {}, prompts: {} },
      instructions: serverInstructions(backend.namespace, agent),
      jsonSchemaValidator: sharedValidator(),
    },
  );
  const { definitions, byName } = toolsFor(backend.namespace);
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: definitions }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const entry = byName.get(request.params.name);
    if (!entry) throw new McpError(ErrorCode.InvalidParams, `no tool ${request.params.name}; tools/list names them`);
    return callTool(entry, request.params.arguments, backend, options.logger);
  });
  registerGuide(server);
  return server;
}

async function callTool(
  entry: { tool: Tool; input: z.ZodObject },
  raw: unknown,
  backend: McpBackend,
  logger: Logger,
): Promise<CallToolResult> {
  try {
    const args = parseArguments(entry.input, raw, `see the input schema of ${entry.tool.name}`);
    const out = await entry.tool.run(args, backend);
    return { content: [{ type: "text", text: out.text }], structuredContent: out.structured };
  } catch (err) {
    const problem = problemOf(err);
    if (problem) return errorResult(problem);
    logger.error("an MCP tool failed", { tool: entry.tool.name, err: err as Error, stack: (err as Error)?.stack });
    return errorResult(internalProblem);
  }
}

/** The lens guide as a resource, and the fact-check prompt. */
function registerGuide(server: Server): void {
  const guide = { uri: lensGuideUri, name: "lens-guide", title: "How StemeDB picks an answer", mimeType: "text/markdown" };
  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [guide] }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    if (request.params.uri !== lensGuideUri)
      throw new McpError(ErrorCode.InvalidParams, `no resource ${request.params.uri}; resources/list names them`);
    return { contents: [{ uri: lensGuideUri, mimeType: "text/markdown", text: lensGuideText() }] };
  });
  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: [factCheck] }));
  server.setRequestHandler(GetPromptRequestSchema, (request) => {
    if (request.params.name !== factCheck.name)
      throw new McpError(ErrorCode.InvalidParams, `no prompt ${request.params.name}; prompts/list names them`);
    const a = request.params.arguments ?? {};
    if (!a.subject || !a.predicate) throw new McpError(ErrorCode.InvalidParams, "fact_check needs subject and predicate");
    return {
      description: factCheck.description,
      messages: [{ role: "user", content: { type: "text", text: factCheckPrompt(a.subject, a.predicate, a.claim) } }],
    };
  });
}

const factCheck = {
  name: "fact_check",
  title: "Fact-check a claim",
  description: "Check a claim against StemeDB: several lenses, κ, the winners' provenance, and an honest answer.",
  arguments: [
    { name: "subject", description: "what the claim is about, e.g. pharma/drug/aspirin", required: true },
    { name: "predicate", description: "the property, e.g. bleeding_risk_pct", required: true },
    { name: "claim", description: "the value to check, if there is one", required: false },
  ],
};

// ------------------------------------------------------------ built once per process

interface ToolSet {
  definitions: ToolDefinition[];
  byName: Map<string, { tool: Tool; input: z.ZodObject }>;
}

const toolSets = new Map<string | null, ToolSet>();

/** The tool definitions for a namespace (descriptions name it), built on first use and kept. */
function toolsFor(namespace: Namespace): ToolSet {
  let set = toolSets.get(namespace.prefix);
  if (set) return set;
  const byName = new Map<string, { tool: Tool; input: z.ZodObject }>();
  const definitions = tools.map((tool): ToolDefinition => {
    const input = tool.input(namespace);
    byName.set(tool.name, { tool, input });
    return {
      name: tool.name,
      title: tool.title,
      description: tool.description,
      inputSchema: jsonSchema(input, "input") as ToolDefinition["inputSchema"],
      outputSchema: jsonSchema(tool.output, "output") as ToolDefinition["outputSchema"],
      annotations: { title: tool.title, ...tool.annotations },
    };
  });
  set = { definitions, byName };
  if (toolSets.size < toolSetsMax) toolSets.set(namespace.prefix, set);
  return set;
}

/** Namespaces whose tool sets are kept (an HTTP caller picks its namespace; memory stays bounded). */
const toolSetsMax = 256;

function jsonSchema(schema: z.ZodObject, io: "input" | "output"): Record<string, unknown> {
  // Draft 7, as the SDK publishes zod schemas: the dialect MCP clients validate most widely.
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: "draft-7", io });
  return rest;
}

let validator: AjvJsonSchemaValidator | undefined;

/** One JSON Schema validator for every server: building one (Ajv) costs milliseconds, and /mcp makes a server per request. */
function sharedValidator(): AjvJsonSchemaValidator {
  validator ??= new AjvJsonSchemaValidator();
  return validator;
}
