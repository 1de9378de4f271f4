/**
 * The live followers, indexed by what their filter pins down, so the fan-out looks at the
 * followers a record can concern rather than at all of them: those following one agent by the
 * record's agent, those following one exact subject by its subject, and the rest (a prefix, a
 * tail, kinds only, everything) in a list looked through for every record. A candidate still
 * has its whole filter checked (`matchesFilter`); the index only narrows.
 */
import { toHex } from "../core/hex.ts";
import type { StemeRecord } from "../core/record.ts";
import type { Follower } from "./follower.ts";

export class FollowerIndex {
  private readonly byAgent = new Map<string, Set<Follower>>();
  private readonly bySubject = new Map<string, Set<Follower>>();
  private readonly rest = new Set<Follower>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(f: Follower): boolean {
    const { agent, subject } = f.filter;
    if (agent) return this.byAgent.get(toHex(agent))?.has(f) ?? false;
    if (subject?.kind === "exact") return this.bySubject.get(subject.path)?.has(f) ?? false;
    return this.rest.has(f);
  }

  add(f: Follower): void {
    if (this.has(f)) return;
    const { agent, subject } = f.filter;
    if (agent) addTo(this.byAgent, toHex(agent), f);
    else if (subject?.kind === "exact") addTo(this.bySubject, subject.path, f);
    else this.rest.add(f);
    this.count++;
  }

  delete(f: Follower): void {
    if (!this.has(f)) return;
    const { agent, subject } = f.filter;
    if (agent) deleteFrom(this.byAgent, toHex(agent), f);
    else if (subject?.kind === "exact") deleteFrom(this.bySubject, subject.path, f);
    else this.rest.delete(f);
    this.count--;
  }

  /** Calls `visit` with every follower `record` may concern (each once). */
  forCandidates(record: StemeRecord, visit: (f: Follower) => void): void {
    if (this.byAgent.size > 0) for (const f of this.byAgent.get(toHex(record.agent)) ?? []) visit(f);
    if (this.bySubject.size > 0 && record.kind === "assertion")
      for (const f of this.bySubject.get(record.subject) ?? []) visit(f);
    for (const f of this.rest) visit(f);
  }

  *[Symbol.iterator](): IterableIterator<Follower> {
    for (const set of this.byAgent.values()) yield* set;
    for (const set of this.bySubject.values()) yield* set;
    yield* this.rest;
  }
}

function addTo(map: Map<string, Set<Follower>>, key: string, f: Follower): void {
  const set = map.get(key);
  if (set) set.add(f);
  else map.set(key, new Set([f]));
}

function deleteFrom(map: Map<string, Set<Follower>>, key: string, f: Follower): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(f);
  if (set.size === 0) map.delete(key);
}
