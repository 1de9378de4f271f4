/**
 * What an MCP tool is here: a name, a description written for a model (when to call it, what
 * the answer means), its arguments and its answer as zod schemas (published as JSON Schema:
 * `inputSchema`, `outputSchema`), MCP annotations, and `run`, which gets checked arguments and
 * the backend and returns short text for the model plus the same answer as structured content.
 * Descriptions may depend on the session (its namespace, its agent), so they are functions.
 */
import type { ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { StemeError } from "../core/errors.ts";
import type { McpBackend } from "./backend.ts";
import type { Namespace } from "./namespace.ts";

export interface ToolOutput {
  /** What the model reads: short, plain lines. */
  text: string;
  /** The same answer as data, fitting the tool's `output` schema. */
  structured: Record<string, unknown>;
}

export interface Tool<S extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  /** The arguments (built per session: descriptions may name the namespace). */
  input(namespace: Namespace): S;
  output: z.ZodObject;
  annotations: ToolAnnotations;
  run(args: z.output<S>, backend: McpBackend): Promise<ToolOutput>;
}

/** Declares a tool; its arguments' type flows from `input` into `run`. */
export function defineTool<S extends z.ZodObject>(tool: Tool<S>): Tool {
  return tool as unknown as Tool;
}

// ------------------------------------------------------------ argument pieces the tools share

const idPattern = /^[0-9a-fA-F]{64}$/;

/** A record id: 64 hex digits. */
export const idArg = (description: string) => z.string().regex(idPattern).describe(description);

/** A time: milliseconds since the Unix epoch, or ISO 8601 text. */
export const timeArg = (description: string) =>
  z
    .union([z.number().int().min(0), z.string().min(1)])
    .describe(`${description} Milliseconds since the Unix epoch, or ISO 8601 (2025-01-01 or 2025-01-01T12:00:00Z).`);

/** The answer of a write, common to every writing tool. */
export const writeOutput = {
  id: z.string().describe("the record's id (BLAKE3 of its body), 64 hex digits"),
  lsn: z.number().int().describe("its position in the node's log"),
  status: z.enum(["accepted", "quarantined"]).describe("quarantined: held by content defense until an authority decides"),
  duplicate: z.boolean().describe("true: the node already held this exact record"),
  agent: z.string().describe("the public key that signed it"),
};

/** The first 8 hex digits of an id or key, for text. */
export function short(hex: unknown): string {
  return typeof hex === "string" ? `${hex.slice(0, 8)}…` : String(hex);
}

/** A value as the model reads it in text. */
export function shownValue(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

/** A time argument as a record field needs it: milliseconds (ISO 8601 text is converted). */
export function toMillis(field: string, value: number | string): number {
  const ms = typeof value === "number" ? value : /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new StemeError(
      "invalid_type",
      `${field}: expected milliseconds since the epoch or ISO 8601, got ${JSON.stringify(value)}`,
      { hint: "give a time like 1735689600000 or 2025-01-01T00:00:00Z", extra: { field } },
    );
  return ms;
}

/** The answer of a write, as text: what was stored, its id, and whether it counts yet. */
export function writeText(
  what: string,
  r: { id: string; lsn: number; status: string; duplicate: boolean },
  agent: string,
): string {
  const head = r.duplicate ? `Already stored (the same record): ${what}` : `Stored ${what}`;
  const held =
    r.status === "quarantined"
      ? " Held by content defense (quarantined): it counts in no answer until an authority approves it."
      : "";
  return `${head}\nid ${r.id} (log position ${r.lsn}), signed by agent ${short(agent)}.${held}`;
}
