/**
 * Sources (docs/SEMANTICS.md#sources-and-registrars): a source's registrar is the agent of its earliest `source` record (by ts,
 * then id); its current entry is the latest `source` record from the registrar or an
 * authority; registrations by anyone else are ignored. A `source_retraction` counts when
 * signed by the registrar or an authority.
 *
 * Choices where the contract (docs/SEMANTICS.md) is silent:
 * - A source retraction is permanent: a later re-registration does not un-retract it.
 * - `sourceTier` reports the registered tier even after a retraction; the retraction shows up
 *   as the `source_retracted` flag on citing assertions, not as a tier change.
 * - A retraction of a source with no (counted) registration has no registrar to match, so only
 *   an authority's counts; it then flags assertions citing that source_id.
 */
import type { Source, SourceRetraction } from "../core/record.ts";
import { type Entry, ofKind, pushTo, short } from "./records.ts";

export const unregisteredTier = 6;

export interface SourceEntry {
  registrar: string;
  title: string;
  tier: number;
  url?: string;
  published_at?: number;
  /** The `source` record that holds the current entry, and the registration's. */
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
  retracted: Set<string>;
  /** The counted retraction of each retracted source (the first by ts, then id). */
  retractions: Map<string, SourceRetractionEntry>;
  /** Per source_id: notes about ignored registrations and retractions. */
  notes: Map<string, string[]>;
}

export function deriveSources(entries: readonly Entry[], authorities: ReadonlySet<string>): SourceState {
  const state: SourceState = { entries: new Map(), retracted: new Set(), retractions: new Map(), notes: new Map() };
  const note = (sourceId: string, text: string) => pushTo(state.notes, sourceId, text);
  for (const e of ofKind(entries, "source")) register(state, e, authorities, note);
  for (const e of ofKind(entries, "source_retraction")) retract(state, e, authorities, note);
  return state;
}

type NoteFn = (sourceId: string, text: string) => void;

/** Entries arrive in (ts, id) order, so the first seen is the registrar and the last accepted is current. */
function register(state: SourceState, e: Entry<Source>, authorities: ReadonlySet<string>, note: NoteFn): void {
  const { source_id: sourceId, title, tier } = e.record;
  const current = state.entries.get(sourceId);
  const registrar = current?.registrar ?? e.agent;
  if (e.agent !== registrar && !authorities.has(e.agent)) {
    note(sourceId, `registration of source '${sourceId}' by ${short(e.agent)} ignored: neither the registrar nor an authority`);
    return;
  }
  state.entries.set(sourceId, {
    registrar,
    title,
    tier,
    ...(e.record.url !== undefined ? { url: e.record.url } : {}),
    ...(e.record.published_at !== undefined ? { published_at: e.record.published_at } : {}),
    recordId: e.id,
    registrationId: current?.registrationId ?? e.id,
    registeredAt: current?.registeredAt ?? e.record.ts,
  });
}

function retract(state: SourceState, e: Entry<SourceRetraction>, authorities: ReadonlySet<string>, note: NoteFn): void {
  const sourceId = e.record.source_id;
  const registrar = state.entries.get(sourceId)?.registrar;
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
  note(sourceId, `retraction of source '${sourceId}' by ${short(e.agent)} ignored: neither the registrar nor an authority`);
}
