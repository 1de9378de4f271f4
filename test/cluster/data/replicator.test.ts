/**
 * How far behind a peer is (`Replicator.behind`, the `stemedb_replication_behind_seconds`
 * gauge the lag alert reads): the age of the oldest record acknowledged here that the peer has
 * not confirmed — queued or in flight — and 0 once it has confirmed everything.
 */
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/core/logger.ts";
import { Replicator, replicatorDefaults } from "../../../src/cluster/data/replicator.ts";
import type { PeerLink } from "../../../src/cluster/data/rpc.ts";
import { FakeClock } from "../../../src/cluster/fake-clock.ts";

/** A link whose pushes are answered when the test says so. */
function heldLink() {
  const pending: Array<{ records: number; answer: () => void }> = [];
  const link = {
    call: (message: { records: unknown[] }) =>
      new Promise((resolve) => {
        pending.push({ records: message.records.length, answer: () => resolve({ type: "push_ack", failed: [] }) });
      }),
  } as unknown as PeerLink;
  return { link, pending };
}

const record = (i: number) => [new Uint8Array([i]), new Uint8Array(64)] as [Uint8Array, Uint8Array];

describe("how far behind a peer is", () => {
  test("the oldest unconfirmed record's age, queued or in flight; 0 once the peer confirmed all", async () => {
    const clock = new FakeClock(1_000);
    const { link, pending } = heldLink();
    const options = { ...replicatorDefaults, inFlightMax: 1, batchRecordsMax: 2 };
    const r = new Replicator(
      clock,
      () => link,
      (p) => p,
      options,
      undefined,
      silentLogger,
    );
    expect(r.behind()).toEqual([]);
    r.enqueue("a", record(1), ["p"], clock.now()); // sent at once (in flight)
    clock.advance(500);
    r.enqueue("b", record(2), ["p"], clock.now()); // queued behind the window
    clock.advance(1_500);
    expect(r.behind()).toEqual([["p", 2]]); // "a", in flight for 2 s
    pending.shift()?.answer();
    await Bun.sleep(0);
    expect(r.behind()).toEqual([["p", 1.5]]); // "b" now in flight, acknowledged 1.5 s ago
    expect(pending).toHaveLength(1);
    pending.shift()?.answer();
    await Bun.sleep(0);
    expect(r.behind()).toEqual([["p", 0]]);
  });
});
