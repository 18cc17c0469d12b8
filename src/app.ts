import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { TokenVerifier } from './auth/token-verifier.js';
import type { ResolvedConfig } from './config.js';
import { Metrics } from './observability/metrics.js';
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
  const mongo = await connectMongo(config.mongodbUrl, config.mongodbDb, options.mongoOptions);
  await ensureIndexes(mongo.db);
  const redis = connectRedis(config.redisUrl, config.redisKeyPrefix);
  redis.on('error', () => metrics.storeErrors.inc({ store: 'redis' }));
  mongo.client.on('serverHeartbeatFailed', () => metrics.storeErrors.inc({ store: 'mongodb' }));

  const services = createServices({
    config,
    db: mongo.db,
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
  });
  const subgraph = await createSubgraph({ services, verifier, logger, metrics, policyEngine: options.policyEngine });
  return {
    config,
    services,
    subgraph,
    mongo,
    redis,
    metrics,
    stop: async () => {
      await subgraph.stop();
      redis.disconnect();
      await mongo.close();
    },
  };
}
