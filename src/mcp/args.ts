/**
 * Tool arguments: checked against the tool's input schema here, not by the SDK, so that a
 * wrong argument is a refused call with the code the HTTP API would give the same mistake —
 * `missing_field`, `invalid_type`, `out_of_range`, `too_long`, `unknown_field`, `invalid_text`,
 * `bad_hex`, each naming the argument in `field` — rather than bare text a model cannot act on.
 */
import type { z } from "zod";
import { StemeError, type ProblemCode } from "../core/errors.ts";

/** The arguments as the schema reads them, or the first thing wrong with them. */
export function parseArguments<S extends z.ZodType>(schema: S, raw: unknown, hint: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0] as z.core.$ZodIssue;
  const field = issue.code === "unrecognized_keys" ? (issue.keys[0] as string) : issue.path.map(String).join(".");
  const { code, what } = describeIssue(issue, raw);
  throw new StemeError(code, field ? `${field}: ${what}` : what, { hint, extra: field ? { field } : {} });
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): { code: ProblemCode; what: string } {
  switch (issue.code) {
    case "unrecognized_keys":
      return { code: "unknown_field", what: "not an argument of this tool" };
    case "invalid_type":
      return valueAt(raw, issue.path) === undefined
        ? { code: "missing_field", what: "required" }
        : { code: "invalid_type", what: issue.message.replace(/^Invalid input: /, "") };
    case "too_small":
      if (issue.origin === "string" && issue.minimum === 1) return { code: "invalid_text", what: "must not be empty" };
      return { code: issue.origin === "array" ? "invalid_request" : "out_of_range", what: issue.message };
    case "too_big":
      return { code: issue.origin === "number" || issue.origin === "int" ? "out_of_range" : "too_long", what: issue.message };
    case "invalid_format":
      return { code: "bad_hex", what: "expected an id: 64 hex digits" };
    case "invalid_value":
      return { code: "out_of_range", what: issue.message };
    default:
      return { code: "invalid_request", what: issue.message };
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const key of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}
