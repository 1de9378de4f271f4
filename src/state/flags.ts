/**
 * The lifecycle flags other than `superseded` (docs/SEMANTICS.md#lifecycle-flags), each a function of the record set.
 * Every function reads entries in (ts, id) order and writes notes keyed by assertion id.
 */
import { toHex } from "../core/hex.ts";
import type { Assertion } from "../core/record.ts";
import { type Entry, type Notes, ofKind, pushTo, short } from "./records.ts";
import type { SourceState } from "./sources.ts";

type Assertions = Map<string, Entry<Assertion>>;

/**
 * `retracted`: a retraction of the assertion by its author or an authority. Retractions of ids
 * that are not assertions (or not present yet) have no effect.
 */
export function retracted(entries: readonly Entry[], assertions: Assertions, authorities: ReadonlySet<string>, notes: Notes) {
  const out = new Set<string>();
  for (const r of ofKind(entries, "retraction")) {
    const targetId = toHex(r.record.target);
    const target = assertions.get(targetId);
    if (!target) continue;
    if (r.agent === target.agent || authorities.has(r.agent)) out.add(targetId);
    else notes.add(targetId, `retraction by ${short(r.agent)} ignored: neither the author nor an authority`);
  }
  return out;
}

/** `source_retracted`: the cited source has a counted source retraction. Also copies source notes. */
export function sourceRetracted(assertions: Assertions, sources: SourceState, notes: Notes): Set<string> {
  const out = new Set<string>();
  for (const a of assertions.values()) {
    const sourceId = a.record.source;
    if (sourceId === undefined) continue;
    if (sources.retracted.has(sourceId)) out.add(a.id);
    for (const text of sources.notes.get(sourceId) ?? []) notes.add(a.id, text);
  }
  return out;
}

/**
 * `cascade`: some assertion reachable through `depends_on` (one or more steps) is retracted or
 * source-retracted — which covers "cascade-flagged" transitively. Computed by a breadth-first
 * walk backwards from the tainted assertions; each assertion is marked once, so cycles end.
 * An assertion on a dependency cycle through a tainted one is itself cascade-flagged.
 */
export function cascade(assertions: Assertions, tainted: ReadonlyMap<string, string>, notes: Notes): Set<string> {
  const dependents = new Map<string, string[]>();
  for (const a of assertions.values()) {
    for (const dep of a.record.depends_on ?? []) {
      const depId = toHex(dep);
      if (assertions.has(depId)) pushTo(dependents, depId, a.id);
    }
  }
  const out = new Set<string>();
  const queue = [...tainted.keys()];
  for (let i = 0; i < queue.length; i++) {
    const cause = queue[i]!;
    for (const d of dependents.get(cause) ?? []) {
      notes.add(d, `cascade: depends on ${short(cause)}, which is ${tainted.get(cause) ?? "cascade-flagged"}`);
      if (out.has(d)) continue;
      out.add(d);
      queue.push(d);
    }
  }
  return out;
}

/**
 * `epoch_superseded`: an `epoch` record with `supersedes` = the assertion's epoch exists.
 * Choice: only epoch records signed by an authority count — otherwise anyone could wipe out an
 * era with one record. The superseding epoch's `starts_at` is not compared with anything: the
 * record existing (with ts ≤ asOf) is what counts. An epoch naming itself is ignored.
 */
export function epochSuperseded(
  entries: readonly Entry[],
  assertions: Assertions,
  authorities: ReadonlySet<string>,
  notes: Notes,
) {
  const supersededBy = new Map<string, string[]>(); // old name → new names (authority records)
  const ignored = new Map<string, string[]>(); // old name → notes about non-authority records
  for (const e of ofKind(entries, "epoch")) {
    const old = e.record.supersedes;
    if (old === undefined || old === e.record.name) continue;
    if (authorities.has(e.agent)) pushTo(supersededBy, old, e.record.name);
    else pushTo(ignored, old, `epoch '${e.record.name}' by ${short(e.agent)} superseding '${old}' ignored: not an authority`);
  }
  const out = new Set<string>();
  for (const a of assertions.values()) {
    const epoch = a.record.epoch;
    if (epoch === undefined) continue;
    for (const name of supersededBy.get(epoch) ?? []) notes.add(a.id, `epoch '${epoch}' superseded by '${name}'`);
    for (const text of ignored.get(epoch) ?? []) notes.add(a.id, text);
    if (supersededBy.has(epoch)) out.add(a.id);
  }
  return out;
}

const quarantineActions = new Set(["hold", "approve", "reject"]);

/**
 * `quarantined` / `rejected`: the latest (ts, id) authority review of the quarantine decision
 * kind (hold / approve / reject) targeting the assertion decides. Reviews by non-authorities are
 * ignored with a note; other review actions (gold, trust_seed, …) are other decision kinds.
 */
export function reviews(entries: readonly Entry[], assertions: Assertions, authorities: ReadonlySet<string>, notes: Notes) {
  const latest = new Map<string, string>(); // target → action
  for (const r of ofKind(entries, "review")) {
    if (!quarantineActions.has(r.record.action)) continue;
    const targetId = toHex(r.record.target);
    if (!assertions.has(targetId)) continue;
    if (authorities.has(r.agent)) latest.set(targetId, r.record.action);
    else notes.add(targetId, `review '${r.record.action}' by ${short(r.agent)} ignored: not an authority`);
  }
  const quarantined = new Set<string>();
  const rejected = new Set<string>();
  for (const [id, action] of latest) {
    if (action === "hold") quarantined.add(id);
    if (action === "reject") rejected.add(id);
  }
  return { quarantined, rejected };
}
