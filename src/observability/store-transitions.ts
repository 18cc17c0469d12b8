import type { MongoClient, ServerDescriptionChangedEvent } from 'mongodb';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { describeCause } from '../errors.js';
import { BACKGROUND_PING } from '../storage/redis.js';
import { outsideRequestScope } from './request-scope.js';

/**
 * Logs each store going away and coming back, once per change: callers got SERVICE_UNAVAILABLE and readiness went
 * down, but the log said nothing of the outage, only `request completed` lines at info (a probe). Only the changes are
 * logged, not every failed reconnect (ioredis tries every few hundred milliseconds, the driver every heartbeat).
 * The cause is an error class and system code (describeCause), never a message that could quote a URL. Returns the
 * detach, called before a stop closes the connections (a stop is no outage).
 */
export function logStoreTransitions(
  logger: Logger,
  stores: { mongo: MongoClient; mongoVariable: string; redis?: Redis },
  { redisCheckMs = REDIS_CHECK_MS }: { redisCheckMs?: number } = {},
): () => void {
  const { mongo, mongoVariable, redis } = stores;
  const warn = (fields: Record<string, unknown>, message: string): void => outsideRequestScope(() => logger.warn(fields, message));
  const downServers = new Set<string>();
  const onServerChange = (event: ServerDescriptionChangedEvent): void => {
    const isUp = event.newDescription.type !== 'Unknown';
    if (!isUp && event.previousDescription.type !== 'Unknown' && !downServers.has(event.address)) {
      downServers.add(event.address);
      // Per server (`host:port`, never the URL): in a replica set one member down need not stop anything.
      warn({ store: 'mongodb', variable: mongoVariable, server: event.address, cause: describeCause(event.newDescription.error) }, 'MongoDB server unreachable: requests that need it answer SERVICE_UNAVAILABLE unless another member serves them');
    } else if (isUp && downServers.delete(event.address)) {
      warn({ store: 'mongodb', variable: mongoVariable, server: event.address }, 'MongoDB server reachable again');
    }
  };
  mongo.on('serverDescriptionChanged', onServerChange);
  if (!redis) return () => void mongo.off('serverDescriptionChanged', onServerChange);

  // Down from the start when the first connection has not been made (start-up warned of it already).
  let isRedisDown = redis.status !== 'ready';
  let lastRedisError: unknown = null;
  const onRedisError = (error: unknown): void => {
    lastRedisError = error;
  };
  const onRedisClose = (): void => {
    if (isRedisDown) return;
    isRedisDown = true;
    // ioredis emits `close` before any error when the server goes away: the cause is then the closed connection.
    const cause = lastRedisError === null ? 'connection closed' : describeCause(lastRedisError);
    warn({ store: 'redis', variable: 'REDIS_URL', cause }, 'Redis connection lost: what needs it answers SERVICE_UNAVAILABLE until it is back');
  };
  const onRedisReady = (): void => {
    lastRedisError = null;
    if (!isRedisDown) return;
    isRedisDown = false;
    warn({ store: 'redis', variable: 'REDIS_URL' }, 'Redis is reachable again');
  };
  // A Redis that stops answering on an open connection (stopped, partitioned, stalled) never closes it: no `close`, no
  // log line, while every request that needed it answered SERVICE_UNAVAILABLE after the command timeout (a probe
  // stopped redis-server with SIGSTOP for 25 s and the log held only `request completed` lines). A PING every few
  // seconds on the open connection tells; one at a time, never on a connection that is not ready.
  let isChecking = false;
  let isUnanswered = false;
  const check = (): void => {
    if (isChecking || redis.status !== 'ready') return;
    isChecking = true;
    redis.ping(BACKGROUND_PING).then(
      () => {
        isChecking = false;
        if (!isUnanswered) return;
        isUnanswered = false;
        isRedisDown = false;
        warn({ store: 'redis', variable: 'REDIS_URL' }, 'Redis is reachable again');
      },
      (error: unknown) => {
        isChecking = false;
        if (isRedisDown || redis.status !== 'ready') return;
        isRedisDown = true;
        isUnanswered = true;
        const cause = error instanceof Error && error.message === 'Command timed out' ? 'no answer within the command timeout' : describeCause(error);
        warn({ store: 'redis', variable: 'REDIS_URL', cause }, 'Redis is not answering: what needs it answers SERVICE_UNAVAILABLE until it is back');
      },
    );
  };
  const checkTimer = setInterval(check, redisCheckMs);
  checkTimer.unref();
  const onReadyAfterStall = (): void => {
    isUnanswered = false;
  };
  redis.on('error', onRedisError);
  redis.on('close', onRedisClose);
  redis.on('ready', onRedisReady);
  redis.on('ready', onReadyAfterStall);
  return () => {
    clearInterval(checkTimer);
    mongo.off('serverDescriptionChanged', onServerChange);
    redis.off('error', onRedisError);
    redis.off('close', onRedisClose);
    redis.off('ready', onRedisReady);
    redis.off('ready', onReadyAfterStall);
  };
}

/** How often an open Redis connection is checked for answers (a PING). */
const REDIS_CHECK_MS = 5_000;
