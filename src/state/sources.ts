/**
 * Sources (docs/SEMANTICS.md#sources-and-registrars): registrations are claims, read as a set.
 *
 * - The **registrants** of a `source_id` are the non-authority agents with a `source` record for
 *   it. With exactly one, it is the **registrar**. With two or more the source is **disputed**:
 *   no registrant counts, unless an authority settled it by confirming one registrant's record
 *   (`review` action `confirm_source`; the latest confirmation by (ts, id) names the registrar).
 * - The **current entry** is the latest `source` record from the registrar or an authority. A
 *   disputed, unsettled source an authority registered keeps the authority's entry; one nobody
 *   counts for is unregistered (tier 6).
 * - A **tier is a claim**: 1–3 count when the entry is an authority's, or an authority
 *   confirmed that very record; any other entry counts as at best tier 4, with a note.
 * - A `source_retraction` counts when the registrar or an authority signed it; for a disputed,
 *   unsettled source (or one nobody registered) only an authority's counts.
 *
 * Nothing here depends on who came first: a backdated registration can dispute a source, never
 * take it over, and no ts earns a tier. Order-free: entries arrive in (ts, id) order and every
 * choice is "the latest" or a set.
 *
 * Choices where the contract (docs/SEMANTICS.md) is silent:
 * - A confirmation settles a dispute (the specification names only an authority's own
 *   registration), so an authority can vouch for the real owner without re-registering.
 * - A source retraction is permanent: a later re-registration does not un-retract it. A dispute
 *   does suspend a registrant's retraction (only an authority's counts then).
 * - `sourceTier` reports the counted tier even after a retraction; the retraction shows up as
 *   the `source_retracted` flag on citing assertions, not as a tier change.
 */
import { toHex } from "../core/hex.ts";
import type { Review, Source, SourceRetraction } from "../core/record.ts";
import { type Entry, ofKind, pushTo, short } from "./records.ts";

export const unregisteredTier = 6;
/** The best tier a registration no authority registered or confirmed counts as. */
export const unconfirmedTierBest = 4;

export interface SourceEntry {
  /** The registrant whose records count beside the authorities'; null when only authorities' do. */
  registrar: string | null;
  title: string;
  /** The tier that counts (1–5). */
  tier: number;
  /** The tier the entry states. */
  claimedTier: number;
  /** The entry is an authority's, or an authority confirmed it. */
  confirmed: boolean;
  url?: string;
  published_at?: number;
  /** The `source` record that holds the current entry, and the earliest counted one. */
  recordId: string;
  registrationId: string;
  registeredAt: number;
}

export interface SourceRetractionEntry {
  id: string;
  agent: string;
  ts: number;
  reason?: string;
}

export interface SourceState {
  entries: Map<string, SourceEntry>;
  /** Disputed, unsettled sources: their registrants' keys, sorted. */
  disputed: Map<string, string[]>;
  retracted: Set<string>;
  /** The counted retraction of each retracted source (the first by ts, then id). */
  retractions: Map<string, SourceRetractionEntry>;
  /** Per source_id: why its tier counts lower than stated (capped, disputed), for explanations. */
  tierNotes: Map<string, string>;
  /** Per source_id: notes about disputes, capped tiers and ignored records. */
  notes: Map<string, string[]>;
}

export function deriveSources(entries: readonly Entry[], authorities: ReadonlySet<string>): SourceState {
  const state: SourceState = {
    entries: new Map(),
    disputed: new Map(),
    retracted: new Set(),
    retractions: new Map(),
    tierNotes: new Map(),
    notes: new Map(),
  };
  const bySource = new Map<string, Entry<Source>[]>();
  const sourceRecords = new Map<string, Entry<Source>>();
  for (const e of ofKind(entries, "source")) {
    pushTo(bySource, e.record.source_id, e);
    sourceRecords.set(e.id, e);
  }
  const confirmations = confirmationsOf(entries, sourceRecords, authorities, state);
  for (const [sourceId, records] of bySource) register(state, sourceId, records, confirmations, authorities);
  for (const e of ofKind(entries, "source_retraction")) retract(state, e, authorities);
  return state;
}

/** Authority `confirm_source` reviews of source records: source_id → confirmed record ids, latest last. */
function confirmationsOf(
  entries: readonly Entry[],
  sourceRecords: ReadonlyMap<string, Entry<Source>>,
  authorities: ReadonlySet<string>,
  state: SourceState,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of ofKind(entries, "review") as Entry<Review>[]) {
    if (r.record.action !== "confirm_source") continue;
    const target = sourceRecords.get(toHex(r.record.target));
    if (!target) continue;
    const sourceId = target.record.source_id;
    if (authorities.has(r.agent)) pushTo(out, sourceId, target.id);
    else pushTo(state.notes, sourceId, `confirmation of source '${sourceId}' by ${short(r.agent)} ignored: not an authority`);
  }
  return out;
}

function register(
  state: SourceState,
  sourceId: string,
  records: readonly Entry<Source>[],
  confirmations: ReadonlyMap<string, string[]>,
  authorities: ReadonlySet<string>,
): void {
  const confirmed = new Set(confirmations.get(sourceId) ?? []);
  const registrants = [...new Set(records.filter((e) => !authorities.has(e.agent)).map((e) => e.agent))].sort();
  let registrar: string | null = registrants.length === 1 ? (registrants[0] as string) : null;
  if (registrants.length > 1) {
    // Settled by an authority's confirmation of one registrant's record: the latest one counts.
    const latest = (confirmations.get(sourceId) ?? [])
      .map((id) => records.find((e) => e.id === id) as Entry<Source>)
      .filter((e) => !authorities.has(e.agent))
      .at(-1);
    registrar = latest?.agent ?? null;
    const settled = registrar !== null ? `settled by an authority for ${short(registrar)}` : null;
    pushTo(
      state.notes,
      sourceId,
      `source '${sourceId}' disputed between ${registrants.length} registrars${settled ? `: ${settled}` : ""}`,
    );
    if (registrar === null) state.disputed.set(sourceId, registrants);
  }
  const counted = records.filter((e) => e.agent === registrar || authorities.has(e.agent));
  const entry = counted.at(-1);
  const first = counted[0];
  if (entry === undefined || first === undefined) {
    state.tierNotes.set(
      sourceId,
      `source '${sourceId}' disputed between ${registrants.length} registrars: counted as unregistered (tier ${unregisteredTier})`,
    );
    return;
  }
  const { title, tier: claimedTier } = entry.record;
  const isConfirmed = authorities.has(entry.agent) || confirmed.has(entry.id);
  const tier = isConfirmed ? claimedTier : Math.max(claimedTier, unconfirmedTierBest);
  if (tier !== claimedTier) {
    const text = `tier ${claimedTier} claimed by ${short(entry.agent)}, not confirmed: counted as tier ${tier}`;
    state.tierNotes.set(sourceId, `source '${sourceId}': ${text}`);
    pushTo(state.notes, sourceId, `source '${sourceId}': ${text}`);
  }
  state.entries.set(sourceId, {
    registrar,
    title,
    tier,
    claimedTier,
    confirmed: isConfirmed,
    ...(entry.record.url !== undefined ? { url: entry.record.url } : {}),
    ...(entry.record.published_at !== undefined ? { published_at: entry.record.published_at } : {}),
    recordId: entry.id,
    registrationId: first.id,
    registeredAt: first.record.ts,
  });
}

function retract(state: SourceState, e: Entry<SourceRetraction>, authorities: ReadonlySet<string>): void {
  const sourceId = e.record.source_id;
  const registrar = state.entries.get(sourceId)?.registrar ?? null;
  if (e.agent === registrar || authorities.has(e.agent)) {
    state.retracted.add(sourceId);
    if (!state.retractions.has(sourceId))
      state.retractions.set(sourceId, {
        id: e.id,
        agent: e.agent,
        ts: e.record.ts,
        ...(e.record.reason !== undefined ? { reason: e.record.reason } : {}),
      });
    return;
  }
  const why = state.disputed.has(sourceId)
    ? "the source is disputed, so only an authority's counts"
    : "neither the registrar nor an authority";
  pushTo(state.notes, sourceId, `retraction of source '${sourceId}' by ${short(e.agent)} ignored: ${why}`);
}
