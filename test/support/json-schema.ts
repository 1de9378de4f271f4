/**
 * A small JSON Schema (2020-12) validator for the subset the OpenAPI document uses: `$ref`
 * into the document, `type` (one or a list), `enum`, `const`, `properties`, `required`,
 * `additionalProperties`, `items`, `minItems`/`maxItems`, `minimum`/`maximum`, `pattern`,
 * `oneOf`/`anyOf`/`allOf`. Test support only: the point is to hold the server's real answers
 * to the documented shapes without a dependency.
 *
 * `closed: true` treats an object schema with `properties` and no `additionalProperties` as
 * closed, so a field the server sends but the document does not name is an error — the way a
 * handler grows a field without the document noticing. (For `allOf`, the allowed fields are
 * the union of the branches'.)
 */

export type Schema = { [keyword: string]: unknown };

export interface ValidateOptions {
  /** The document `$ref`s point into. */
  root: unknown;
  closed?: boolean;
}

/** Schema keywords the validator and the document may use; anything else is a typo. */
export const schemaKeywords = new Set([
  "$ref",
  "type",
  "enum",
  "const",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "minimum",
  "maximum",
  "pattern",
  "oneOf",
  "anyOf",
  "allOf",
  "discriminator",
  "description",
  "format",
  "default",
  "examples",
  "contentMediaType",
]);

export function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) throw new Error(`only local refs: ${ref}`);
  let at: unknown = root;
  for (const part of ref.slice(2).split("/")) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<string, unknown>)[part.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return at;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(v: unknown, type: string): boolean {
  const t = typeOf(v);
  return t === type || (type === "number" && t === "integer");
}

/** Property names an object schema (and its allOf branches) allows; null when open. */
function allowedProperties(s: Schema, options: ValidateOptions): Set<string> | null {
  const own = s.properties as Record<string, unknown> | undefined;
  const branches = (s.allOf as Schema[] | undefined) ?? [];
  if (s.additionalProperties !== undefined && s.additionalProperties !== false) return null;
  if (!own && branches.length === 0) return null;
  const names = new Set(Object.keys(own ?? {}));
  for (const b of branches) {
    const branch = (b.$ref ? resolveRef(options.root, b.$ref as string) : b) as Schema;
    const more = branch.oneOf ? null : allowedProperties(branch, options);
    if (more === null) return null;
    for (const n of more) names.add(n);
  }
  return names;
}

/** Errors as `path: message`; empty when `value` fits `schema`. */
export function validate(value: unknown, schema: Schema, options: ValidateOptions, path = "$"): string[] {
  if (typeof schema.$ref === "string") {
    const target = resolveRef(options.root, schema.$ref);
    if (target === undefined) return [`${path}: unresolved $ref ${schema.$ref}`];
    return validate(value, target as Schema, options, path);
  }
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const types = [schema.type].flat() as string[];
    if (!types.some((t) => typeMatches(value, t))) return [`${path}: expected ${types.join(" | ")}, got ${typeOf(value)}`];
  }
  if ("const" in schema && JSON.stringify(value) !== JSON.stringify(schema.const))
    errors.push(`${path}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) errors.push(`${path}: ${value} < ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum) errors.push(`${path}: ${value} > ${schema.maximum}`);
  }
  if (typeof value === "string" && typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value))
    errors.push(`${path}: "${value.slice(0, 40)}" does not match ${schema.pattern}`);
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems)
      errors.push(`${path}: fewer than ${schema.minItems} items`);
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems)
      errors.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items)
      for (const [i, item] of value.entries()) errors.push(...validate(item, schema.items as Schema, options, `${path}[${i}]`));
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value))
    errors.push(...validateObject(value, schema, options, path));
  for (const branch of (schema.allOf as Schema[] | undefined) ?? [])
    errors.push(...validate(value, branch, { ...options, closed: false }, path));
  if (Array.isArray(schema.anyOf) && !(schema.anyOf as Schema[]).some((b) => validate(value, b, options, path).length === 0))
    errors.push(`${path}: matches none of anyOf (${firstErrors(value, schema.anyOf as Schema[], options, path)})`);
  if (Array.isArray(schema.oneOf)) {
    const matching = (schema.oneOf as Schema[]).filter((b) => validate(value, b, options, path).length === 0).length;
    if (matching !== 1)
      errors.push(
        matching === 0
          ? `${path}: matches none of oneOf (${firstErrors(value, schema.oneOf as Schema[], options, path)})`
          : `${path}: matches ${matching} branches of oneOf`,
      );
  }
  return errors;
}

function validateObject(value: object, schema: Schema, options: ValidateOptions, path: string): string[] {
  const errors: string[] = [];
  const record = value as Record<string, unknown>;
  for (const name of (schema.required as string[] | undefined) ?? [])
    if (!(name in record)) errors.push(`${path}: missing required ${name}`);
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  for (const [name, v] of Object.entries(record)) {
    if (props[name]) errors.push(...validate(v, props[name], options, `${path}.${name}`));
    else if (schema.additionalProperties && typeof schema.additionalProperties === "object")
      errors.push(...validate(v, schema.additionalProperties as Schema, options, `${path}.${name}`));
  }
  const allowed = schema.additionalProperties === false || options.closed ? allowedProperties(schema, options) : null;
  if (allowed && (schema.additionalProperties === false || options.closed))
    for (const name of Object.keys(record)) if (!allowed.has(name)) errors.push(`${path}: undocumented field ${name}`);
  return errors;
}

function firstErrors(value: unknown, branches: Schema[], options: ValidateOptions, path: string): string {
  return branches
    .map((b) => validate(value, b, options, path)[0])
    .filter(Boolean)
    .slice(0, 3)
    .join("; ");
}
