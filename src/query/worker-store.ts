/**
 * A query worker's read-only view of a data directory (src/query/resolver-worker.ts): the
 * index through its own SQLite connection, the log through its own file handles, and every
 * record checked against its row exactly as the node's store checks it (checked-read.ts).
 *
 * What a worker does not settle itself it hands back to the node, which answers on its own
 * thread: an id lookup (the id table lives in the node) and any log read that fails (the node
 * tells a damaged index from a damaged log). Damage found in a row is sent to the node too,
 * which reports it (`IndexStore.reportDamage`) and refuses reads from then on.
 */
import fs from "node:fs";
import path from "node:path";
import type { StemeError } from "../core/errors.ts";
import { IndexStore, type RecordLocation } from "../index/store.ts";
import { type LogEntry, segmentFileName } from "../log/index.ts";
import { preadEntry } from "../log/reader.ts";
import { checkedRead, damageAt, type ReadStore, type RecordView, type StoredRead, viewOf } from "../store/checked-read.ts";

/** The node answers this query itself (thrown inside the worker, sent as `{kind: "main"}`). */
export class NodeAnswers extends Error {}

/** A row the log contradicts: the node reports the damage (sent as `{kind: "damage"}`). */
export class DamageFound extends Error {}

/** One pread a record: a frame of an assertion or a vote is ≈ 250 bytes; a longer one takes a second read. */
const readWindowBytes = 1024;

export interface WorkerStoreOptions {
  indexPath: string;
  logDir: string;
  authorities: readonly string[];
  /** The worker connection's SQLite page cache, KiB. */
  cacheKiB: number;
}

export class WorkerStore implements ReadStore {
  readonly index: IndexStore;
  readonly dataDir: { readonly authorities: readonly string[] };
  private readonly fds = new Map<number, number>();
  private readonly window = new Uint8Array(readWindowBytes);

  constructor(private readonly options: WorkerStoreOptions) {
    this.index = IndexStore.open(options.indexPath, { readonly: true, ids: false, cacheKiB: options.cacheKiB });
    this.dataDir = { authorities: options.authorities };
  }

  read(loc: RecordLocation): StoredRead {
    this.index.assertSound();
    return checkedRead(loc, this.frame(loc), (what) => new DamageFound(damageAt(loc, what)) as unknown as StemeError);
  }

  view(loc: RecordLocation): RecordView {
    return viewOf(this.read(loc));
  }

  lookupId(_id: Uint8Array): RecordLocation | null {
    throw new NodeAnswers("an id lookup");
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
    this.index.close();
  }

  /** The frame at a row's place; any failure is the node's to judge (`Store.readFrame`). */
  private frame(loc: RecordLocation): LogEntry {
    try {
      let fd = this.fds.get(loc.segment);
      if (fd === undefined) {
        fd = fs.openSync(path.join(this.options.logDir, segmentFileName(loc.segment)), "r");
        this.fds.set(loc.segment, fd);
      }
      return preadEntry(fd, this.window, loc.offset, loc.segment, "");
    } catch (err) {
      throw new NodeAnswers(`reading LSN ${loc.lsn}: ${(err as Error).message}`);
    }
  }
}
