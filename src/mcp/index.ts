/**
 * The MCP layer's face (docs/MCP.md): StemeDB's tools for agents over the Model Context
 * Protocol, on a backend that is the node's HTTP API (backend.ts) — over the network for
 * `stemedb mcp` on stdio, in-process for the node's `/mcp` endpoint. Nothing here reaches
 * into the store: what a tool can do is what the API lets its caller do.
 */
export { createBackend, type Connection, keySigner, type McpBackend, type Signer } from "./backend.ts";
export { Namespace } from "./namespace.ts";
export { problemMetaKey } from "./problem.ts";
export { createMcpServer, type McpServerOptions, tools } from "./server.ts";
