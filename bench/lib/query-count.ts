/**
 * Query counting, per request, from two independent sources: the MongoDB
 * driver's command monitoring inside the monitored S process (plus a
 * per-command timing wrapper on its Redis client), and Redis' own MONITOR
 * stream on a separate connection. Requests are sent one at a time and each is
 * bracketed by a sentinel ECHO on another connection, so every command Redis
 * logged before the closing sentinel belongs to that request.
 */
import { Redis } from 'ioredis';
import type { MonitorStats, RedisCommandSample } from '../servers/veil-subgraph.js';
import { postGraphQL } from './graphql-client.js';
import type { BenchServer } from './servers.js';
import { BACKGROUND_PING } from '../../src/storage/redis.js';

interface MonitorLine {
  args: string[];
  /** host:port of the client, or 'lua' for a command a script ran (part of its EVAL, not a round trip). */
  source: string;
}

const SENTINEL = 'veil-bench-sentinel';
const READ_COMMANDS = new Set(['get', 'mget', 'exists', 'pttl', 'ttl', 'smembers', 'scard', 'hget', 'hgetall', 'hmget', 'strlen', 'type']);

export class RedisMonitor {
  private lines: MonitorLine[] = [];
  private marks = 0;
  private waiting: { text: string; resolve: () => void } | null = null;

  private constructor(
    private readonly monitor: Redis,
    private readonly sentinel: Redis,
    private readonly ownPrefix: string | null,
  ) {
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1]?.startsWith(SENTINEL)) {
        if (this.waiting && args[1] === this.waiting.text) {
          this.waiting.resolve();
          this.waiting = null;
        }
        return;
      }
      this.lines.push({ args, source });
    });
  }

  /** `keyPrefix`: with a Redis that is not ours, only commands on the benchmark's keys are counted. */
  static async start(url: string, keyPrefix: string | null): Promise<RedisMonitor> {
    const base = new Redis(url, { lazyConnect: true });
    await base.connect();
    const monitor = await base.monitor();
    base.disconnect();
    const sentinel = new Redis(url);
    return new RedisMonitor(monitor, sentinel, keyPrefix);
  }

  /** Everything Redis executed since the previous call (commands in flight before this call included). */
  async take(): Promise<MonitorLine[]> {
    const text = `${SENTINEL}-${++this.marks}`;
    const seen = new Promise<void>((resolve) => {
      this.waiting = { text, resolve };
    });
    await this.sentinel.echo(text);
    await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error('MONITOR did not show the sentinel')), 5000))]);
    const lines = this.lines;
    this.lines = [];
    return this.ownPrefix === null ? lines : lines.filter((l) => (keyOf(l.args) ?? '').startsWith(this.ownPrefix as string));
  }

  stop(): void {
    this.monitor.disconnect();
    this.sentinel.disconnect();
  }
}

function keyOf(args: readonly string[]): string | null {
  const name = args[0]?.toLowerCase();
  const key = name === 'eval' || name === 'evalsha' ? args[3] : args[1];
  return key ?? null;
}

function kindOfLine(args: readonly string[], prefix: string): string {
  const key = keyOf(args);
  const name = (args[0] ?? '?').toLowerCase();
  if (key === null || !key.startsWith(prefix)) return name;
  return key.slice(prefix.length).split(':')[0] ?? name;
}

export interface RequestCount {
  label: string;
  representations: number;
  distinct: number;
  /** The same request sent a second time (caches filled by the first). */
  isRepeat: boolean;
  ok: boolean;
  errors: string[];
  mongoFinds: Record<string, number>;
  mongoOther: Record<string, number>;
  /** Per kind of data, from Redis MONITOR (MULTI/EXEC markers not counted). */
  redisMonitorCommands: Record<string, number>;
  /** Per kind of data and read/write, round trips seen by the S process (a pipeline is one). */
  redisRoundTrips: Record<string, number>;
  redisInProcessCommands: number;
  redisMonitorTotal: number;
  /** Commands that Lua scripts ran inside an EVAL (MONITOR shows them with source 'lua'). */
  redisScriptCommands: number;
  /**
   * MongoDB commands that no request sent, run by a timer while this request was in flight (the abandoned-registration
   * sweep, a minute after start and hourly): left out of the counts above, named here.
   */
  mongoBackground: Record<string, number>;
  /** The store watch's PINGs (a timer's, every 5 s) seen by MONITOR while this request was in flight: left out above. */
  redisBackground: number;
  isOneFindPerType: boolean;
  isOneRedisRoundTripPerKind: boolean;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function roundTrips(samples: readonly RedisCommandSample[]): Record<string, number> {
  const trips = new Map<string, Set<string>>();
  samples.forEach((s, i) => {
    const op = READ_COMMANDS.has(s.name) ? 'read' : 'write';
    // MULTI/EXEC ride in the pipeline of the commands they wrap.
    if ((s.name === 'multi' || s.name === 'exec') && s.batch !== null) return;
    const key = `${s.kind}/${op}`;
    const set = trips.get(key) ?? new Set<string>();
    set.add(s.batch === null ? `single-${i}` : `batch-${s.batch}`);
    trips.set(key, set);
  });
  return Object.fromEntries([...trips].map(([k, v]) => [k, v.size]));
}

/** How long a count waits after the response for what the request still does (see countOneRequest). */
const TRAILING_WORK_MS = 150;

/** Sends one request and attributes every MongoDB and Redis command to it. */
export async function countOneRequest(
  server: BenchServer,
  monitor: RedisMonitor,
  keyPrefix: string,
  token: string,
  body: string,
  meta: { label: string; representations: number; distinct: number; isRepeat: boolean },
  entityCollection: string,
): Promise<RequestCount> {
  await monitor.take();
  await server.peer.call<MonitorStats>({ command: 'stats' });
  const result = await postGraphQL<{ _entities: unknown[] }>(server.url, token, body);
  // What the request does after its response (the log line's operation-name screen, one `find` the first time a name
  // is seen) belongs to it, not to the next request counted.
  await new Promise((resolve) => setTimeout(resolve, TRAILING_WORK_MS));
  const lines = await monitor.take();
  const stats = await server.peer.call<MonitorStats>({ command: 'stats' });

  const requestCommands = stats.mongo.filter((c) => !c.background);
  const finds = requestCommands.filter((c) => c.name === 'find');
  const mongoFinds = countBy(finds, (c) => c.collection ?? '?');
  const mongoOther = countBy(
    requestCommands.filter((c) => c.name !== 'find'),
    (c) => `${c.name} ${c.collection ?? ''}`.trim(),
  );
  const isBackgroundLine = (l: MonitorLine) => (l.args[0] ?? '').toLowerCase() === 'ping' && l.args[1] === BACKGROUND_PING;
  const commandLines = lines.filter((l) => l.source !== 'lua' && !['multi', 'exec'].includes((l.args[0] ?? '').toLowerCase()) && !isBackgroundLine(l));
  const scriptLines = lines.filter((l) => l.source === 'lua');
  const redisMonitorCommands = countBy(commandLines, (l) => kindOfLine(l.args, keyPrefix));
  const requestRedis = stats.redis.filter((s) => !s.background);
  const inProcess = requestRedis.filter((s) => s.name !== 'multi' && s.name !== 'exec');
  const trips = roundTrips(requestRedis);
  const errors = result.errors.map((e) => e.message);
  const entities = result.data?._entities?.length ?? 0;
  return {
    ...meta,
    ok: result.status === 200 && errors.length === 0 && entities === meta.representations,
    errors,
    mongoFinds,
    mongoOther,
    redisMonitorCommands,
    redisRoundTrips: trips,
    redisInProcessCommands: inProcess.length,
    redisMonitorTotal: commandLines.length,
    redisScriptCommands: scriptLines.length,
    redisBackground: lines.filter(isBackgroundLine).length,
    mongoBackground: countBy(
      stats.mongo.filter((c) => c.background),
      (c) => `${c.name} ${c.collection ?? ''}`.trim(),
    ),
    isOneFindPerType: (mongoFinds[entityCollection] ?? 0) === 1 && Object.values(mongoFinds).every((n) => n <= 1),
    // MONITOR must agree with what the process sent, and every kind of data costs at most one round trip each way.
    isOneRedisRoundTripPerKind: commandLines.length === inProcess.length && Object.values(trips).every((n) => n <= 1),
  };
}

export interface WaitShare {
  workload: string;
  requests: number;
  wallMsPerRequest: number;
  mongoMsPerRequest: number;
  redisMsPerRequest: number;
  mongoShare: number;
  redisShare: number;
  storeShare: number;
}

/** Sequential requests (concurrency 1): how much of each request's wall time a store command was outstanding. */
export async function measureWaitShare(server: BenchServer, token: string, body: string, workload: string, requests: number): Promise<WaitShare> {
  await server.peer.call<MonitorStats>({ command: 'stats' });
  let wallMs = 0;
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    const result = await postGraphQL(server.url, token, body);
    wallMs += performance.now() - started;
    if (result.errors.length > 0) throw new Error(`${workload}: ${result.errors[0]?.message ?? 'error'} while measuring store wait`);
  }
  const stats = await server.peer.call<MonitorStats>({ command: 'stats' });
  return {
    workload,
    requests,
    wallMsPerRequest: wallMs / requests,
    mongoMsPerRequest: stats.mongoBusyMs / requests,
    redisMsPerRequest: stats.redisBusyMs / requests,
    mongoShare: stats.mongoBusyMs / wallMs,
    redisShare: stats.redisBusyMs / wallMs,
    storeShare: stats.storeBusyMs / wallMs,
  };
}
