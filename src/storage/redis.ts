import { Redis } from 'ioredis';

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
