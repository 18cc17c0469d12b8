import { GraphQLError } from 'graphql';
import { ServiceUnavailableError } from '../errors.js';
import { classifyInfrastructureError } from '../http/infrastructure-errors.js';

/** Told about every store failure that is turned into SERVICE_UNAVAILABLE, so it still reaches the log and metrics. */
export type StoreErrorReporter = (store: 'redis' | 'mongodb', error: unknown) => void;

/**
 * Runs a Redis operation; any failure becomes SERVICE_UNAVAILABLE for the
 * caller (never the client's message, which can quote keys) and is reported.
 * ioredis fails fast while Redis is down (no offline queue), so this answers
 * at once and the next call after Redis returns simply works.
 */
export async function guardRedis<T>(operation: () => Promise<T>, report: StoreErrorReporter): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof GraphQLError) throw error;
    report('redis', error);
    throw new ServiceUnavailableError('redis');
  }
}

/** MongoDB connectivity failures become SERVICE_UNAVAILABLE; anything else (a bug, a bad document) is left to surface as it is. */
export async function guardMongo<T>(operation: () => Promise<T>, report: StoreErrorReporter): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (classifyInfrastructureError(error) === 'mongodb') {
      report('mongodb', error);
      throw new ServiceUnavailableError('mongodb');
    }
    throw error;
  }
}
