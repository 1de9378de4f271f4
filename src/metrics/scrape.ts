/**
 * Values read when /metrics is scraped rather than pushed when something happens: state that
 * moves without an event to count (breakers reopen with the clock, TrustRank is recomputed on
 * a timer, the backup status is a file other processes write), and counts kept by another
 * layer that the metrics mirror (the view cache's hits). Each such metric has a prom-client
 * `collect()` that reads here, so the `/metrics` handler only renders the registry.
 */
import { Counter, type Registry } from "prom-client";

/** The times in `backup-status.json` the backup gauges show (the shape src/backup writes). */
export interface BackupTimes {
  last_backup?: { at: string };
  last_verify?: { at: string; ok: boolean };
  last_archive?: { at: string };
}

/** What the server's parts report at scrape time; handed over once they exist (`sampleAtScrape`). */
export interface ScrapeSources {
  /** The view cache's counts since start (only grow), the views it holds now and their estimated bytes. */
  views(): { hits: number; misses: number; invalidations: number; size: number; bytes: number };
  /** The decoded records queries keep to read again (src/query/gather.ts), and their estimated bytes. */
  recordCache(): { records: number; bytes: number };
  /** Cold queries since start: answered by a query worker, handed back to the event loop (docs/STORAGE.md#query-workers). */
  queryWorkers(): { answered: number; handedBack: number; ready: number };
  /** The current TrustRank: the log position it reflects and how many agents it ranks. */
  trust(): { lsn: number; agents: number };
  /** Content defense now: assertions in quarantine, per-agent breakers by state, the global breaker. */
  defense(): { quarantined: number; breakers: Readonly<Record<string, number>>; globalBreakerOpen: boolean };
  backupStatus(): BackupTimes;
  /** The change feed: followers, what they have waiting, events handed to them since start. */
  changes(): { followers: number; bufferedEvents: number; bufferedBytes: number; sent: { record: number; conflict: number } };
}

/**
 * `read` at most once per scrape, however many metrics use it. prom-client starts every
 * metric's `collect()` synchronously in one pass before it awaits any (Registry.metrics and
 * getMetricsAsJSON map over the metrics), so a value kept until the next microtask is shared
 * by exactly the collects of one scrape. Were that ever not so, each collect would read
 * afresh: slower, never stale.
 */
export function perScrape<T>(read: () => T): () => T {
  let held: { value: T } | null = null;
  return () => {
    if (held === null) {
      held = { value: read() };
      queueMicrotask(() => {
        held = null;
      });
    }
    return held.value;
  };
}

/** The sources of one registry, null until the server attaches them. */
export class ScrapeSamples {
  private reads: { [K in keyof ScrapeSources]: () => ReturnType<ScrapeSources[K]> } | null = null;

  attach(sources: ScrapeSources): void {
    this.reads = {
      views: perScrape(() => sources.views()),
      recordCache: perScrape(() => sources.recordCache()),
      queryWorkers: perScrape(() => sources.queryWorkers()),
      trust: perScrape(() => sources.trust()),
      defense: perScrape(() => sources.defense()),
      backupStatus: perScrape(() => sources.backupStatus()),
      changes: perScrape(() => sources.changes()),
    };
  }

  read<K extends keyof ScrapeSources>(source: K): ReturnType<ScrapeSources[K]> | null {
    return this.reads ? this.reads[source]() : null;
  }
}

/**
 * A counter whose count another part keeps (the view cache's hits, the process's CPU time):
 * at each scrape it advances by how far each count moved since the last one, so it is a real
 * counter that only grows. A count that went backwards means its keeper started over; the
 * counter does too, which Prometheus's rate() reads as a reset.
 */
export function mirroredCounter<L extends string>(config: {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers: Registry[];
  /** The counts now, each with its labels; null while there is nothing to read. */
  counts(): ReadonlyArray<readonly [Partial<Record<L, string>>, number]> | null;
}): Counter<L> {
  const last = new Map<string, number>();
  const { counts, ...counterConfig } = config;
  return new Counter<L>({
    ...counterConfig,
    collect() {
      for (const [labels, count] of counts() ?? []) {
        const key = JSON.stringify(labels);
        const before = last.get(key) ?? 0;
        last.set(key, count);
        if (count >= before) {
          this.inc(labels, count - before);
        } else {
          this.remove(labels);
          this.inc(labels, count);
        }
      }
    },
  });
}
