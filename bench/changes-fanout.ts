/**
 * Part (c) of bench/changes.ts: what the change feed's fan-out costs per record, measured in
 * process as CPU time (process.cpuUsage), which a loaded machine disturbs far less than wall
 * time. A real store (`--sync none`, so appending is cheap and the feed's share shows), the
 * records acknowledged as ingest acknowledges them (with their body and signature), and the
 * fan-out — matching each record against the followers, building its event once, queueing it
 * — timed alone, with no follower, 100 following one agent each, and 100 following everything.
 * Readers in the same process take every stream as fast as it comes (their CPU is not counted
 * in "fan-out", only in "all").
 */
import path from "node:path";
import { decodeStoredBody } from "../src/crypto/signed.ts";
import { ChangeFeed } from "../src/feed/change-feed.ts";
import type { Follower } from "../src/feed/follower.ts";
import { Store } from "../src/store/store.ts";
import { bodyOf, idOf, type PackedRecords, sigOf } from "./records.ts";

export interface FanOutCost {
  followers: string;
  records: number;
  /** CPU of the fan-out (the drain) per record, µs. */
  fan_out_us_per_record: number;
  /** CPU of everything in the process (appending, fan-out, flushing, the readers) per record, µs. */
  all_us_per_record: number;
  events: number;
}

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export async function fanOutCost(
  dir: string,
  signed: PackedRecords,
  start: number,
  perMode: number,
  agents: string[],
  modes: ReadonlyArray<"none" | "agents" | "all"> = ["none", "agents", "all"],
): Promise<FanOutCost[]> {
  const out: FanOutCost[] = [];
  let next = start;
  for (const mode of modes) {
    // A store and a feed of its own per mode, so each starts alike.
    const store = await Store.open(path.join(dir, `fanout-${mode}`), { create: true, sync: "none" });
    const scheduled: Array<() => void> = [];
    const feed = new ChangeFeed(store, () => Promise.reject(new Error("no watched pairs here")), {
      followersMax: 1000,
      bufferEventsMax: 1e9,
      bufferBytesMax: 1e12,
      heartbeatMs: 0,
      schedule: (fn) => scheduled.push(fn),
    });
    try {
      const followers: Follower[] =
        mode === "none"
          ? []
          : agents.map((a) => feed.follow({ filter: mode === "agents" ? { agent: Buffer.from(a, "hex") } : {} }));
      let events = 0;
      const readers = followers.map(async (f) => {
        for await (const chunk of f.stream) events += countRecords(chunk);
      });
      let fanOut = 0;
      const all0 = cpuMicros();
      for (let done = 0; done < perMode; done += 1000) {
        const records = Array.from({ length: Math.min(1000, perMode - done) }, (_, i) => next + i);
        next += records.length;
        const positions = await store.log.append(
          records.map((i) => ({ body: bodyOf(signed, i), sig: sigOf(signed, i), recordedAtMs: 1 })),
        );
        store.enqueueIndex(
          records.map((i, j) => {
            const p = positions[j] as { lsn: number; segment: number; offset: number };
            const body = bodyOf(signed, i);
            return { ...p, id: idOf(signed, i), record: decodeStoredBody(body), recordedAtMs: 1, body, sig: sigOf(signed, i) };
          }),
        );
        const t = cpuMicros();
        for (const run of scheduled.splice(0)) run();
        fanOut += cpuMicros() - t;
        await Bun.sleep(0); // the readers take what came
      }
      await Bun.sleep(50);
      const all = cpuMicros() - all0;
      feed.close();
      await Promise.all(readers);
      out.push({
        followers:
          mode === "none" ? "none" : mode === "agents" ? `${agents.length}, one agent each` : `${agents.length}, everything`,
        records: perMode,
        fan_out_us_per_record: Number((fanOut / perMode).toFixed(2)),
        all_us_per_record: Number((all / perMode).toFixed(2)),
        events,
      });
    } finally {
      feed.close();
      await store.close();
    }
  }
  return out;
}

const marker = Buffer.from("event: record");
function countRecords(chunk: Uint8Array): number {
  const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let n = 0;
  for (let at = b.indexOf(marker); at >= 0; at = b.indexOf(marker, at + marker.length)) n++;
  return n;
}
