/**
 * "No record is ever erased": after a run, the server must still hold every record the arena
 * wrote — the adversaries' above all, since theirs are the ones a defence might be tempted to
 * drop. Every record of the forgers, the backdaters and the authority, and of one agent in ten
 * of every other persona, is listed back by agent (`GET /v1/assertions?agent=&kind=any`) and
 * compared id by id; and the log must hold at least as many records as were written.
 */
import type { StemeClient } from "../client/index.ts";
import type { SignedRecord } from "../crypto/signed.ts";
import type { World } from "./world.ts";

export interface LogCheck {
  /** Records the arena wrote (distinct ids: an agent may state the same record twice). */
  written: number;
  /** Records looked for, and how many of those the server does not hold. */
  checked: number;
  missing: number;
  /** The server's last log position at the end (at least `written` on a fresh server). */
  lsn: number;
  holds_all: boolean;
}

/** Of the other personas, every this-many-th agent's records are listed back. */
const sampleOneIn = 10;

export async function checkLog(client: StemeClient, world: World, written: readonly SignedRecord[]): Promise<LogCheck> {
  const watched = new Set(["forger", "backdater", "authority"]);
  const byAgent = new Map<string, Set<string>>();
  const distinct = new Set<string>();
  for (const r of written) {
    const agent = Buffer.from(r.record.agent).toString("hex");
    const id = Buffer.from(r.id).toString("hex");
    distinct.add(id);
    const a = world.byHex.get(agent);
    if (a === undefined || (!watched.has(a.persona) && a.index % sampleOneIn !== 0)) continue;
    const set = byAgent.get(agent) ?? new Set<string>();
    set.add(id);
    byAgent.set(agent, set);
  }
  let checked = 0;
  let missing = 0;
  for (const [agent, ids] of byAgent) {
    const held = await listAll(client, agent);
    checked += ids.size;
    for (const id of ids) if (!held.has(id)) missing++;
  }
  const { lsn } = await client.health();
  return { written: distinct.size, checked, missing, lsn, holds_all: missing === 0 && lsn >= distinct.size };
}

async function listAll(client: StemeClient, agent: string): Promise<Set<string>> {
  const out = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    const page = await client.list({ agent, kind: "any", limit: 1000, ...(cursor !== undefined ? { cursor } : {}) });
    for (const item of page.items) out.add(item.id as string);
    if (page.next_cursor === null) return out;
    cursor = page.next_cursor;
  }
}
