import type { MongoClient, ServerDescriptionChangedEvent } from 'mongodb';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { describeCause } from '../errors.js';

/**
 * Logs each store going away and coming back, once per change: callers got SERVICE_UNAVAILABLE and readiness went
 * down, but the log said nothing of the outage, only `request completed` lines at info (a probe). Only the changes are
 * logged, not every failed reconnect (ioredis tries every few hundred milliseconds, the driver every heartbeat).
 * The cause is an error class and system code (describeCause), never a message that could quote a URL. Returns the
 * detach, called before a stop closes the connections (a stop is no outage).
 */
export function logStoreTransitions(logger: Logger, stores: { mongo: MongoClient; mongoVariable: string; redis?: Redis }): () => void {
  const { mongo, mongoVariable, redis } = stores;
  const downServers = new Set<string>();
  const onServerChange = (event: ServerDescriptionChangedEvent): void => {
    const isUp = event.newDescription.type !== 'Unknown';
    if (!isUp && event.previousDescription.type !== 'Unknown' && !downServers.has(event.address)) {
      downServers.add(event.address);
      // Per server (`host:port`, never the URL): in a replica set one member down need not stop anything.
      logger.warn({ store: 'mongodb', variable: mongoVariable, server: event.address, cause: describeCause(event.newDescription.error) }, 'MongoDB server unreachable: requests that need it answer SERVICE_UNAVAILABLE unless another member serves them');
    } else if (isUp && downServers.delete(event.address)) {
      logger.warn({ store: 'mongodb', variable: mongoVariable, server: event.address }, 'MongoDB server reachable again');
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
    logger.warn({ store: 'redis', variable: 'REDIS_URL', cause }, 'Redis connection lost: what needs it answers SERVICE_UNAVAILABLE until it is back');
  };
  const onRedisReady = (): void => {
    lastRedisError = null;
    if (!isRedisDown) return;
    isRedisDown = false;
    logger.warn({ store: 'redis', variable: 'REDIS_URL' }, 'Redis is reachable again');
  };
  redis.on('error', onRedisError);
  redis.on('close', onRedisClose);
  redis.on('ready', onRedisReady);
  return () => {
    mongo.off('serverDescriptionChanged', onServerChange);
    redis.off('error', onRedisError);
    redis.off('close', onRedisClose);
    redis.off('ready', onRedisReady);
  };
}
