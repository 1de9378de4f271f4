/**
 * The queue of gossip waiting to be piggybacked (docs/CLUSTER.md#dissemination), after SWIM §4.1
 * (infection-style dissemination) and memberlist's TransmitLimitedQueue (queue.go).
 *
 * Every state change (alive, suspect, dead) is queued as an encoded message, keyed by the
 * member it is about: newer news about a member replaces older news still in the queue, so the
 * queue holds at most one message per member. Each packet we send (probe, ack, gossip round)
 * takes what fits, least-sent first and, among equals, newest first; a message is dropped
 * after `retransmitLimit` sends — `retransmitMult · ⌈log10(n + 1)⌉`, enough for an epidemic to
 * reach all n members with high probability.
 */

interface Entry {
  key: string;
  bytes: Uint8Array;
  transmits: number;
  /** Insertion order: newer entries win ties. */
  order: number;
}

export class BroadcastQueue {
  private readonly entries = new Map<string, Entry>();
  private order = 0;

  /** Queues `bytes` about `key`, replacing what was queued about it. */
  enqueue(key: string, bytes: Uint8Array): void {
    this.entries.set(key, { key, bytes, transmits: 0, order: this.order++ });
  }

  get length(): number {
    return this.entries.size;
  }

  /** Whether something about `key` is still queued. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * Messages that fit in `bytesMax` (each costing its length plus `overheadBytes`), least
   * sent first; each taken message's count goes up and it leaves after `transmitLimit` sends.
   */
  take(bytesMax: number, overheadBytes: number, transmitLimit: number): Uint8Array[] {
    if (this.entries.size === 0 || bytesMax <= overheadBytes) return [];
    const ordered = [...this.entries.values()].sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const out: Uint8Array[] = [];
    let used = 0;
    for (const e of ordered) {
      const cost = e.bytes.length + overheadBytes;
      if (used + cost > bytesMax) continue;
      used += cost;
      out.push(e.bytes);
      e.transmits++;
      if (e.transmits >= transmitLimit) this.entries.delete(e.key);
    }
    return out;
  }

  clear(): void {
    this.entries.clear();
  }
}
