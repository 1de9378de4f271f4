/**
 * Shared by the feed's tests: records acknowledged as ingest acknowledges them, and a
 * follower's stream read through the real SSE reader.
 */
import { type SseMessage, SseParser } from "../../src/client/sse.ts";
import type { SignedRecord } from "../../src/crypto/signed.ts";
import type { Follower } from "../../src/feed/follower.ts";
import type { Store } from "../../src/store/store.ts";

/**
 * What ingest does with verified records: append them (one group commit), then acknowledge
 * them. With `--sync none` no step waits on a timer, so the index applies them only when asked.
 */
export async function appendAcknowledged(store: Store, records: SignedRecord[], recordedAtMs = Date.now()): Promise<number[]> {
  const positions = await store.log.append(records.map((r) => ({ body: r.body, sig: r.sig, recordedAtMs })));
  store.enqueueIndex(
    records.map((r, i) => {
      const p = positions[i] as { lsn: number; segment: number; offset: number };
      return { lsn: p.lsn, id: r.id, record: r.record, segment: p.segment, offset: p.offset, recordedAtMs };
    }),
  );
  return positions.map((p) => p.lsn);
}

/** A follower's stream, read as SSE, with a bound on how long a read may wait. */
export class Reader {
  readonly records: Array<{ lsn: number; data: Record<string, unknown> }> = [];
  readonly others: SseMessage[] = [];
  readonly parser = new SseParser();
  ended = false;
  private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> };
  private readonly decoder = new TextDecoder();
  /** A read not answered yet (kept across a timeout, so no chunk is lost). */
  private pending: Promise<{ done: boolean; value?: Uint8Array }> | null = null;
  constructor(readonly follower: Follower) {
    this.reader = follower.stream.getReader();
  }

  /** One read (one pull of the stream). */
  async step(): Promise<void> {
    this.pending ??= this.reader.read();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no event within 2 s")), 2000);
    });
    const { done, value } = await Promise.race([this.pending, timeout]).finally(() => clearTimeout(timer));
    this.pending = null;
    if (done) {
      this.ended = true;
      return;
    }
    for (const m of this.parser.push(this.decoder.decode(value, { stream: true }))) {
      if (m.type === "record") this.records.push({ lsn: Number(m.lastEventId), data: JSON.parse(m.data) });
      else this.others.push(m);
    }
  }

  /** Reads until `n` records have come. */
  async until(n: number): Promise<number[]> {
    while (this.records.length < n && !this.ended) await this.step();
    return this.lsns();
  }

  lsns(): number[] {
    return this.records.map((r) => r.lsn);
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}
