/** Parsing query requests: `GET /v1/query?…` parameters and the `POST /v1/query` body. */
import { invalid } from "../core/errors.ts";
import { describe } from "../core/hex.ts";
import { predicateBytesMax, subjectBytesMax } from "../core/limits.ts";
import type { QueryRequest } from "../query/query.ts";
import type { Flag } from "../state/index.ts";
import { parseText, parseTime } from "./params.ts";
import { badQuery } from "./problem.ts";

export const queryLensesMax = 8;
const flags: readonly Flag[] = [
  "retracted",
  "superseded",
  "source_retracted",
  "cascade",
  "epoch_superseded",
  "quarantined",
  "rejected",
];
const defaultLens = "consensus";

function required(field: string, v: string | undefined): string {
  if (v === undefined) throw badQuery(field, "required");
  return v;
}

function parseTolerance(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw badQuery("tolerance", "expected a number in [0, 1] (relative)");
  return n;
}

function parseList(raw: string | null | undefined): string[] | undefined {
  if (raw === null || raw === undefined || raw === "") return undefined;
  return raw.split(",").map((x) => x.trim());
}

function parseInclude(raw: string[] | undefined): Flag[] | undefined {
  if (!raw) return undefined;
  for (const f of raw)
    if (!flags.includes(f as Flag)) throw badQuery("include", `"${f}" is not a flag; flags: ${flags.join(", ")}`);
  return raw as Flag[];
}

const known = new Set([
  "subject",
  "predicate",
  "lens",
  "as_of",
  "known_at",
  "valid_at",
  "tolerance",
  "include",
  "layers",
  "explain",
  "fresh",
  "escalate",
]);

function parseBool(field: string, raw: string | null): boolean | undefined {
  if (raw === null || raw === "") return undefined;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw badQuery(field, `expected true or false, got "${raw.slice(0, 20)}"`);
}

/** `true` (the server's threshold) or a κ threshold in (0, 1] at or above which the query opens an escalation. */
function parseEscalate(raw: string | null): number | true | undefined {
  if (raw === null || raw === "" || raw === "false") return undefined;
  if (raw === "true") return true;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw badQuery("escalate", "expected true or a κ threshold in (0, 1]");
  return n;
}

export function parseQueryParams(q: URLSearchParams): QueryRequest {
  for (const key of q.keys())
    if (!known.has(key)) throw badQuery(key, `unknown parameter; expected one of ${[...known].join(", ")}`);
  const asOf = parseTime("as_of", q.get("as_of"));
  const knownAt = parseTime("known_at", q.get("known_at"));
  const validAt = parseTime("valid_at", q.get("valid_at"));
  const tolerance = parseTolerance(q.get("tolerance"));
  const include = parseInclude(parseList(q.get("include")));
  const layers = parseList(q.get("layers"));
  const fresh = parseBool("fresh", q.get("fresh"));
  const escalate = parseEscalate(q.get("escalate"));
  const explain = parseBool("explain", q.get("explain"));
  return {
    subject: required("subject", parseText("subject", q.get("subject"), subjectBytesMax)),
    predicate: required("predicate", parseText("predicate", q.get("predicate"), predicateBytesMax)),
    lenses: [q.get("lens") || defaultLens],
    ...(asOf !== undefined ? { asOf } : {}),
    ...(knownAt !== undefined ? { knownAt } : {}),
    ...(validAt !== undefined ? { validAt } : {}),
    ...(tolerance !== undefined ? { tolerance } : {}),
    ...(include ? { include } : {}),
    ...(layers ? { layers } : {}),
    ...(fresh ? { fresh } : {}),
    ...(escalate !== undefined ? { escalate } : {}),
    ...(explain === false ? { explain } : {}),
  };
}

/** `{subject, predicate, lenses: [..], as_of?, known_at?, valid_at?, tolerance?, include?: [..], layers?: [..], fresh?, escalate?}` */
export function parseQueryBody(body: unknown): QueryRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw invalid("invalid_request", `expected a JSON object, got ${describe(body)}`);
  const b = body as Record<string, unknown>;
  const bodyKeys = new Set([
    "subject",
    "predicate",
    "lenses",
    "lens",
    "as_of",
    "known_at",
    "valid_at",
    "tolerance",
    "include",
    "layers",
    "fresh",
    "escalate",
    "explain",
  ]);
  for (const key of Object.keys(b))
    if (!bodyKeys.has(key)) throw invalid("unknown_field", `${key}: not a query field`, { field: key });
  // Text, or a number or boolean spelled as text; an object or array is refused (String() of one
  // can throw, or recurse as deep as the client nested it).
  const text = (field: string, v: unknown) => {
    if (v === undefined) return undefined;
    if (v !== null && typeof v === "object")
      throw invalid("invalid_type", `${field}: expected text or a number, got ${describe(v)}`, { field });
    return typeof v === "string" ? v : String(v);
  };
  const strings = (field: string, v: unknown): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
      throw invalid("invalid_type", `${field}: expected an array of strings`, { field });
    return v as string[];
  };
  const lenses = strings("lenses", b.lenses) ?? (typeof b.lens === "string" ? [b.lens] : [defaultLens]);
  if (lenses.length === 0 || lenses.length > queryLensesMax)
    throw invalid("invalid_request", `lenses: 1 to ${queryLensesMax} lenses`, { field: "lenses" });
  const params = new URLSearchParams();
  for (const key of ["subject", "predicate", "as_of", "known_at", "valid_at", "tolerance", "fresh", "escalate", "explain"]) {
    const v = text(key, b[key]);
    if (v !== undefined) params.set(key, v);
  }
  const include = strings("include", b.include);
  const layers = strings("layers", b.layers);
  if (include) params.set("include", include.join(","));
  if (layers) params.set("layers", layers.join(","));
  return { ...parseQueryParams(params), lenses: [...new Set(lenses)] };
}
