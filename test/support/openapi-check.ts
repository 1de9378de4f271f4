/**
 * A structural check of an OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0), the
 * parts a generator or a reader relies on: the version field, info, paths and their
 * templates, operations (unique ids, responses with descriptions, parameters declared once
 * and path parameters required and matching the template), request bodies with content,
 * every `$ref` resolving, security requirements naming declared schemes, tags declared, and
 * schema objects using only keywords we know (so a 3.0-ism like `nullable` or a typo like
 * `require` fails). Returns the problems found, empty when none.
 */
import { resolveRef, schemaKeywords } from "./json-schema.ts";

type Obj = Record<string, unknown>;

const httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const parameterLocations = ["query", "header", "path", "cookie"];

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

export function checkOpenApi(doc: unknown): string[] {
  const problems: string[] = [];
  const fail = (where: string, what: string) => problems.push(`${where}: ${what}`);
  if (!isObj(doc)) return ["the document is not an object"];
  if (typeof doc.openapi !== "string" || !/^3\.1\.\d+$/.test(doc.openapi)) fail("openapi", "expected 3.1.x");
  const info = doc.info;
  if (!isObj(info) || typeof info.title !== "string" || typeof info.version !== "string")
    fail("info", "needs title and version strings");
  if (!isObj(doc.paths)) return [...problems, "paths: expected an object"];
  const components = isObj(doc.components) ? doc.components : {};
  const schemes = isObj(components.securitySchemes) ? components.securitySchemes : {};
  const tags = new Set(Array.isArray(doc.tags) ? doc.tags.map((t) => (isObj(t) ? t.name : undefined)) : []);
  const checkSecurity = (where: string, security: unknown) => {
    if (security === undefined) return;
    if (!Array.isArray(security)) return fail(where, "security must be an array");
    for (const requirement of security)
      for (const name of Object.keys(isObj(requirement) ? requirement : {}))
        if (!(name in schemes)) fail(where, `security scheme ${name} is not declared`);
  };
  checkSecurity("security", doc.security);

  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    if (!path.startsWith("/") || (path.length > 1 && path.endsWith("/")))
      fail(path, "a path starts with / and has no trailing /");
    if (!isObj(item)) {
      fail(path, "path item must be an object");
      continue;
    }
    const template = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
    if (new Set(template).size !== template.length) fail(path, "a template name appears twice");
    for (const [method, op] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!httpMethods.includes(method)) {
        fail(where, "not an HTTP method");
        continue;
      }
      if (!isObj(op)) {
        fail(where, "operation must be an object");
        continue;
      }
      if (typeof op.operationId !== "string") fail(where, "operationId missing");
      else if (operationIds.has(op.operationId)) fail(where, `operationId ${op.operationId} is not unique`);
      else operationIds.add(op.operationId);
      for (const tag of (op.tags as unknown[]) ?? []) if (!tags.has(tag)) fail(where, `tag ${String(tag)} is not declared`);
      checkSecurity(where, op.security);
      const params = ((op.parameters as unknown[]) ?? []).map((p) =>
        isObj(p) && typeof p.$ref === "string" ? resolveRef(doc, p.$ref) : p,
      );
      const seen = new Set<string>();
      for (const p of params) {
        if (!isObj(p) || typeof p.name !== "string" || !parameterLocations.includes(p.in as string) || !isObj(p.schema)) {
          fail(where, `bad parameter ${JSON.stringify(p)?.slice(0, 80)}`);
          continue;
        }
        const key = `${p.in}:${p.name}`;
        if (seen.has(key)) fail(where, `parameter ${key} declared twice`);
        seen.add(key);
        if (p.in === "path" && p.required !== true) fail(where, `path parameter ${p.name} must be required`);
        if (p.in === "path" && !template.includes(p.name)) fail(where, `path parameter ${p.name} is not in the template`);
      }
      for (const name of template) if (!seen.has(`path:${name}`)) fail(where, `template {${name}} has no path parameter`);
      if (op.requestBody !== undefined && (!isObj(op.requestBody) || !isObj(op.requestBody.content)))
        fail(where, "requestBody needs content");
      if (!isObj(op.responses) || Object.keys(op.responses).length === 0) fail(where, "responses missing");
      for (const [status, r] of Object.entries(isObj(op.responses) ? op.responses : {})) {
        if (!/^([1-5]\d\d|[1-5]XX|default)$/.test(status)) fail(where, `response key ${status} is not a status`);
        if (!isObj(r) || typeof r.description !== "string") fail(where, `response ${status} needs a description`);
      }
    }
  }
  walk(doc, "#", (node, at) => {
    if (typeof node.$ref === "string" && resolveRef(doc, node.$ref) === undefined) fail(at, `$ref ${node.$ref} does not resolve`);
  });
  for (const s of schemaObjects(doc))
    for (const key of Object.keys(s.schema))
      if (!schemaKeywords.has(key) && !key.startsWith("x-")) fail(s.at, `unknown schema keyword ${key}`);
  return problems;
}

function walk(node: unknown, at: string, visit: (node: Obj, at: string) => void): void {
  if (Array.isArray(node)) for (const [i, n] of node.entries()) walk(n, `${at}/${i}`, visit);
  else if (isObj(node)) {
    visit(node, at);
    for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`, visit);
  }
}

/** Every schema object in the document: components, parameters, bodies, responses, headers. */
function schemaObjects(doc: Obj): Array<{ schema: Obj; at: string }> {
  const out: Array<{ schema: Obj; at: string }> = [];
  const visitSchema = (s: unknown, at: string) => {
    if (!isObj(s)) return;
    out.push({ schema: s, at });
    for (const key of ["items", "additionalProperties"]) if (isObj(s[key])) visitSchema(s[key], `${at}/${key}`);
    for (const key of ["oneOf", "anyOf", "allOf"])
      if (Array.isArray(s[key])) for (const [i, b] of (s[key] as unknown[]).entries()) visitSchema(b, `${at}/${key}/${i}`);
    if (isObj(s.properties)) for (const [k, v] of Object.entries(s.properties)) visitSchema(v, `${at}/properties/${k}`);
  };
  walk(doc, "#", (node, at) => {
    if (isObj(node.schema) && !at.includes("/schema/")) visitSchema(node.schema, `${at}/schema`);
  });
  const components = isObj(doc.components) ? doc.components : {};
  for (const [name, s] of Object.entries(isObj(components.schemas) ? components.schemas : {}))
    visitSchema(s, `#/components/schemas/${name}`);
  return out;
}
