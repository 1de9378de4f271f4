/**
 * Supersession (docs/SEMANTICS.md#lifecycle-flags): an assertion is `superseded` when a *visible* assertion with
 * `supersedes` = its id exists, by the same agent or an authority. Visibility depends on being
 * superseded, so this is solved as a fixpoint over the supersession graph.
 *
 * Method (order-independent): every other flag is decided first (`blocked`). Then, with a
 * worklist, an assertion is decided *hidden* when blocked or when any valid superseder is
 * decided visible, and *visible* when it is not blocked and every valid superseder is decided
 * hidden. This is the least fixpoint, unique whatever order the worklist runs in.
 *
 * Cycles: ids are hashes of bodies that contain the superseded id, so a genuine cycle cannot
 * be built; but for any input this terminates. Assertions left undecided (an unresolvable
 * cycle, e.g. A supersedes B and B supersedes A, both otherwise visible) are treated as
 * superseded — hidden — with a note: no member of a contradictory cycle is shown.
 */
import { toHex } from "../core/hex.ts";
import type { Assertion } from "../core/record.ts";
import { type Entry, type Notes, pushTo, short } from "./records.ts";

export interface SupersessionResult {
  superseded: Set<string>;
  visible: Set<string>;
}

/** target id → ids of assertions that validly supersede it (sorted). Invalid ones are noted. */
function validSuperseders(assertions: Map<string, Entry<Assertion>>, authorities: ReadonlySet<string>, notes: Notes) {
  const by = new Map<string, string[]>();
  for (const s of assertions.values()) {
    if (!s.record.supersedes) continue;
    const targetId = toHex(s.record.supersedes);
    const target = assertions.get(targetId);
    if (!target) continue; // not (yet) present: no effect
    if (s.agent !== target.agent && !authorities.has(s.agent)) {
      notes.add(targetId, `supersedes by ${short(s.id)} ignored: neither the author nor an authority`);
      continue;
    }
    pushTo(by, targetId, s.id);
  }
  return by;
}

export function resolveSupersession(
  assertions: Map<string, Entry<Assertion>>,
  blocked: ReadonlySet<string>,
  authorities: ReadonlySet<string>,
  notes: Notes,
): SupersessionResult {
  const superseders = validSuperseders(assertions, authorities, notes);
  const decided = new Map<string, boolean>(); // id → visible?
  const pending = new Map<string, number>(); // id → superseders not yet decided
  const queue: string[] = [];
  const decide = (id: string, visible: boolean) => {
    if (decided.has(id)) return;
    decided.set(id, visible);
    queue.push(id);
  };
  for (const id of assertions.keys()) {
    const n = superseders.get(id)?.length ?? 0;
    pending.set(id, n);
    if (blocked.has(id)) decide(id, false);
    else if (n === 0) decide(id, true);
  }
  for (let i = 0; i < queue.length; i++) {
    const s = assertions.get(queue[i]!)!;
    if (!s.record.supersedes || !isValidEdge(superseders, s)) continue;
    const target = toHex(s.record.supersedes);
    if (decided.get(s.id)) decide(target, false);
    else {
      const left = pending.get(target)! - 1;
      pending.set(target, left);
      if (left === 0 && !blocked.has(target)) decide(target, true);
    }
  }
  return finish(assertions, superseders, decided, notes);
}

function isValidEdge(superseders: Map<string, string[]>, s: Entry<Assertion>): boolean {
  return superseders.get(toHex(s.record.supersedes!))?.includes(s.id) ?? false;
}

function finish(
  assertions: Map<string, Entry<Assertion>>,
  superseders: Map<string, string[]>,
  decided: Map<string, boolean>,
  notes: Notes,
): SupersessionResult {
  const visible = new Set<string>();
  for (const id of assertions.keys()) {
    if (!decided.has(id)) notes.add(id, "in a supersession cycle that cannot be resolved: treated as superseded");
    else if (decided.get(id)) visible.add(id);
  }
  const superseded = new Set<string>();
  for (const id of assertions.keys()) {
    const by = superseders.get(id) ?? [];
    const winners = by.filter((s) => visible.has(s));
    if (winners.length > 0) superseded.add(id);
    if (!decided.has(id)) superseded.add(id);
    for (const s of winners) notes.add(id, `superseded by ${short(s)}`);
    for (const s of by) if (!visible.has(s)) notes.add(id, `supersedes by ${short(s)} has no effect: it is not visible`);
  }
  return { superseded, visible };
}
