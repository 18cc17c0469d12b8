import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, MongoServerError, type Db, type Document, type MongoClientOptions } from 'mongodb';

export const COLLECTIONS = {
  customers: 'customers',
  customerKeys: 'customer_keys',
  identifiers: 'identifiers',
  consents: 'consents',
  supportRecords: 'support_records',
  auditEvents: 'audit_events',
  anonymousLookups: 'anonymous_lookups',
  customerLocks: 'customer_locks',
  keyChecks: 'key_checks',
} as const;

/**
 * The `comment` of commands that no request sends (the abandoned-registration sweep): it shows in MongoDB's profiler,
 * slow-query log and `currentOp`, and lets command monitoring (the benchmark's query counts) tell them from a request's.
 */
export const BACKGROUND_COMMENT_PREFIX = 'veil background: ';

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

export interface MongoWatchdogOptions {
  /** A server check pending this long is taken for a stalled monitor (default 30 s). */
  stalledCheckMs?: number;
  /** Told before the client is connected afresh. */
  onStalledMonitor?: (info: { address: string; pendingMs: number }) => void;
}

/**
 * Connects without waiting for the server: the driver reconnects by itself, so
 * the subgraph starts (and reports not-ready) while MongoDB is down and
 * recovers when it returns.
 */
export async function connectMongo(url: string, dbName: string, options: MongoClientOptions = {}, watchdog: MongoWatchdogOptions = {}): Promise<MongoHandle> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: 3000,
    maxPoolSize: 50,
    retryWrites: false,
    ...options,
  });
  try {
    await client.connect();
  } catch (error) {
    // A client that failed to connect still monitors its hosts: with a host it cannot parse (a trailing comma in the
    // URL), its monitor later threw that error with no listener, and a maintenance command died with a stack trace
    // after printing its one line (seen by hand).
    await client.close().catch(() => undefined);
    throw error;
  }
  const db = client.db(dbName);
  const stopWatching = watchServerChecks(client, watchdog);
  return {
    client,
    db,
    close: async () => {
      stopWatching();
      await client.close();
    },
  };
}

const DEFAULT_STALLED_CHECK_MS = 30_000;
const RECONNECT_PAUSE_MS = 1000;

/**
 * The driver's server monitor can stall for good: a check sent on its connection just as the server closed it waits
 * for a `drain` that a destroyed socket never emits (driver 6.22 and 7.9 alike: `Connection.writeCommand`), and
 * while the check is pending no other one starts. The server then stays "Unknown": every operation fails server
 * selection, and readiness stays down, however long MongoDB has been back (seen in a stress run of FerretDB restarts
 * under load: over 60 s, until the process restarted; a fresh client connected at once). A check cannot take longer
 * than a connect and a hello (connectTimeoutMS each), plus heartbeatFrequencyMS when the server streams them; one
 * pending far longer has stalled, and the client is closed and connected afresh (operations meanwhile answer
 * SERVICE_UNAVAILABLE). Only the driver's public heartbeat events are read.
 */
function watchServerChecks(client: MongoClient, { stalledCheckMs = DEFAULT_STALLED_CHECK_MS, onStalledMonitor }: MongoWatchdogOptions): () => void {
  const pendingSince = new Map<string, number>();
  let stopped = false;
  let reconnecting = false;
  client.on('serverHeartbeatStarted', (event) => pendingSince.set(event.connectionId, Date.now()));
  client.on('serverHeartbeatSucceeded', (event) => pendingSince.delete(event.connectionId));
  client.on('serverHeartbeatFailed', (event) => pendingSince.delete(event.connectionId));
  const reconnect = async () => {
    reconnecting = true;
    pendingSince.clear();
    await client.close().catch(() => undefined);
    // A client whose connect failed (MongoDB down meanwhile) stays closed: try until one succeeds, or until closed.
    while (!stopped) {
      if (await client.connect().then(() => true, () => false)) {
        if (stopped) await client.close().catch(() => undefined);
        break;
      }
      await sleep(RECONNECT_PAUSE_MS);
    }
    reconnecting = false;
  };
  const timer = setInterval(() => {
    if (stopped || reconnecting) return;
    const now = Date.now();
    for (const [address, since] of pendingSince) {
      if (now - since < stalledCheckMs) continue;
      onStalledMonitor?.({ address, pendingMs: now - since });
      void reconnect();
      return;
    }
  }, Math.max(50, Math.min(5000, stalledCheckMs / 4)));
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/**
 * Refuses to go on when the index `name` on `collection` is not unique. FerretDB keeps an existing index of the same
 * name and keys when asked for a unique one, without a word (MongoDB refuses, IndexOptionsConflict): a non-unique
 * `chain_sequence_unique` made by hand let every replica start and accept two events at one chain position (a probe).
 */
export async function requireUniqueIndex(db: Db, collection: string, name: string): Promise<void> {
  const index = (await db.collection(collection).listIndexes().toArray()).find((i) => i['name'] === name);
  if (index?.['unique'] !== true) {
    throw new IndexNotUniqueError(`${collection}.${name}`);
  }
}

/** A unique index the code relies on exists without being unique (see requireUniqueIndex). */
export class IndexNotUniqueError extends Error {
  constructor(readonly index: string) {
    super(`the index ${index} exists but is not unique`);
    this.name = 'IndexNotUniqueError';
  }
}

/** Indexes the code relies on; the unique ones are what makes racing writes safe. */
export async function ensureIndexes(db: Db): Promise<void> {
  await db.collection(COLLECTIONS.identifiers).createIndex({ customerId: 1 }, { name: 'by_customer' });
  // The request-id and operation-name screen looks hashes up under prior key versions and as CRM-id skeletons too
  // (hasAnyIdentifier).
  await db.collection(COLLECTIONS.identifiers).createIndex({ priorHashes: 1 }, { name: 'by_prior_hash' });
  await db.collection(COLLECTIONS.identifiers).createIndex({ skeletonHash: 1 }, { name: 'by_skeleton_hash', sparse: true });
  await db
    .collection(COLLECTIONS.consents)
    .createIndex({ customerId: 1, version: 1 }, { name: 'customer_version_unique', unique: true });
  await db.collection(COLLECTIONS.supportRecords).createIndex({ customerId: 1, kind: 1 }, { name: 'by_customer_kind' });
  await db.collection(COLLECTIONS.anonymousLookups).createIndex({ identifierHash: 1 }, { name: 'by_identifier_hash' });
  await db.collection(COLLECTIONS.anonymousLookups).createIndex({ priorHashes: 1 }, { name: 'by_prior_hash' });
  await requireUniqueIndex(db, COLLECTIONS.consents, 'customer_version_unique');
  // The audit trail's indexes: AuditRepository.ensureIndexes, in whichever database holds the trail.
}

/** A document the server refused in an insert: its position in the list, and the server's code and message. */
export interface InsertRefusal {
  index: number;
  code: number;
  errmsg: string;
}

/** What one `insert` command may carry (the server's maxWriteBatchSize is 100,000; this keeps each command small). */
const INSERT_BATCH_SIZE = 1000;

/**
 * Inserts documents (each with its `_id`) with `insert` commands, as insertMany does, and answers the documents the
 * server refused, by index. Unlike insertMany, it leaves the driver's errors as they are: insertMany wraps a dropped
 * connection or an unreachable server in a MongoBulkWriteError that keeps neither its class nor its cause, so a store
 * outage read as a bug (INTERNAL_SERVER_ERROR) instead of SERVICE_UNAVAILABLE (a CI run caught it, under load, when
 * several audit events were written at once). Ordered inserts stop at the first refusal, as the server does.
 */
export async function insertDocuments(db: Db, collection: string, docs: readonly Document[], ordered: boolean): Promise<InsertRefusal[]> {
  const refusals: InsertRefusal[] = [];
  for (let start = 0; start < docs.length; start += INSERT_BATCH_SIZE) {
    const reply = await db.command({ insert: collection, documents: docs.slice(start, start + INSERT_BATCH_SIZE), ordered });
    const concern = reply['writeConcernError'] as { code?: number; errmsg?: string } | undefined;
    if (concern) throw new MongoServerError({ message: concern.errmsg ?? 'write concern error', errmsg: concern.errmsg, code: concern.code });
    const refused = (Array.isArray(reply['writeErrors']) ? reply['writeErrors'] : []) as InsertRefusal[];
    refusals.push(...refused.map((r) => ({ index: start + r.index, code: r.code, errmsg: r.errmsg })));
    if (ordered && refused.length > 0) break;
  }
  return refusals;
}

export function isDuplicateKeyError(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === 11000;
}

/** A batch `$in` carries at most this many ids; larger batches are split. */
export const IN_CHUNK_SIZE = 500;

/** Splits a list of keys so that no `$in` carries more than `size` values. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * Batched `$in` finds ask for everything in the first reply (the server still caps one batch at 16 MiB): the
 * driver's default first batch of 101 documents would cost a `getMore` round trip per extra 101 (16 MiB) results.
 */
export const BATCHED_FIND = { batchSize: 10_000 } as const;
