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

/**
 * The message of the PING the store watch sends on its own (src/observability/store-transitions.ts): no request sends
 * it, and the benchmark's command counts leave it out, as they do the MongoDB commands of background work.
 */
export const BACKGROUND_PING = 'veil background: redis check';

/**
 * A write under the key prefix, in a script, as requests make them: what a PING cannot tell. A read-only replica, a
 * Redis out of memory, or a user whose ACL leaves out the prefix's keys or scripting answered PING, so readiness stayed
 * up while every request that wrote failed (a probe). Readiness runs it; start-up refuses an ACL or a replica.
 */
export async function checkRedisWrites(redis: Redis): Promise<void> {
  await redis.eval(WRITE_CHECK, 1, 'health:write-check');
}
const WRITE_CHECK = `redis.call('SET', KEYS[1], '1', 'PX', 10000) return 1`;

/** The refusal word of a Redis error reply (`NOPERM`, `READONLY`, `OOM`), never its message. */
export function redisReplyCode(error: unknown): string | null {
  const message = error instanceof Error ? error.message : '';
  // A refusal inside a script comes back wrapped: `ERR Error running script ... : READONLY ...` (Redis 7: the word first).
  const match = /(?:^|: )-?(NOPERM|READONLY|OOM|NOSCRIPT|NOAUTH|WRONGPASS|MISCONF|BUSY|LOADING)\b/.exec(message);
  if (match) return match[1] as string;
  // A command the ACL denies inside a script is a plain ERR (Redis 7.0), which a regression probe's `-set` user got.
  return /user executing the script can't run this command/.test(message) ? 'NOPERM' : null;
}

/** Redis has no prefix for SCAN/KEYS patterns; callers outside ioredis' prefixing use this. */
export function prefixedPattern(keyPrefix: string, pattern: string): string {
  return `${keyPrefix}${pattern}`;
}

// Drops the members of an index set whose keys have expired (members are key names without the client's prefix).
const DROP_EXPIRED_MEMBERS = `
local dropped = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. member) == 0 then
    redis.call('SREM', KEYS[1], member)
    dropped = dropped + 1
  end
end
return dropped`;

/**
 * Keeps an index set (grants-of; sessions-of has a script of its own that also caps it) to its live members, and
 * alive at least `ttlMs` from now, never shorter than it already does. Without the first, a customer who gets a new
 * grant before the last one's TTL runs out keeps an index that never expires and gains a dead member each time (a
 * probe: 153 members, 3 live). `GT` alone is not enough: Redis treats a key without a TTL (a set SADD just created)
 * as living forever, so GT never applies to it; `NX` gives such a key its first TTL.
 */
export function refreshIndex(transaction: ChainableCommander, key: string, ttlMs: number, keyPrefix: string): ChainableCommander {
  return transaction.eval(DROP_EXPIRED_MEMBERS, 1, key, keyPrefix).pexpire(key, ttlMs, 'GT').pexpire(key, ttlMs, 'NX');
}
