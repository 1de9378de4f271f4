/** Derived state (docs/SEMANTICS.md#derived-state): lifecycle flags, visibility, source tiers and votes from a record set. */
export {
  type AssertionState,
  blockingFlags,
  type DerivedState,
  type DeriveOptions,
  deriveState,
  type Flag,
} from "./lifecycle.ts";
export { type Cut, prepare, type StoredRecord, withinCut } from "./records.ts";
export {
  deriveSources,
  type SourceEntry,
  type SourceRetractionEntry,
  type SourceState,
  unconfirmedTierBest,
  unregisteredTier,
} from "./sources.ts";
