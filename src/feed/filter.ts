/**
 * What a follower of the change feed asked for (docs/API.md#change-feed): a subject (exact,
 * `a/b/*` below a path, `*\/b` ending so), kinds, an agent. Past records are selected by the
 * index (`listRecords`, in SQL), live ones by `matchesFilter` (here, in memory); the two must
 * select the same records, so this follows the index's rules exactly: only assertions have a
 * subject, a prefix matches what is strictly below the path, a tail what ends in it after at
 * least one more segment (test/feed/filter.test.ts holds them to each other).
 */
import type { Kind, StemeRecord } from "../core/record.ts";
import { bytesEqual } from "../core/hex.ts";
import type { ListFilter, SubjectMatch } from "../index/list.ts";
import { subjectMatches } from "../index/match.ts";

export interface FeedFilter {
  subject?: SubjectMatch;
  /** Absent: every kind. */
  kinds?: ReadonlySet<Kind>;
  /** The signing agent's public key. */
  agent?: Uint8Array;
}

export function matchesFilter(filter: FeedFilter, record: StemeRecord): boolean {
  if (filter.kinds !== undefined && !filter.kinds.has(record.kind)) return false;
  if (filter.subject !== undefined && (record.kind !== "assertion" || !subjectMatches(record.subject, filter.subject)))
    return false;
  return filter.agent === undefined || bytesEqual(record.agent, filter.agent);
}

/** The same selection as an index listing (without its page bounds). */
export function listFilterOf(filter: FeedFilter): Omit<ListFilter, "limit"> {
  const out: Omit<ListFilter, "limit"> = {};
  if (filter.subject !== undefined) out.subject = patternOf(filter.subject);
  if (filter.kinds !== undefined) out.kinds = [...filter.kinds];
  if (filter.agent !== undefined) out.agent = filter.agent;
  return out;
}

function patternOf(match: SubjectMatch): string {
  if (match.kind === "prefix") return `${match.path}/*`;
  if (match.kind === "tail") return `*/${match.path}`;
  return match.path;
}
