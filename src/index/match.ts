/**
 * What selected a record from the index, kept with its location so the record read from the
 * log can be checked against it (docs/STORAGE.md: the index is never trusted blindly). A list by
 * subject that returns a record about another subject, a vote found by its target that targets
 * something else: each is damage, and `mismatchOf` names the field that gives it away.
 */
import { bytesEqual } from "../core/hex.ts";
import type { StemeRecord } from "../core/record.ts";
import type { SubjectMatch } from "./list.ts";
import { kindCodes, relCodes } from "./schema.ts";

export interface RecordMatch {
  subject?: SubjectMatch;
  predicate?: string;
  agent?: Uint8Array;
  /** An assertion's `source` or a registration's (or its retraction's) `source_id`. */
  source?: string;
  /** Kind codes (schema.ts kindCodes). */
  kinds?: readonly number[];
  /** Inclusive bounds on `ts`, in ms. */
  since?: number;
  until?: number;
  /** Found through `refs`: the record names `target` in the way `rel` (relCodes) says. */
  refersTo?: { target: Uint8Array; rel: number };
}

/** The record's source, as the index files it (see IndexStore.insertOne). */
export function sourceOf(record: StemeRecord): string | undefined {
  if (record.kind === "assertion") return record.source;
  if (record.kind === "source" || record.kind === "source_retraction") return record.source_id;
  return undefined;
}

export function subjectMatches(path: string, match: SubjectMatch): boolean {
  if (match.kind === "exact") return path === match.path;
  if (match.kind === "prefix") return path.startsWith(`${match.path}/`);
  return path.endsWith(`/${match.path}`);
}

function refersTo(record: StemeRecord, target: Uint8Array, rel: number): boolean {
  if (record.kind === "assertion") {
    if (rel === relCodes.depends_on) return (record.depends_on ?? []).some((d) => bytesEqual(d, target));
    if (rel === relCodes.supersedes) return record.supersedes !== undefined && bytesEqual(record.supersedes, target);
    return false;
  }
  if (record.kind === "vote" || record.kind === "retraction" || record.kind === "review")
    return rel === relCodes[record.kind] && bytesEqual(record.target, target);
  return false;
}

/** The first field in which `record` does not fit `match`, or null when it fits. */
export function mismatchOf(record: StemeRecord, match: RecordMatch): string | null {
  if (match.kinds !== undefined && !match.kinds.includes(kindCodes[record.kind])) return `kind ${record.kind}`;
  if (match.subject !== undefined || match.predicate !== undefined) {
    if (record.kind !== "assertion") return `kind ${record.kind} (an assertion was selected)`;
    if (match.subject !== undefined && !subjectMatches(record.subject, match.subject)) return `subject ${record.subject}`;
    if (match.predicate !== undefined && record.predicate !== match.predicate) return `predicate ${record.predicate}`;
  }
  if (match.agent !== undefined && !bytesEqual(record.agent, match.agent)) return "agent";
  if (match.source !== undefined && sourceOf(record) !== match.source) return `source ${sourceOf(record) ?? "(none)"}`;
  if (match.since !== undefined && record.ts < match.since) return `ts ${record.ts}`;
  if (match.until !== undefined && record.ts > match.until) return `ts ${record.ts}`;
  if (match.refersTo !== undefined && !refersTo(record, match.refersTo.target, match.refersTo.rel))
    return `reference (rel ${match.refersTo.rel})`;
  return null;
}
