import { MongoServerError } from 'mongodb';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';
import { TokenVerifier } from './auth/token-verifier.js';
import type { ResolvedConfig } from './config.js';
import { Metrics } from './observability/metrics.js';
import { AuditRepository } from './audit/audit-repository.js';
import { createSubgraph, type PolicyEngine, type Subgraph } from './server.js';
import { createServices, type Services } from './services.js';
import { verifyKeysAgainstStore } from './identity/key-checks.js';
import { PiiEnvelope } from './identity/pii-envelope.js';
import { logStoreTransitions } from './observability/store-transitions.js';
import { COLLECTIONS, connectMongo, ensureIndexes, IndexNotUniqueError, isDuplicateKeyError, type MongoHandle, type MongoWatchdogOptions } from './storage/mongo.js';
import { checkRedisWrites, connectRedis, redisReplyCode } from './storage/redis.js';
import { ConfigError, describeCause, StartupError } from './errors.js';
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
  /** When a stalled server monitor counts as stalled (tests shorten it); 30 s by default. */
  mongoStalledCheckMs?: number;
  collectDefaultMetrics?: boolean;
  /** How long a client has to send a whole request; 30 s (tests shorten it). */
  requestTimeoutMs?: number;
  /** When a GraphQL request still running is answered 503; 60 s (tests shorten it). */
  responseDeadlineMs?: number;
}

/** Connects to the stores and builds the subgraph; the caller decides when to listen. */
export async function createApp(options: AppOptions): Promise<App> {
  const { config, logger } = options;
  const metrics = new Metrics({ collectDefaults: options.collectDefaultMetrics ?? true });
  // Command monitoring feeds the failed-command counter, and costs CPU on every command (the driver builds an event
  // and deserialises every reply once more for it): 11% of a one-entity request's CPU, measured in bench/. Opt-in.
  const watchdog = (variable: string): MongoWatchdogOptions => ({
    ...(options.mongoStalledCheckMs === undefined ? {} : { stalledCheckMs: options.mongoStalledCheckMs }),
    onStalledMonitor: ({ pendingMs }) => {
      metrics.storeErrors.inc({ store: 'mongodb', kind: 'monitor' });
      logger.warn({ variable, pendingMs }, "MongoDB's server check stalled: connecting the client afresh");
    },
  });
  const mongo = await connectNamedMongo(
    'MONGODB_URL',
    config.mongodbUrl,
    config.mongodbDb,
    { monitorCommands: config.mongodbCommandMonitoring, ...options.mongoOptions },
    watchdog('MONGODB_URL'),
  );
  await buildingIndexes('MONGODB_URL', () => ensureIndexes(mongo.db), () => mongo.close());
  // Warnings that say the start goes on (`serving...`) wait until every check has passed: a start refused for its
  // configuration then says only that, in one line, not after two warnings that it was serving (a probe).
  let heldWarnings: Array<() => void> | null = [];
  const warnOnceStarted = (write: () => void): void => void (heldWarnings ? heldWarnings.push(write) : write());
  const redis = connectRedis(config.redisUrl, config.redisKeyPrefix);
  redis.on('error', () => metrics.storeErrors.inc({ store: 'redis', kind: 'connection' }));
  // The audit trail may live in a MongoDB of its own (AUDIT_MONGODB_URL), connected below.
  let auditMongo: MongoHandle | null = null;
  /** Every store connected so far: what a refused start, and a stop, close. */
  const closeStores = async (): Promise<void> => {
    redis.disconnect();
    await mongo.close();
    await auditMongo?.close();
  };
  // Without an offline queue, a command sent before the first connection fails: give it a moment, but start
  // (and report not-ready) if Redis is down. Refused credentials are configuration, not an outage: stop.
  const redisProblem = await waitForFirstConnection(redis, 2000);
  if (redisProblem !== null) {
    if (isRedisAuthFailure(redisProblem)) {
      await closeStores();
      throw new ConfigError(`REDIS_URL: Redis refused the credentials (${describeCause(redisProblem)})`);
    }
    warnOnceStarted(() => logger.warn({ variable: 'REDIS_URL', cause: describeCause(redisProblem) }, 'Redis is not reachable yet: serving, with /health/ready reporting it down until it is'));
  } else if (!(await selectsItsDatabase(redis))) {
    // ioredis reports a failed SELECT as an event and goes on in database 0: another tenant's keys (a probe).
    await closeStores();
    throw new ConfigError(`REDIS_URL: Redis has no database ${redisDatabaseOf(redis)} (its databases setting is lower)`);
  } else {
    // A user whose ACL leaves out the prefix's keys or scripting, or a read-only replica, answered PING and started;
    // then readiness was up and requests failed (a probe). Out of memory may pass: a warning, and readiness down.
    const writeProblem = await checkRedisWrites(redis).then(() => null, (error: unknown) => error);
    const code = writeProblem === null ? null : redisReplyCode(writeProblem);
    if (code === 'NOPERM') {
      await closeStores();
      throw new ConfigError(`REDIS_URL: the Redis user may not write keys under REDIS_KEY_PREFIX or run scripts (NOPERM): its ACL needs the prefix's keys and the scripting commands`);
    }
    if (code === 'READONLY') {
      await closeStores();
      throw new ConfigError('REDIS_URL: is a read-only replica (READONLY): give the primary');
    }
    if (writeProblem !== null) {
      warnOnceStarted(() => logger.warn({ variable: 'REDIS_URL', cause: code ?? describeCause(writeProblem) }, 'Redis does not take writes yet: serving, with /health/ready reporting it down until it does'));
    }
  }
  mongo.client.on('serverHeartbeatFailed', () => metrics.storeErrors.inc({ store: 'mongodb', kind: 'heartbeat' }));
  if (config.mongodbCommandMonitoring) {
    mongo.client.on('commandFailed', (event) => {
      // A duplicate key is how racing inserts are settled (see storage/mongo.ts), not a store error.
      const code = (event.failure as { code?: unknown }).code;
      if (code !== 11000) metrics.storeErrors.inc({ store: 'mongodb', kind: 'command' });
    });
  }

  // The audit trail may live in a MongoDB of its own (AUDIT_MONGODB_URL), or in another database of the main one.
  try {
    auditMongo = config.auditMongodbUrl
      ? await connectNamedMongo('AUDIT_MONGODB_URL', config.auditMongodbUrl, config.auditMongodbDb ?? config.mongodbDb, options.mongoOptions, watchdog('AUDIT_MONGODB_URL'))
      : null;
  } catch (error) {
    // Redis and the main MongoDB were left connected by a start refused here (a regression probe).
    await closeStores();
    throw error;
  }
  const auditDb = auditMongo?.db ?? (config.auditMongodbDb ? mongo.client.db(config.auditMongodbDb) : mongo.db);
  // The trail's indexes where it lives: with AUDIT_MONGODB_URL or another AUDIT_MONGODB_DB, an old `audit_events`
  // left in the main database is no concern of start-up (a regression probe was refused over one).
  const auditVariable = auditMongo ? 'AUDIT_MONGODB_URL' : auditDb !== mongo.db ? 'AUDIT_MONGODB_DB' : 'MONGODB_URL';
  await buildingIndexes(auditVariable, () => new AuditRepository(auditDb).ensureIndexes(), closeStores);
  // A trail of its own that holds no event while the database holds customers: their chains would start afresh there,
  // empty and "valid", and fork from the ones left behind (a probe moved AUDIT_MONGODB_DB and every trail read empty).
  // Refused in production; elsewhere (the benchmark gives each server a trail of its own) a warning.
  if (auditDb !== mongo.db) {
    const [customer, event] = await Promise.all([
      mongo.db.collection(COLLECTIONS.customers).findOne({}, { projection: { _id: 1 } }),
      auditDb.collection(COLLECTIONS.auditEvents).findOne({}, { projection: { _id: 1 } }),
    ]);
    if (customer && !event) {
      const problem = `${auditVariable}: the audit store holds no events while the database holds customers, whose trails would start afresh there; copy audit_events into it first, or point it at the store that holds them`;
      if (config.env === 'production') {
        await closeStores();
        throw new ConfigError(problem);
      }
      warnOnceStarted(() => logger.warn({ variable: auditVariable }, problem));
    }
  }

  const services = createServices({
    config,
    db: mongo.db,
    auditDb,
    redis,
    logger,
    onAuditWriteFailure: () => metrics.auditWriteFailures.inc(),
  });
  // The token verifier before the keys' check: that check records the key versions of a database that has none, for
  // good, and a start refused for its JWKS afterwards had already bound the database to keys it then could not change
  // (a probe). A well-formed key that is not the data's own is bad configuration too: stop here, naming the variable.
  let verifier: TokenVerifier;
  try {
    verifier = await TokenVerifier.fromSource({
      jwksUrl: config.authJwksUrl,
      jwksFile: config.authJwksFile,
      jwks: options.jwks ?? undefined,
      issuer: config.authIssuer,
      audience: config.authAudience,
      clockToleranceSeconds: config.authClockToleranceSeconds,
      verifiedCacheSeconds: config.authVerifiedCacheSeconds,
      onKeySetUnavailable: (cause) => warnOnceStarted(() => logger.warn({ variable: 'AUTH_JWKS_URL', cause: describeCause(cause) }, 'the JWKS could not be fetched: tokens are refused until it can be')),
    });
    for (const warning of await verifyKeysAgainstStore(mongo.db, services.keyring, PiiEnvelope.fromBase64(config.piiMasterKey, config.piiMasterKeyPrevious))) logger.warn(warning);
  } catch (error) {
    await closeStores();
    throw error;
  }
  const held = heldWarnings;
  heldWarnings = null;
  for (const write of held) write();
  const stopLoggingStores = logStoreTransitions(logger, { mongo: mongo.client, mongoVariable: 'MONGODB_URL', redis });
  const stopLoggingAuditStore = auditMongo ? logStoreTransitions(logger, { mongo: auditMongo.client, mongoVariable: 'AUDIT_MONGODB_URL' }) : () => undefined;
  // Customers a registration abandoned before claiming any identifier: a minute after start, then hourly. Not awaited
  // at start: the query scans the customers (no index on the flag), which a start should not wait for.
  const sweepAbandoned = () =>
    services.customers.sweepAbandonedRegistrations().then(
      (removed) => {
        if (removed > 0) logger.warn({ removed }, 'deleted customers whose registration died before any identifier was claimed');
      },
      (error: unknown) => logger.warn({ cause: describeCause(error) }, 'could not look for abandoned registrations; trying again in an hour'),
    );
  const firstSweep = setTimeout(() => void sweepAbandoned(), 60_000);
  const sweepTimer = setInterval(() => void sweepAbandoned(), 60 * 60_000);
  firstSweep.unref();
  sweepTimer.unref();
  // VEIL_BENCH_DISABLE_POLICY is refused in production by config.ts, and again by createSubgraph.
  const policyEngine = options.policyEngine ?? (config.policyDisabled ? 'off' : 'guards');
  const subgraph = await createSubgraph({
    services,
    verifier,
    logger,
    metrics,
    policyEngine,
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.responseDeadlineMs === undefined ? {} : { responseDeadlineMs: options.responseDeadlineMs }),
  });
  return {
    config,
    services,
    subgraph,
    mongo,
    auditMongo,
    redis,
    metrics,
    stop: async () => {
      clearTimeout(firstSweep);
      clearInterval(sweepTimer);
      stopLoggingStores();
      stopLoggingAuditStore();
      await subgraph.stop();
      services.stopTimers();
      await closeStores();
    },
  };
}

/**
 * Builds the indexes the code relies on. A unique one the stored documents already break (two audit events at one
 * chain position, written while its index was dropped) cannot be built: start-up threw the server's raw error, and
 * every replica then failed to start (a probe). One line says what to do instead; the index is not skipped, since it
 * is what keeps racing writers from forking a chain.
 */
async function buildingIndexes(variable: string, build: () => Promise<void>, closeStores: () => Promise<void>): Promise<void> {
  try {
    await build();
  } catch (error) {
    await closeStores();
    // MongoDB answers DuplicateKey (11000); FerretDB an InternalError carrying SQLite's "UNIQUE constraint failed".
    if (isDuplicateKeyError(error) || /UNIQUE constraint failed/.test(error instanceof Error ? error.message : '')) {
      throw new StartupError(
        `${variable}: a unique index cannot be built because stored documents break it (two audit events at one chain position, or two records of one key, written while the index was missing): find them with verifyAuditTrail or a query on the duplicated key, and remove or move the copies`,
      );
    }
    if (error instanceof IndexNotUniqueError) {
      throw new StartupError(`${variable}: ${error.message} (made by hand?): drop it, and the next start builds it unique`);
    }
    // The server refused: another index of the same keys under another name, or of the same name with other options
    // (made by hand). Anything else (the connection lost meanwhile) goes on as it was.
    if (!(error instanceof MongoServerError)) throw error;
    throw new StartupError(`${variable}: the indexes this service relies on cannot be built (${describeCause(error)}): compare the collection's indexes with src/storage/mongo.ts ensureIndexes`);
  }
}

/** Resolves with null once Redis is ready, or with the last error seen if it is not within `timeoutMs`. */
function waitForFirstConnection(redis: Redis, timeoutMs: number): Promise<Error | null> {
  if (redis.status === 'ready') return Promise.resolve(null);
  return new Promise((resolve) => {
    let lastError: Error = new Error('no answer');
    const onError = (error: Error) => {
      lastError = error;
    };
    const finish = (result: Error | null) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(result);
    };
    const onReady = () => finish(null);
    const timer = setTimeout(() => finish(lastError), timeoutMs);
    redis.once('ready', onReady);
    redis.on('error', onError);
  });
}

/** The database number ioredis read from the URL: its path, or a `?db=` parameter (which a path-only reading missed; a probe). */
function redisDatabaseOf(redis: Redis): number {
  return Number(redis.options.db ?? 0);
}

/** False when the server refuses the URL's database number as out of range; true when it takes it, or is down. */
async function selectsItsDatabase(redis: Redis): Promise<boolean> {
  const db = redisDatabaseOf(redis);
  if (db === 0) return true;
  try {
    await redis.select(db);
    return true;
  } catch (error) {
    return !/out of range|invalid DB index/i.test(error instanceof Error ? error.message : String(error));
  }
}

function isRedisAuthFailure(error: Error): boolean {
  return /\b(NOAUTH|WRONGPASS)\b|invalid password|invalid username/i.test(error.message);
}

/**
 * Connects, or stops start-up with a line that names the variable: a URL the
 * driver cannot parse is configuration (exit 78), a server it cannot reach is
 * not (exit 1). Neither line repeats the driver's message, which can quote the
 * URL and its password.
 */
export async function connectNamedMongo(variable: string, url: string, dbName: string, options: MongoClientOptions = {}, watchdog: MongoWatchdogOptions = {}): Promise<MongoHandle> {
  try {
    return await connectMongo(url, dbName, options, watchdog);
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    // A host's port that is no number (`mongodb://127.0.0.1:zz/`): a MongoRuntimeError caused by ERR_INVALID_URL.
    const isInvalidUrl = (error as { cause?: { code?: unknown } }).cause?.code === 'ERR_INVALID_URL';
    if (name === 'MongoParseError' || name === 'MongoInvalidArgumentError' || name === 'MongoAPIError' || isInvalidUrl) {
      throw new ConfigError(`${variable}: is not a MongoDB connection string the driver accepts (${describeCause(error)})`);
    }
    const codeName = (error as { codeName?: unknown }).codeName;
    if (codeName === 'AuthenticationFailed') throw new ConfigError(`${variable}: MongoDB refused the credentials (${describeCause(error)})`);
    // What no retry mends: an authMechanism whose package is not installed (MONGODB-AWS needs @aws-sdk/credential-providers,
    // GSSAPI kerberos), or a TLS file the URL names that cannot be read. Reported as an outage (exit 1) until a probe.
    if (name === 'MongoMissingDependencyError') {
      throw new ConfigError(`${variable}: needs a package this build does not install (${describeCause(error)}); use another authMechanism`);
    }
    // A file that reads but holds no key or certificate OpenSSL can load (ERR_OSSL_PEM_NO_START_LINE; a regression probe).
    if (causeCodes(error).some((code) => code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || (typeof code === 'string' && code.startsWith('ERR_OSSL_')))) {
      throw new ConfigError(`${variable}: a file it names (tlsCAFile, tlsCertificateKeyFile) cannot be read or used (${describeCause(error)})`);
    }
    throw new StartupError(`${variable}: cannot connect to MongoDB (${describeCause(error)})`);
  }
}

/** The `code`s of an error and its causes (a file the driver could not read is an ENOENT somewhere in the chain). */
function causeCodes(error: unknown): unknown[] {
  const codes: unknown[] = [];
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) codes.push((e as { code?: unknown }).code);
  return codes;
}
