import { Redis, type ChainableCommander } from 'ioredis';

/**
 * ioredis reconnects by itself; commands issued while Redis is down fail fast
 * (no offline queue) so that callers get a clear SERVICE_UNAVAILABLE instead
 * of a hung request.
 */
export function connectRedis(url: string, keyPrefix: string): Redis {
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Errors surface on the commands that fail; without a listener ioredis would print them.
  redis.on('error', () => undefined);
  return redis;
}

/** Redis has no prefix for SCAN/KEYS patterns; callers outside ioredis' prefixing use this. */
export function prefixedPattern(keyPrefix: string, pattern: string): string {
  return `${keyPrefix}${pattern}`;
}

/**
 * Makes an index set (sessions-of, grants-of) live at least `ttlMs` from now, never shorter than it already does.
 * `GT` alone is not enough: Redis treats a key without a TTL (a set SADD just created) as living forever, so GT
 * never applies to it; `NX` gives such a key its first TTL.
 */
export function extendTtl(transaction: ChainableCommander, key: string, ttlMs: number): ChainableCommander {
  return transaction.pexpire(key, ttlMs, 'GT').pexpire(key, ttlMs, 'NX');
}
