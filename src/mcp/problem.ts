/**
 * A refused tool call, as MCP says it (docs/MCP.md#errors): a tool result with `isError: true`
 * — never a protocol error, never a crash — whose text starts with the problem's stable `code`
 * (the same codes as the HTTP API, docs/API.md#errors) and carries its hint, so a model can
 * correct the call. The same problem, as data, is in `_meta["dev.stemedb/problem"]`.
 *
 * Whatever was thrown is said here once: a StemeError raised by the tools (bad arguments, no
 * signing key), a problem the server answered (StemeClientError), a server that could not be
 * reached. Anything else is a bug: the caller logs it, and the model is told `internal`.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { StemeClientError } from "../client/index.ts";
import { StemeError } from "../core/errors.ts";

/** The `_meta` key of a refused call's problem. */
export const problemMetaKey = "dev.stemedb/problem";

export interface ToolProblem {
  code: string;
  detail: string;
  /** The HTTP status, when the server answered. */
  status?: number;
  hint?: string;
  /** The argument or field at fault. */
  field?: string;
}

/** What `err` means to the model, or null when it is a bug. */
export function problemOf(err: unknown): ToolProblem | null {
  if (err instanceof StemeError) {
    if (err.code === "internal") return null;
    return compact({ code: err.code, detail: err.message, hint: err.hint, field: fieldOf(err.extra) });
  }
  if (err instanceof StemeClientError) {
    const p = err.problem ?? {};
    return compact({
      code: typeof p.code === "string" ? p.code : "bad_response",
      status: err.status,
      detail: typeof p.detail === "string" ? p.detail : `the server answered ${err.status}`,
      hint: typeof p.hint === "string" ? p.hint : undefined,
      field: fieldOf(p),
    });
  }
  return null;
}

function fieldOf(extra: Record<string, unknown> | undefined): string | undefined {
  return typeof extra?.field === "string" ? extra.field : undefined;
}

function compact(p: { [K in keyof ToolProblem]: ToolProblem[K] | undefined }): ToolProblem {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as ToolProblem;
}

/** The tool result that says `p`: `code: detail`, then `hint: …`. */
export function errorResult(p: ToolProblem): CallToolResult {
  const lines = [`${p.code}: ${p.detail}`];
  if (p.hint) lines.push(`hint: ${p.hint}`);
  return { isError: true, content: [{ type: "text", text: lines.join("\n") }], _meta: { [problemMetaKey]: { ...p } } };
}

/** A bug inside a tool: the model learns only that it failed, the log has the rest. */
export const internalProblem: ToolProblem = {
  code: "internal",
  detail: "the tool failed on an internal error; the MCP server's log (stderr) has the details",
};
