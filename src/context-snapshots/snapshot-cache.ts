import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CHANNELS, type Channel, type ContextSnapshot } from './snapshot-types.js';
import { readInteraction, readSubscription, readTicket, readTransaction, type FieldReaders } from './summary-readers.js';

const snapshotKey = (customerId: string): string => `snapshot:${customerId}`;
const epochKey = (customerId: string): string => `snapshot-epoch:${customerId}`;

// Writes a rebuilt snapshot only if nobody invalidated the customer since the rebuild began.
// Without this, a rebuild that read MongoDB just before a consent withdrawal (or new support
// activity, or an erasure) would put the old snapshot back right after the purge.
const SET_IF_EPOCH_UNCHANGED = `
if (redis.call('GET', KEYS[2]) or '') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0`;

export interface CachedSnapshots {
  /** The cached snapshot per customer, null on a miss (or an unreadable value). */
  snapshots: Array<ContextSnapshot | null>;
  /** Each customer's invalidation epoch as read in the same MGET; pass it back to writeMany. */
  epochs: string[];
}

/**
 * Context snapshots in Redis, as JSON with a TTL. Keys (after the client's prefix):
 *   snapshot:<customerId>        the snapshot, expiring at its expiresAt
 *   snapshot-epoch:<customerId>  a random value replaced on every invalidation
 * Neither holds a raw identifier: customers are named by their pseudonymous id.
 */
export class SnapshotCache {
  constructor(
    private readonly redis: Redis,
    private readonly ttlMs: number,
  ) {}

  /** One MGET for every customer of a batch (snapshot and epoch keys together). */
  async readMany(customerIds: readonly string[]): Promise<CachedSnapshots> {
    if (customerIds.length === 0) return { snapshots: [], epochs: [] };
    const values = await this.redis.mget(...customerIds.flatMap((id) => [snapshotKey(id), epochKey(id)]));
    return {
      snapshots: customerIds.map((id, i) => parseSnapshot(values[2 * i] ?? null, id)),
      epochs: customerIds.map((_id, i) => values[2 * i + 1] ?? ''),
    };
  }

  /** One pipeline for every rebuilt snapshot; each is written only if its epoch is unchanged. Returns how many were written. */
  async writeMany(entries: ReadonlyArray<{ snapshot: ContextSnapshot; epoch: string }>): Promise<number> {
    if (entries.length === 0) return 0;
    const pipeline = this.redis.pipeline();
    for (const { snapshot, epoch } of entries) {
      const ttl = Math.max(1, snapshot.expiresAt.getTime() - Date.now());
      pipeline.eval(SET_IF_EPOCH_UNCHANGED, 2, snapshotKey(snapshot.customerId), epochKey(snapshot.customerId), JSON.stringify(snapshot), epoch, String(ttl));
    }
    const results = (await pipeline.exec()) ?? [];
    let written = 0;
    for (const [error, value] of results) {
      if (error) throw error;
      if (value === 1) written += 1;
    }
    return written;
  }

  /** Drops the cached snapshot and bumps the epoch, so that no rebuild already under way can write it back. */
  async invalidate(customerId: string): Promise<number> {
    const results = await this.redis
      .multi()
      .del(snapshotKey(customerId))
      // The epoch only has to outlive rebuilds that are in flight; the snapshot TTL is a generous bound.
      .set(epochKey(customerId), randomBytes(9).toString('base64url'), 'PX', this.ttlMs)
      .exec();
    if (!results) throw new Error('redis transaction was discarded');
    for (const [error] of results) if (error) throw error;
    return Number(results[0]?.[1] ?? 0);
  }

  /** Erasure: the same as invalidate; returns how many snapshot keys were deleted (0 or 1). */
  purgeCustomer(customerId: string): Promise<number> {
    return this.invalidate(customerId);
  }
}

/**
 * A value we cannot read (another release's format, a partial write, a key someone wrote by hand) is a miss: the
 * snapshot is rebuilt from MongoDB. That holds for every field, not only for JSON that does not parse: a date that
 * does not parse, an item that is not an object or lacks a field, a channel outside the enum each failed the read
 * (`INTERNAL_SERVER_ERROR` on the field, or `SERVICE_UNAVAILABLE` naming Redis for a `null` item; a probe) until
 * the key expired. Only the known fields are kept: the schema never sees what else the value held.
 */
function parseSnapshot(raw: string | null, customerId: string): ContextSnapshot | null {
  if (raw === null) return null;
  try {
    const value: unknown = JSON.parse(raw);
    if (!isObject(value) || value['customerId'] !== customerId) return null;
    // Redis expires the key with the snapshot; one still there past its expiresAt was written by hand.
    const expiresAt = dateOf(value['expiresAt']);
    if (expiresAt.getTime() <= Date.now()) return null;
    return {
      customerId,
      generatedAt: dateOf(value['generatedAt']),
      expiresAt,
      channel: value['channel'] == null ? null : channelOf(value['channel']),
      openTickets: listOf(value['openTickets'], (t) => readTicket(CACHED, t)),
      activeSubscriptions: listOf(value['activeSubscriptions'], (x) => readSubscription(CACHED, x)),
      recentTransactions: listOf(value['recentTransactions'], (t) => readTransaction(CACHED, t)),
      lastInteractions: listOf(value['lastInteractions'], (x) => readInteraction(CACHED, x)),
      deviceFingerprint: textOrNull(value['deviceFingerprint']),
      ...(typeof value['history'] === 'boolean' ? { history: value['history'] } : {}),
    };
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof UnreadableSnapshot) return null;
    throw error;
  }
}

class UnreadableSnapshot extends Error {}

/** A cached snapshot is read strictly: a field that does not read makes it a miss (UnreadableSnapshot). */
const CACHED: FieldReaders = { text: textOf, textOrNull, date: dateOf, dateOrNull, integer: integerOf, channel: channelOf };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function listOf<T>(value: unknown, read: (item: Record<string, unknown>) => T): T[] {
  if (!Array.isArray(value)) throw new UnreadableSnapshot();
  return value.map((item: unknown) => {
    if (!isObject(item)) throw new UnreadableSnapshot();
    return read(item);
  });
}
function textOf(value: unknown): string {
  if (typeof value !== 'string') throw new UnreadableSnapshot();
  return value;
}
/** Nullable fields: absent counts as null (a record stored without the optional field leaves it out of the JSON). */
function textOrNull(value: unknown): string | null {
  return value == null ? null : textOf(value);
}
/** As JSON.stringify writes a Date, years 0000-9999 (the DateTime scalar serialises no other): `"1"` read as 2001. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
function dateOf(value: unknown): Date {
  const text = textOf(value);
  const date = new Date(text);
  if (!ISO_DATE.test(text) || Number.isNaN(date.getTime())) throw new UnreadableSnapshot();
  return date;
}
function dateOrNull(value: unknown): Date | null {
  return value == null ? null : dateOf(value);
}
/** A GraphQL Int (32 bits): a larger amount failed the field on every read (a regression probe). */
function integerOf(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || Math.abs(value) > 2_147_483_647) throw new UnreadableSnapshot();
  return value;
}
function channelOf(value: unknown): Channel {
  const channel = CHANNELS.find((c) => c === value);
  if (channel === undefined) throw new UnreadableSnapshot();
  return channel;
}
