import { MongoClientClosedError, MongoNetworkError, MongoNotConnectedError, MongoServerClosedError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';

export type InfrastructureService = 'mongodb' | 'redis';

/** What ioredis rejects commands with while it is disconnected (plain Errors: the message is all there is). */
const REDIS_CONNECTION_MESSAGES = new Set([
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Connection is closed.',
  'Command timed out',
  'connect ETIMEDOUT',
]);
const REDIS_ERROR_NAMES = new Set(['MaxRetriesPerRequestError']);
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN']);
// Error replies of a Redis that is up but cannot serve now: out of memory, a read-only replica, too few replicas to
// write, loading its data, busy with a script, a failed save, a cluster that is down or resharding; and one that will
// not serve this user (an ACL without the prefix's keys or scripting, credentials changed under a live connection),
// which answered INTERNAL_SERVER_ERROR until a probe.
const REDIS_UNAVAILABLE_REPLIES = /^(?:OOM|READONLY|NOREPLICAS|LOADING|BUSY|MASTERDOWN|MISCONF|CLUSTERDOWN|TRYAGAIN|NOPERM|NOAUTH|WRONGPASS)\b/;

// Server replies that mean "not now" rather than "no": a mongod shutting down answers the operations it was running with
// InterruptedAtShutdown or ShutdownInProgress, a replica set member that stepped down with NotWritablePrimary, and so
// on (the driver's retryable-read codes, less the time limits, which are the caller's own).
const MONGO_UNAVAILABLE_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

// FerretDB answers the operations it was running when told to stop with InternalError (code 1) naming why: their
// context was cancelled, or its SQLite pool was closed under them (a probe saw one such answer as
// INTERNAL_SERVER_ERROR). Other InternalErrors stay unexpected.
const FERRETDB_STOPPING = /context canceled|database is closed|connection is already closed/;

/**
 * Which store an error says is unreachable, or null when it is something else
 * (a bug, a rejected write, a caller's mistake). Follows `cause` a few levels:
 * services may wrap a driver error in their own.
 */
export function classifyInfrastructureError(error: unknown): InfrastructureService | null {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    if (
      current instanceof MongoNetworkError ||
      current instanceof MongoServerSelectionError ||
      current instanceof MongoNotConnectedError ||
      current instanceof MongoTopologyClosedError ||
      current instanceof MongoServerClosedError ||
      // The watchdog (storage/mongo.ts) closes the client to connect it afresh: what was running then fails with this.
      current instanceof MongoClientClosedError ||
      (current instanceof MongoServerError && typeof current.code === 'number' && MONGO_UNAVAILABLE_CODES.has(current.code)) ||
      (current instanceof MongoServerError && current.code === 1 && FERRETDB_STOPPING.test(current.message))
    ) {
      return 'mongodb';
    }
    if (REDIS_ERROR_NAMES.has(current.name) || REDIS_CONNECTION_MESSAGES.has(current.message)) return 'redis';
    if (current.name === 'ReplyError' && isUnavailableReply(current)) return 'redis';
    const code = (current as { code?: unknown }).code;
    // A bare socket error that is not the driver's can only come from ioredis here.
    if (typeof code === 'string' && SOCKET_CODES.has(code) && !current.name.startsWith('Mongo')) return 'redis';
    current = current.cause;
  }
  return null;
}

/** A refusal of a Redis that cannot serve now; in a MULTI it comes as EXECABORT with the refusals as previousErrors. */
function isUnavailableReply(error: Error): boolean {
  if (REDIS_UNAVAILABLE_REPLIES.test(error.message)) return true;
  const previous = (error as { previousErrors?: unknown }).previousErrors;
  return (
    error.message.startsWith('EXECABORT') &&
    Array.isArray(previous) &&
    previous.length > 0 &&
    previous.every((p) => p instanceof Error && REDIS_UNAVAILABLE_REPLIES.test(p.message))
  );
}

/** What a read answers instead while Redis cannot serve it; any other failure still fails the read. */
export async function unlessRedisIsDown<T, F>(read: Promise<T>, fallback: F): Promise<T | F> {
  try {
    return await read;
  } catch (error) {
    if (classifyInfrastructureError(error) === 'redis') return fallback;
    throw error;
  }
}
