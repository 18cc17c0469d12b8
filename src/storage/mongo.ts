import { MongoClient, MongoServerError, type Db, type MongoClientOptions } from 'mongodb';

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

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

/**
 * Connects without waiting for the server: the driver reconnects by itself, so
 * the subgraph starts (and reports not-ready) while MongoDB is down and
 * recovers when it returns.
 */
export async function connectMongo(url: string, dbName: string, options: MongoClientOptions = {}): Promise<MongoHandle> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: 3000,
    maxPoolSize: 50,
    retryWrites: false,
    ...options,
  });
  await client.connect();
  const db = client.db(dbName);
  return { client, db, close: () => client.close() };
}

/** Indexes the code relies on; the unique ones are what makes racing writes safe. */
export async function ensureIndexes(db: Db): Promise<void> {
  await db.collection(COLLECTIONS.identifiers).createIndex({ customerId: 1 }, { name: 'by_customer' });
  await db
    .collection(COLLECTIONS.consents)
    .createIndex({ customerId: 1, version: 1 }, { name: 'customer_version_unique', unique: true });
  await db.collection(COLLECTIONS.supportRecords).createIndex({ customerId: 1, kind: 1 }, { name: 'by_customer_kind' });
  await db
    .collection(COLLECTIONS.auditEvents)
    .createIndex({ chain: 1, sequence: 1 }, { name: 'chain_sequence_unique', unique: true });
  await db.collection(COLLECTIONS.auditEvents).createIndex({ customerId: 1, occurredAt: 1 }, { name: 'by_customer_time' });
  await db.collection(COLLECTIONS.anonymousLookups).createIndex({ identifierHash: 1 }, { name: 'by_identifier_hash' });
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
