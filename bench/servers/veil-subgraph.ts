/**
 * S, S0 and SS: this subgraph (createApp from src/app.ts) with a chosen
 * policy engine, on the given MongoDB and Redis. With `monitor` on, it also
 * counts and times every MongoDB command (the driver's command monitoring) and
 * every Redis command (a wrapper around this process's ioredis client), and
 * hands the counters to the runner over IPC. Monitoring runs in a separate
 * instance from the one whose CPU is measured.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { createApp } from '../../src/app.js';
import { loadConfig, type ResolvedConfig } from '../../src/config.js';
import { DEV_AUDIENCE, DEV_ISSUER, devJwks, type DevKeys } from '../../src/dev/dev-keys.js';
import { createLogger } from '../../src/observability/logger.js';
import { BACKGROUND_COMMENT_PREFIX } from '../../src/storage/mongo.js';
import { BACKGROUND_PING } from '../../src/storage/redis.js';
import type { PolicyEngine } from '../../src/server.js';
import { reportListening, serveControl } from './server-ipc.js';

export interface VeilServerOptions {
  engine: PolicyEngine;
  mongoUrl: string;
  redisUrl: string;
  mongoDb: string;
  redisKeyPrefix: string;
  keysFile: string;
  monitor: boolean;
  /** Extra environment for loadConfig (limits a run needs to raise). */
  env: Record<string, string>;
}

export interface MongoCommandSample {
  name: string;
  collection: string | null;
  /** Sent by no request (its comment starts with BACKGROUND_COMMENT_PREFIX: the abandoned-registration sweep). */
  background: boolean;
  ms: number;
  ok: boolean;
}
export interface RedisCommandSample {
  name: string;
  /** The first key's first segment after the key prefix (snapshot, access, grant, ...), or the command name for keyless commands. */
  kind: string;
  /** Commands sent in one pipeline share a batch number; standalone commands have null. */
  batch: number | null;
  ms: number;
  /** The store watch's own PING (BACKGROUND_PING), sent by no request. */
  background: boolean;
}
export interface MonitorStats {
  mongo: MongoCommandSample[];
  redis: RedisCommandSample[];
  /** Wall time during which at least one MongoDB command was outstanding (union of intervals). */
  mongoBusyMs: number;
  redisBusyMs: number;
  /** Either store outstanding. */
  storeBusyMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as VeilServerOptions;
const keys = JSON.parse(readFileSync(options.keysFile, 'utf8')) as DevKeys;
const config = loadConfig({
  NODE_ENV: 'development',
  MONGODB_URL: options.mongoUrl,
  REDIS_URL: options.redisUrl,
  MONGODB_DB: options.mongoDb,
  REDIS_KEY_PREFIX: options.redisKeyPrefix,
  AUTH_ISSUER: DEV_ISSUER,
  AUTH_AUDIENCE: DEV_AUDIENCE,
  IDENTITY_HMAC_KEYS: keys.identityHmacKeys,
  PII_MASTER_KEY: keys.piiMasterKey,
  LOG_LEVEL: 'info',
  INTROSPECTION: 'false',
  ...(options.engine === 'off' ? { VEIL_BENCH_DISABLE_POLICY: 'true' } : {}),
  ...options.env,
}) as ResolvedConfig;

const app = await createApp({
  config,
  logger: createLogger(config.logLevel),
  jwks: devJwks(keys),
  policyEngine: options.engine,
  mongoOptions: options.monitor ? { monitorCommands: true } : {},
});

type Interval = [number, number];
const mongoSamples: MongoCommandSample[] = [];
const redisSamples: RedisCommandSample[] = [];
const mongoIntervals: Interval[] = [];
const redisIntervals: Interval[] = [];

if (options.monitor) {
  const started = new Map<number, { at: number; name: string; collection: string | null; background: boolean }>();
  app.mongo.client.on('commandStarted', (event) => {
    const target = event.command[event.commandName] as unknown;
    const comment = event.command['comment'] as unknown;
    const background = typeof comment === 'string' && comment.startsWith(BACKGROUND_COMMENT_PREFIX);
    started.set(event.requestId, { at: performance.now(), name: event.commandName, collection: typeof target === 'string' ? target : null, background });
  });
  const finish = (requestId: number, ok: boolean) => {
    const begin = started.get(requestId);
    if (!begin) return;
    started.delete(requestId);
    const end = performance.now();
    if (!begin.background) mongoIntervals.push([begin.at, end]);
    mongoSamples.push({ name: begin.name, collection: begin.collection, background: begin.background, ms: end - begin.at, ok });
  };
  app.mongo.client.on('commandSucceeded', (event) => finish(event.requestId, true));
  app.mongo.client.on('commandFailed', (event) => finish(event.requestId, false));
  instrumentRedis(app.redis, config.redisKeyPrefix);
}

function instrumentRedis(redis: Redis, prefix: string): void {
  const batches = new WeakMap<object, number>();
  let nextBatch = 1;
  type SendCommand = Redis['sendCommand'];
  const original: SendCommand = redis.sendCommand.bind(redis);
  const wrapped = ((command: Parameters<SendCommand>[0], stream?: Parameters<SendCommand>[1], node?: unknown) => {
    const at = performance.now();
    let batch: number | null = null;
    if (stream) {
      batch = batches.get(stream) ?? nextBatch++;
      batches.set(stream, batch);
    }
    const name = command.name.toLowerCase();
    const settle = () => {
      const end = performance.now();
      redisIntervals.push([at, end]);
      redisSamples.push({ name, kind: kindOf(name, command.args, prefix), batch, ms: end - at, background: name === 'ping' && command.args[0] === BACKGROUND_PING });
    };
    command.promise.then(settle, settle);
    return (original as (c: unknown, s?: unknown, n?: unknown) => unknown)(command, stream, node);
  }) as SendCommand;
  redis.sendCommand = wrapped;
}

function kindOf(name: string, args: ReadonlyArray<unknown>, prefix: string): string {
  const keyArg = name === 'eval' || name === 'evalsha' ? args[2] : args[0];
  const key = typeof keyArg === 'string' ? keyArg : Buffer.isBuffer(keyArg) ? keyArg.toString('utf8') : null;
  if (key === null || !key.startsWith(prefix)) return name;
  return key.slice(prefix.length).split(':')[0] ?? name;
}

function unionMs(intervals: Interval[]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let current: Interval | null = null;
  for (const [start, end] of sorted) {
    if (current && start <= current[1]) current[1] = Math.max(current[1], end);
    else {
      if (current) total += current[1] - current[0];
      current = [start, end];
    }
  }
  if (current) total += current[1] - current[0];
  return total;
}

function takeStats(): MonitorStats {
  const stats: MonitorStats = {
    mongo: mongoSamples.splice(0),
    redis: redisSamples.splice(0),
    mongoBusyMs: unionMs(mongoIntervals),
    redisBusyMs: unionMs(redisIntervals),
    storeBusyMs: unionMs([...mongoIntervals, ...redisIntervals]),
  };
  mongoIntervals.length = 0;
  redisIntervals.length = 0;
  return stats;
}

serveControl(async (command) => {
  switch (command) {
    case 'stats':
      return takeStats();
    case 'memory': {
      // With --expose-gc (the runner passes it) a full collection first tells live memory from garbage not yet collected.
      const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
      const describe = (m: NodeJS.MemoryUsage) => ({ rssMb: mb(m.rss), heapTotalMb: mb(m.heapTotal), heapUsedMb: mb(m.heapUsed), externalMb: mb(m.external) });
      const before = describe(process.memoryUsage());
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) return { before, afterGc: null };
      gc();
      gc();
      return { before, afterGc: describe(process.memoryUsage()) };
    }
    case 'clock':
      // Microseconds on the monotonic clock that V8's CPU profiles use: the runner marks the measured window with it.
      return Number(process.hrtime.bigint() / 1000n);
    case 'redis-client-addr': {
      const info = String(await app.redis.client('INFO'));
      return /(?:^|\s)addr=(\S+)/.exec(info)?.[1] ?? null;
    }
    case 'stop':
      // serveControl exits right after this answer.
      await app.stop();
      return true;
    default:
      throw new Error(`unknown command ${command}`);
  }
});

const port = await app.subgraph.listen(0, '127.0.0.1');
reportListening(port);
