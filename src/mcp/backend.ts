/**
 * What the MCP tools stand on: a StemeDB node's HTTP API, through the project's client, and
 * whoever signs the writes. Two setups give the same shape (docs/MCP.md#how-it-is-built):
 *
 * - `stemedb mcp` on the agent's machine (stdio): a client over the network to `--server`, and
 *   the agent's own key from `--key` — the secret never leaves the machine;
 * - the node's `/mcp` endpoint (Streamable HTTP): a client whose `fetch` hands each request to
 *   the node's own request path in-process (the door, limits, metrics and audit trail as for
 *   any request, without a socket), and the signing key the node keeps for the caller's API key.
 *
 * The tools never reach past this: what they may do is what the HTTP API lets the caller do.
 */
import { type ClaimFields, type KeyPair, type SignedRecord, StemeClient, signClaim, toHex } from "../client/index.ts";
import type { StemeError } from "../core/errors.ts";
import type { Namespace } from "./namespace.ts";

/** Signs a record's fields as one agent. */
export interface Signer {
  /** The agent's public key, hex: the `agent` of every record it signs. */
  agent: string;
  sign(fields: ClaimFields): SignedRecord;
}

/** Where requests go: what the client is made of, for the few calls it has no method for. */
export interface Connection {
  url: string;
  headers: Record<string, string>;
  fetch: typeof fetch;
}

export interface McpBackend {
  client: StemeClient;
  connection: Connection;
  /** Signs writes; or the problem a writing tool answers with (no key, a role too low). */
  signer: Signer | StemeError;
  namespace: Namespace;
}

export function keySigner(key: KeyPair, now: () => number = Date.now): Signer {
  return { agent: toHex(key.publicKey), sign: (fields) => signClaim(key, fields, now) };
}

export function createBackend(connection: Connection, signer: Signer | StemeError, namespace: Namespace): McpBackend {
  const client = new StemeClient({ url: connection.url, headers: connection.headers, fetch: connection.fetch });
  return { client, connection, signer, namespace };
}

/** The signer, or the problem that stops a write (thrown: the tool answers it as a refused call). */
export function signerOf(backend: McpBackend): Signer {
  if ("sign" in backend.signer) return backend.signer;
  throw backend.signer;
}
