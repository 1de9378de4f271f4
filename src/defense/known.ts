/**
 * Which agents a node knows, for `--quarantine-unknown-agents`. An agent is **known** when it
 * is an authority, when an authority seeded its trust (`trust_seed`), or when it has an
 * assertion on this node that is not held or rejected — accepted without a hold, or approved
 * by an authority. Votes, sources and the like do not make an agent known: they cost nothing
 * to make, so a throwaway vote must not buy a newcomer past the door.
 *
 * So under the policy a newcomer's assertions are held until an authority approves one of them
 * (or seeds its trust); from then on it writes freely. An agent that wrote before the policy
 * was switched on is known by its earlier assertions.
 *
 * Both answers are cached: an agent becomes known only through events this class is told
 * about (an assertion acknowledged without a hold, an approval, a seed), so a "no" stays
 * right until one of them arrives. A cache miss costs one indexed read of the agent's first
 * assertions.
 */
import { fromHex } from "../core/hex.ts";
import { listRecords } from "../index/list.ts";
import type { Store } from "../store/store.ts";
import type { Quarantine } from "./quarantine.ts";

/** Assertions of an agent looked at on a cache miss: a newcomer with more held than this stays unknown. */
const lookedAtMax = 64;
/** Cached "unknown" answers before the cache starts over (bounds memory under a sybil swarm). */
const unknownCachedMax = 100_000;

export class KnownAgents {
  private readonly known = new Set<string>();
  private readonly unknown = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly quarantine: Quarantine,
    private readonly authorities: ReadonlySet<string>,
  ) {}

  isKnown(agent: string): boolean {
    if (this.authorities.has(agent) || this.known.has(agent)) return true;
    if (this.unknown.has(agent)) return false;
    const page = listRecords(this.store.index, { agent: fromHex(agent, "agent", 32), kinds: ["assertion"], limit: lookedAtMax });
    for (const loc of page.items) {
      const id = Buffer.from(loc.id).toString("hex");
      if (this.quarantine.state(id) === null || this.quarantine.state(id) === "approved") {
        this.known.add(agent);
        return true;
      }
    }
    if (this.unknown.size >= unknownCachedMax) this.unknown.clear();
    this.unknown.add(agent);
    return false;
  }

  /** The agent has a visible assertion, or an authority vouched for it. */
  markKnown(agent: string): void {
    this.unknown.delete(agent);
    this.known.add(agent);
  }
}
