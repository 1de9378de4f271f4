/**
 * A node's services over one open store: the door, signature verification, content defense,
 * ingest, TrustRank, the query engine, decisions, escalations, the query audit trail and the
 * operations service — made in dependency order, closed in reverse, and the app's
 * dependencies drawn from them.
 */
import nodePath from "node:path";
import { QueryAuditLog } from "../audit/query-log.ts";
import { type Guard, type KeyStore, openGuard } from "../auth/index.ts";
import { OpsService } from "../backup/service.ts";
import { readBackupStatus } from "../backup/status.ts";
import type { Config } from "../config/config.ts";
import type { Logger } from "../core/logger.ts";
import { VerifyPool } from "../crypto/verify-pool.ts";
import { Decider } from "../decisions/decider.ts";
import { Escalations } from "../decisions/escalations.ts";
import { Defense, defenseOptions } from "../defense/index.ts";
import { ChangeFeed } from "../feed/change-feed.ts";
import { Ingest } from "../ingest/pipeline.ts";
import type { Metrics } from "../metrics/index.ts";
import { QueryEngine, workerIndexCacheKiBOf } from "../query/engine.ts";
import type { Store } from "../store/store.ts";
import { TrustService } from "../trust/service.ts";
import type { AppDeps } from "./app.ts";

export interface NodeServices {
  keys: KeyStore;
  guard: Guard;
  defense: Defense;
  ingest: Ingest;
  trust: TrustService;
  engine: QueryEngine;
  decider: Decider;
  escalations: Escalations;
  audit: QueryAuditLog | null;
  ops: OpsService;
  /** The change feed (GET /v1/changes). */
  feed: ChangeFeed;
  /** Stops the background work and closes what the services opened (not the store); await it before closing the store. */
  close(): Promise<void>;
}

interface NodeContext {
  logger: Logger;
  now: () => number;
  metrics: Metrics;
}

export function openNode(config: Config, store: Store, { logger, now, metrics }: NodeContext): NodeServices {
  const { keys, guard } = openGuard(config, logger);
  const verifyPool = new VerifyPool(config.verifyThreads, { logger });
  // Content defense (docs/DEFENSE.md). τ comes from the TrustService made below; the policy asks for
  // it only on writes, which start once the server listens.
  const defense = new Defense(store, {
    ...defenseOptions(config),
    trustOf: (agent) => trust.current.trustOf(agent),
    now,
    metrics,
    logger,
  });
  const ingest = new Ingest(store, {
    clockSkewMs: config.clockSkewMs,
    queueRecordsMax: config.queueRecordsMax,
    now,
    logger,
    metrics,
    verify: (sig, id, agent) => verifyPool.verify(sig, id, agent),
    gate: defense,
  });
  const trust = new TrustService(store, { intervalMs: config.trustIntervalMs, logger, now });
  const engine = new QueryEngine(store, trust, {
    viewsMax: config.viewsMax,
    viewsBytesMax: config.viewsBytesMax,
    recordCacheBytesMax: config.recordCacheBytesMax,
    workers: config.queryWorkers,
    workerIndexCacheKiB: workerIndexCacheKiBOf(config.indexCacheBytes / 1024),
    logger,
  });
  const feed = new ChangeFeed(store, (q) => engine.answerWithDeps(q), {
    followersMax: config.changesFollowersMax,
    bufferEventsMax: config.changesBufferEventsMax,
    bufferBytesMax: config.changesBufferBytesMax,
    heartbeatMs: config.changesHeartbeatSecs * 1000,
    metrics,
    logger,
  });
  metrics.sampleAtScrape({
    changes: () => feed.gauges(),
    views: () => engine.views,
    recordCache: () => engine.recordCache,
    queryWorkers: () => ({
      answered: engine.pool?.answered ?? 0,
      handedBack: engine.pool?.handedBack ?? 0,
      ready: engine.pool?.ready ?? 0,
    }),
    trust: () => ({ lsn: trust.current.lsn, agents: trust.current.result.agents.size }),
    defense: () => defense.gauges(),
    backupStatus: () => readBackupStatus(store.dataDir.dir),
  });
  const decider = new Decider(store, ingest, now);
  const audit = openAudit(config, { logger, now });
  const ops = new OpsService(store, {
    backupDir: config.backupDir,
    archiveDir: config.archiveDir,
    archiveIntervalSecs: config.archiveIntervalSecs,
    archiveS3: config.archiveS3,
    logger,
    now,
  });
  trust.start();
  ops.start();
  const close = async () => {
    feed.close();
    trust.stop();
    // A root in progress and the query workers close their index connections before the store closes.
    const stopping = [ops.stop(), engine.close()];
    audit?.close();
    verifyPool.close();
    await Promise.all(stopping);
  };
  const escalations = new Escalations(store, decider);
  return { keys, guard, defense, ingest, trust, engine, decider, escalations, audit, ops, feed, close };
}

function openAudit(config: Config, { logger, now }: { logger: Logger; now: () => number }): QueryAuditLog | null {
  if (config.auditEntriesMax <= 0) return null;
  return QueryAuditLog.open(nodePath.join(config.dataDir, "audit.sqlite"), {
    retention: { entriesMax: config.auditEntriesMax, ageMaxMs: config.auditRetentionDays * 86_400_000 },
    now,
    logger,
  });
}

/** What each request knows about itself, kept by the request handler (http.ts). */
export interface RequestFacts {
  requestIdOf: (request: Request) => string | undefined;
  callerOf: (request: Request) => string;
  apiKeyOf: (request: Request) => string | null;
  addressOf: (request: Request) => string;
  /** For a streaming route: sets the connection's idle timeout again, seconds (a no-op otherwise). */
  lingerOf: (request: Request) => (secs: number) => void;
}

/** The app's dependencies: the node's services, the config's limits, and what each request knows. */
export function appDeps(
  config: Config,
  store: Store,
  node: NodeServices,
  context: NodeContext & {
    version: string;
    isReady: AppDeps["isReady"];
    facts: RequestFacts;
    dispatch: AppDeps["dispatch"];
    cluster: AppDeps["cluster"];
  },
): AppDeps {
  const deadlineMs = config.httpTimeoutSecs * 1000;
  return {
    store,
    ...node,
    ...context.facts,
    metrics: context.metrics,
    logger: context.logger,
    dispatch: context.dispatch,
    cluster: context.cluster,
    version: context.version,
    startedAtMs: context.now(),
    isReady: context.isReady,
    escalateKappa: config.escalateKappa,
    limits: {
      write: { bytesMax: config.writeBodyBytesMax, deadlineMs },
      batch: { bytesMax: config.batchBodyBytesMax, deadlineMs },
      read: { bytesMax: config.readBodyBytesMax, deadlineMs },
      batchRecordsMax: config.batchRecordsMax,
    },
  };
}
