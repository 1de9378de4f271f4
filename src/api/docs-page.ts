/**
 * `GET /docs`: the OpenAPI document (openapi/document.ts) as one self-contained HTML page — operations
 * grouped by tag with their role, parameters, bodies, responses and problem codes, then the
 * schemas they refer to. No scripts, no fonts, no stylesheets from elsewhere: it renders on
 * an air-gapped machine, and `docsHeaders` carries a Content-Security-Policy that forbids
 * loading anything at all.
 */
import { httpProblemCodes, problems } from "../core/errors.ts";
import type { Header, MediaType, OpenApiDocument, Operation, Parameter, Ref, Response, Schema } from "./openapi/types.ts";

export const docsHeaders = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
};

/** How deep inline object schemas are unfolded before a reader must follow a link. */
const schemaDepthMax = 4;

const methods = ["get", "post", "put", "patch", "delete"] as const;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `code` spans and bold in descriptions (the only Markdown the document uses). */
function prose(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .split(/\n{2,}/)
    .map((p) => `<p>${p}</p>`)
    .join("\n");
}

export function operationAnchor(op: Operation): string {
  return `op-${op.operationId}`;
}

function refName(ref: string): string {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

function resolve<T>(doc: OpenApiDocument, item: T | Ref): T {
  if (item && typeof item === "object" && "$ref" in item && typeof item.$ref === "string") {
    const [, , section, name] = item.$ref.split("/");
    return (doc.components as unknown as Record<string, Record<string, T>>)[section as string]?.[name as string] as T;
  }
  return item as T;
}

/** A schema as a line of type text plus, for objects, a nested list of properties. */
function renderSchema(s: Schema, depth = 0): string {
  if (typeof s.$ref === "string") {
    const name = refName(s.$ref);
    return `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`;
  }
  const parts: string[] = [];
  const described =
    typeof s.description === "string" ? ` <span class="d">${prose(s.description).replace(/<\/?p>/g, "")}</span>` : "";
  for (const key of ["oneOf", "anyOf", "allOf"] as const) {
    const list = s[key];
    if (Array.isArray(list)) {
      const joiner = key === "allOf" ? " and " : " | ";
      parts.push((list as Schema[]).map((x) => renderSchema(x, depth + 1)).join(joiner));
    }
  }
  if (Array.isArray(s.enum)) parts.push(s.enum.map((v) => `<code>${escapeHtml(JSON.stringify(v))}</code>`).join(" | "));
  if ("const" in s) parts.push(`<code>${escapeHtml(JSON.stringify(s.const))}</code>`);
  if (s.type !== undefined && s.type !== "object" && s.type !== "array")
    parts.push(`<span class="t">${escapeHtml([s.type].flat().join(" | "))}</span>${constraints(s)}`);
  if (s.type === "array" || (Array.isArray(s.type) && s.type.includes("array")))
    parts.push(`array of ${s.items ? renderSchema(s.items as Schema, depth + 1) : "any"}${constraints(s)}`);
  let nested = "";
  const isObject = s.type === "object" || (Array.isArray(s.type) && s.type.includes("object")) || (!s.type && !!s.properties);
  if (isObject) {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const required = new Set((s.required ?? []) as string[]);
    const extra = s.additionalProperties;
    parts.push(extra && typeof extra === "object" ? `map of ${renderSchema(extra as Schema, depth + 1)}` : "object");
    if (Object.keys(props).length > 0) {
      nested =
        depth >= schemaDepthMax
          ? " …"
          : `<ul>${Object.entries(props)
              .map(
                ([name, p]) =>
                  `<li><code>${escapeHtml(name)}</code>${required.has(name) ? "" : '<span class="o">?</span>'}: ${renderSchema(p, depth + 1)}</li>`,
              )
              .join("")}</ul>`;
    }
  }
  if (parts.length === 0) parts.push('<span class="t">any</span>');
  return parts.join(" ") + described + nested;
}

function constraints(s: Schema): string {
  const out: string[] = [];
  for (const key of ["format", "pattern", "minimum", "maximum", "minItems", "maxItems", "default"])
    if (s[key] !== undefined) out.push(`${key} ${escapeHtml(String(s[key]))}`);
  return out.length ? ` <span class="c">(${out.join(", ")})</span>` : "";
}

function renderParameters(doc: OpenApiDocument, params: Array<Parameter | Ref>): string {
  const rows = params
    .map((p) => resolve<Parameter>(doc, p))
    .map(
      (p) =>
        `<tr><td><code>${escapeHtml(p.name)}</code>${p.required ? "" : '<span class="o">?</span>'}</td><td>${p.in}</td><td>${renderSchema(p.schema)}</td><td>${prose(p.description)}</td></tr>`,
    )
    .join("");
  return `<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>${rows}</table>`;
}

function renderContent(content: Record<string, MediaType>): string {
  return Object.entries(content)
    .map(([type, m]) => `<div class="m"><span class="ct">${escapeHtml(type)}</span> ${renderSchema(m.schema)}</div>`)
    .join("");
}

function renderResponses(responses: Record<string, Response>): string {
  const rows = Object.entries(responses).map(([status, r]) => {
    const headers = Object.keys(r.headers ?? {})
      .map((h) => `<code>${escapeHtml(h)}</code>`)
      .join(" ");
    return `<tr><td class="s s${status[0]}">${status}</td><td>${prose(r.description)}${r.content ? renderContent(r.content) : ""}${
      headers ? `<div class="h">headers: ${headers}</div>` : ""
    }</td></tr>`;
  });
  return `<table class="r">${rows.join("")}</table>`;
}

function renderOperation(doc: OpenApiDocument, path: string, method: string, op: Operation): string {
  const role = op["x-stemedb-role"];
  const badge = role ? `<span class="role">${role}</span>` : '<span class="role none">no key</span>';
  return `<section class="op" id="${operationAnchor(op)}">
<h3><span class="verb ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> ${badge}</h3>
<p class="sum">${escapeHtml(op.summary)}</p>
${op.description ? prose(op.description) : ""}
${op.parameters?.length ? renderParameters(doc, op.parameters) : ""}
${op.requestBody ? `<h4>Request body${op.requestBody.required ? "" : " (optional)"}</h4>${op.requestBody.description ? prose(op.requestBody.description) : ""}${renderContent(op.requestBody.content)}` : ""}
<h4>Responses</h4>
${renderResponses(op.responses)}
</section>`;
}

function operationsByTag(doc: OpenApiDocument): Map<string, Array<{ path: string; method: string; op: Operation }>> {
  const byTag = new Map<string, Array<{ path: string; method: string; op: Operation }>>(doc.tags.map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of methods) {
      const op = item[method as keyof typeof item];
      if (!op) continue;
      const tag = op.tags[0] ?? "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)?.push({ path, method, op });
    }
  return byTag;
}

const style = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fff}
main{max-width:72rem;margin:0 auto;padding:1rem 2rem 4rem}
nav{columns:3 16rem;font-size:13px;margin:1rem 0}
nav ul{margin:0;padding-left:1rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ccd;margin-top:3rem}
.op{border:1px solid #dde;border-radius:6px;padding:.2rem 1rem 1rem;margin:1.2rem 0}
.verb{font-weight:700;padding:0 .4rem;border-radius:4px;color:#fff;background:#57606a}
.verb.get{background:#1f6feb}.verb.post{background:#1a7f37}.verb.delete{background:#cf222e}
.role{font-size:12px;border:1px solid #888;border-radius:9px;padding:0 .5rem;margin-left:.5rem}
.role.none{color:#1a7f37;border-color:#1a7f37}
.sum{font-weight:600}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:14px}
td,th{border-top:1px solid #eee;padding:.3rem .5rem;vertical-align:top;text-align:left}
.s{font-weight:700;width:3.5rem}.s2{color:#1a7f37}.s4{color:#9a6700}.s5{color:#cf222e}
.t{color:#8250df}.c,.d,.h{color:#57606a}.o{color:#9a6700}.ct{font-weight:600}
ul{margin:.1rem 0;padding-left:1.2rem}
code{font:13px ui-monospace,monospace;background:#f4f5f7;padding:0 .2rem;border-radius:3px}
`;

/** The whole page. */
export function renderDocsPage(doc: OpenApiDocument): string {
  const byTag = operationsByTag(doc);
  const tagText = new Map(doc.tags.map((t) => [t.name, t.description]));
  const nav = [...byTag]
    .filter(([, ops]) => ops.length > 0)
    .map(
      ([tag, ops]) =>
        `<div><strong>${escapeHtml(tag)}</strong><ul>${ops
          .map(
            ({ path, method, op }) =>
              `<li><a href="#${operationAnchor(op)}">${method.toUpperCase()} ${escapeHtml(path)}</a></li>`,
          )
          .join("")}</ul></div>`,
    )
    .join("");
  const sections = [...byTag]
    .filter(([, ops]) => ops.length > 0)
    .map(
      ([tag, ops]) =>
        `<h2 id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2>${prose(tagText.get(tag) ?? "")}${ops
          .map(({ path, method, op }) => renderOperation(doc, path, method, op))
          .join("\n")}`,
    )
    .join("\n");
  const schemas = Object.entries(doc.components.schemas)
    .map(([name, s]) => `<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${renderSchema(s)}</section>`)
    .join("\n");
  const headers = Object.entries(doc.components.headers)
    .map(([name, h]: [string, Header]) => `<tr><td><code>${escapeHtml(name)}</code></td><td>${prose(h.description)}</td></tr>`)
    .join("");
  const codes = httpProblemCodes()
    .map(
      (code) =>
        `<tr><td><code>${code}</code></td><td>${problems[code].status}</td><td>${prose(problems[code].meaning)}</td></tr>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(doc.info.title)} ${escapeHtml(doc.info.version)}</title><style>${style}</style></head>
<body><main>
<h1>${escapeHtml(doc.info.title)}</h1>
<p>version ${escapeHtml(doc.info.version)} · OpenAPI ${escapeHtml(doc.openapi)} · the machine-readable document: <a href="/openapi.json">/openapi.json</a></p>
${prose(doc.info.description)}
<nav>${nav}</nav>
${sections}
<h2 id="problems">Problem codes</h2>
<table><tr><th>code</th><th>status</th><th>meaning</th></tr>${codes}</table>
<h2 id="headers">Response headers</h2>
<table>${headers}</table>
<h2 id="schemas">Schemas</h2>
${schemas}
</main></body></html>
`;
}
