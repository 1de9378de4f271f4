/**
 * Small builders for JSON Schema 2020-12 (OpenAPI 3.1's dialect: `null` is a type, not
 * `nullable`), so each schema reads like its row in docs/API.md.
 */
import type { Schema } from "./types.ts";

// ---------------------------------------------------------------- schema helpers

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const str = (description?: string, extra: Schema = {}): Schema => ({ type: "string", ...desc(description), ...extra });
export const int = (description?: string, extra: Schema = {}): Schema => ({ type: "integer", ...desc(description), ...extra });
export const num = (description?: string, extra: Schema = {}): Schema => ({ type: "number", ...desc(description), ...extra });
export const bool = (description?: string): Schema => ({ type: "boolean", ...desc(description) });
export const arr = (items: Schema, description?: string, extra: Schema = {}): Schema => ({
  type: "array",
  items,
  ...desc(description),
  ...extra,
});
export const nullable = (s: Schema): Schema =>
  typeof s.type === "string" ? { ...s, type: [s.type, "null"] } : { anyOf: [s, { type: "null" }] };
export const oneOfEnum = (values: readonly (string | number)[], description?: string): Schema => ({
  enum: [...values],
  ...desc(description),
});
/** Any JSON value. */
export const anyValue = (description: string): Schema => ({ description });

export const mib = (bytes: number): string => `${bytes / 1024 / 1024} MiB`;

export function desc(description: string | undefined): Schema {
  return description === undefined ? {} : { description };
}

/**
 * An object. Keys ending in `?` are optional; the rest are required.
 * `obj({"id": hex, "note?": str()})`.
 */
export function obj(properties: Record<string, Schema>, description?: string, extra: Schema = {}): Schema {
  const props: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [key, schema] of Object.entries(properties)) {
    const optional = key.endsWith("?");
    const name = optional ? key.slice(0, -1) : key;
    props[name] = schema;
    if (!optional) required.push(name);
  }
  return { type: "object", ...desc(description), properties: props, ...(required.length ? { required } : {}), ...extra };
}

export const hex32 = (description: string): Schema => str(description, { pattern: "^[0-9a-f]{64}$" });
export const millis = (description: string): Schema => int(`${description} (ms since the Unix epoch)`);
export const isoTime = (description: string): Schema => str(description, { format: "date-time" });
export const cursor = nullable(str("pass as `cursor` for the next page; null on the last page"));
