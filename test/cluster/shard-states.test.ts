/** A shard's state in the cluster's view (src/cluster/shard-states.ts), from its replicas, the factor and the data plane's word on syncing. */
import { describe, expect, test } from "bun:test";
import { shardState } from "../../src/cluster/shard-states.ts";
import type { ClusterMember } from "../../src/cluster/node.ts";

const m = (state: ClusterMember["state"]) => ({ state }) as ClusterMember;

describe("shard states", () => {
  test("healthy, syncing, degraded, under_replicated, unavailable", () => {
    expect(shardState([m("alive"), m("alive")], 2, null)).toBe("healthy");
    expect(shardState([m("alive"), m("alive")], 2, false)).toBe("healthy");
    expect(shardState([m("alive"), m("alive")], 2, true)).toBe("syncing");
    expect(shardState([m("alive"), m("suspect")], 2, null)).toBe("degraded");
    expect(shardState([m("alive")], 2, null)).toBe("under_replicated");
    expect(shardState([m("alive")], 2, true)).toBe("under_replicated"); // fewer copies outranks syncing
    expect(shardState([], 2, null)).toBe("unavailable");
    expect(shardState([m("alive"), undefined], 2, null)).toBe("degraded"); // a replica the table no longer names
  });
});
