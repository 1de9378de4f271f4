/**
 * Sources as the API shows them: the current entry (registrar, title, counted and stated tier,
 * url, published date), whether an authority confirmed it, whether registrants dispute it, and
 * whether a counted retraction withdrew it — derived from the source's own records and their
 * confirmations with the rules of docs/SEMANTICS.md#sources-and-registrars (state/sources.ts),
 * plus how many assertions cite it.
 */
import { citingCount } from "../index/provenance.ts";
import { loadSource } from "../query/gather.ts";
import { deriveSources, prepare } from "../state/index.ts";
import type { Store } from "../store/store.ts";

export interface SourceView {
  source_id: string;
  registered: boolean;
  title: string | null;
  /** The tier that counts: 1–5; 6 when not registered or disputed. */
  tier: number;
  /** The tier the current entry states (null when none counts). */
  claimed_tier: number | null;
  /** The entry is an authority's, or an authority confirmed it (`confirm_source`). */
  confirmed: boolean;
  /** Two or more non-authority agents registered it and no authority settled it. */
  disputed: boolean;
  /** Every non-authority agent that registered it, sorted. */
  registrants: string[];
  url?: string;
  published_at?: number;
  registrar: string | null;
  registration: string | null;
  registered_at: number | null;
  /** The `source` record holding the current entry. */
  record: string | null;
  retracted: boolean;
  retraction: { id: string; agent: string; ts: number; reason?: string } | null;
  notes: string[];
  citing_assertions: number;
}

/** The caller has waited for the index. Null when the node has never seen the source id. */
export function describeSource(store: Store, sourceId: string): SourceView | null {
  const records = loadSource(store, sourceId);
  const citing = citingCount(store.index, sourceId);
  if (records.length === 0 && citing === 0) return null;
  const authorities = new Set(store.dataDir.authorities);
  const state = deriveSources(prepare(records).entries, authorities);
  const entry = state.entries.get(sourceId);
  const registrants = new Set<string>();
  for (const r of records)
    if (r.record.kind === "source") {
      const agent = Buffer.from(r.record.agent).toString("hex");
      if (!authorities.has(agent)) registrants.add(agent);
    }
  const retraction = state.retractions.get(sourceId) ?? null;
  return {
    source_id: sourceId,
    registered: entry !== undefined,
    title: entry?.title ?? null,
    tier: entry?.tier ?? 6,
    claimed_tier: entry?.claimedTier ?? null,
    confirmed: entry?.confirmed ?? false,
    disputed: state.disputed.has(sourceId),
    registrants: [...registrants].sort(),
    ...(entry?.url !== undefined ? { url: entry.url } : {}),
    ...(entry?.published_at !== undefined ? { published_at: entry.published_at } : {}),
    registrar: entry?.registrar ?? null,
    registration: entry?.registrationId ?? null,
    registered_at: entry?.registeredAt ?? null,
    record: entry?.recordId ?? null,
    retracted: state.retracted.has(sourceId),
    retraction,
    notes: state.notes.get(sourceId) ?? [],
    citing_assertions: citing,
  };
}
