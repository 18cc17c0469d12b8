import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { TokenVerifier } from './auth/token-verifier.js';
import type { ResolvedConfig } from './config.js';
import { Metrics } from './observability/metrics.js';
import { AuditRepository } from './audit/audit-repository.js';
import { createSubgraph, type PolicyEngine, type Subgraph } from './server.js';
import { createServices, type Services } from './services.js';
import { connectMongo, ensureIndexes, type MongoHandle } from './storage/mongo.js';
import { connectRedis } from './storage/redis.js';
import type { Redis } from 'ioredis';
import type { MongoClientOptions } from 'mongodb';

export interface App {
  config: ResolvedConfig;
  services: Services;
  subgraph: Subgraph;
  mongo: MongoHandle;
  /** The audit trail's own MongoDB connection when AUDIT_MONGODB_URL is set; null when it shares `mongo`. */
  auditMongo: MongoHandle | null;
  redis: Redis;
  metrics: Metrics;
  stop(): Promise<void>;
}

export interface AppOptions {
  config: ResolvedConfig;
  logger: Logger;
  /** A JWKS held in memory (development and tests); otherwise the configured URL or file. */
  jwks?: JSONWebKeySet | null;
  policyEngine?: PolicyEngine;
  mongoOptions?: MongoClientOptions;
  collectDefaultMetrics?: boolean;
}

/** Connects to the stores and builds the subgraph; the caller decides when to listen. */
export async function createApp(options: AppOptions): Promise<App> {
  const { config, logger } = options;
  const metrics = new Metrics({ collectDefaults: options.collectDefaultMetrics ?? true });
  // Command monitoring feeds the failed-command counter; its events cost little next to a round trip.
  const mongo = await connectMongo(config.mongodbUrl, config.mongodbDb, { monitorCommands: true, ...options.mongoOptions });
  await ensureIndexes(mongo.db);
  const redis = connectRedis(config.redisUrl, config.redisKeyPrefix);
  redis.on('error', () => metrics.storeErrors.inc({ store: 'redis', kind: 'connection' }));
  // Without an offline queue, a command sent before the first connection fails: give it a moment, but start
  // (and report not-ready) if Redis is down.
  await waitForFirstConnection(redis, 2000);
  mongo.client.on('serverHeartbeatFailed', () => metrics.storeErrors.inc({ store: 'mongodb', kind: 'heartbeat' }));
  mongo.client.on('commandFailed', (event) => {
    // A duplicate key is how racing inserts are settled (see storage/mongo.ts), not a store error.
    const code = (event.failure as { code?: unknown }).code;
    if (code !== 11000) metrics.storeErrors.inc({ store: 'mongodb', kind: 'command' });
  });

  // The audit trail may live in a MongoDB of its own (AUDIT_MONGODB_URL), or in another database of the main one.
  const auditMongo = config.auditMongodbUrl
    ? await connectMongo(config.auditMongodbUrl, config.auditMongodbDb ?? config.mongodbDb, options.mongoOptions)
    : null;
  const auditDb = auditMongo?.db ?? (config.auditMongodbDb ? mongo.client.db(config.auditMongodbDb) : mongo.db);
  if (auditDb !== mongo.db) await new AuditRepository(auditDb).ensureIndexes();

  const services = createServices({
    config,
    db: mongo.db,
    auditDb,
    redis,
    logger,
    onAuditWriteFailure: () => metrics.auditWriteFailures.inc(),
  });
  const verifier = await TokenVerifier.fromSource({
    jwksUrl: config.authJwksUrl,
    jwksFile: config.authJwksFile,
    jwks: options.jwks ?? undefined,
    issuer: config.authIssuer,
    audience: config.authAudience,
    clockToleranceSeconds: config.authClockToleranceSeconds,
    verifiedCacheSeconds: config.authVerifiedCacheSeconds,
  });
  // VEIL_BENCH_DISABLE_POLICY is refused in production by config.ts, and again by createSubgraph.
  const policyEngine = options.policyEngine ?? (config.policyDisabled ? 'off' : 'guards');
  const subgraph = await createSubgraph({ services, verifier, logger, metrics, policyEngine });
  return {
    config,
    services,
    subgraph,
    mongo,
    auditMongo,
    redis,
    metrics,
    stop: async () => {
      await subgraph.stop();
      redis.disconnect();
      await mongo.close();
      await auditMongo?.close();
    },
  };
}

function waitForFirstConnection(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}
