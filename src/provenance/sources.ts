/**
 * Sources as the API shows them: the current entry (registrar, title, tier, url, published
 * date) and whether a counted retraction withdrew it, derived from the source's own records
 * with the rules of docs/SEMANTICS.md#sources-and-registrars (state/sources.ts), plus how many assertions cite it.
 */
import { listRecords } from "../index/list.ts";
import { citingCount } from "../index/provenance.ts";
import { deriveSources, prepare, type StoredRecord } from "../state/index.ts";
import type { Store } from "../store/store.ts";

export interface SourceView {
  source_id: string;
  registered: boolean;
  title: string | null;
  /** 1–5; 6 when not registered. */
  tier: number;
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
  const records: StoredRecord[] = [];
  let afterLsn: number | undefined;
  for (;;) {
    const page = listRecords(store.index, {
      source: sourceId,
      kinds: ["source", "source_retraction"],
      limit: 1000,
      ...(afterLsn !== undefined ? { afterLsn } : {}),
    });
    for (const loc of page.items) records.push({ id: Buffer.from(loc.id).toString("hex"), record: store.read(loc).record });
    if (page.next === null) break;
    afterLsn = page.next;
  }
  const citing = citingCount(store.index, sourceId);
  if (records.length === 0 && citing === 0) return null;
  const state = deriveSources(prepare(records, undefined).entries, new Set(store.dataDir.authorities));
  const entry = state.entries.get(sourceId);
  const retraction = state.retractions.get(sourceId) ?? null;
  return {
    source_id: sourceId,
    registered: entry !== undefined,
    title: entry?.title ?? null,
    tier: entry?.tier ?? 6,
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
