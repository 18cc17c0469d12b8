import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CHANNELS, type Channel, type ContextSnapshot } from './snapshot-types.js';

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

interface StoredSnapshot {
  customerId: string;
  generatedAt: string;
  expiresAt: string;
  channel: Channel | null;
  openTickets: Array<{ id: string; status: string; subject: string | null; openedAt: string; updatedAt: string | null }>;
  activeSubscriptions: Array<{ id: string; plan: string; status: string; startedAt: string; renewsAt: string | null }>;
  recentTransactions: Array<{ id: string; status: string; amountMinor: number; currency: string; occurredAt: string; description: string | null }>;
  lastInteractions: Array<{ id: string; channel: Channel; occurredAt: string; summary: string | null; outcome: string | null }>;
  deviceFingerprint: string | null;
}

/** A value we cannot read (another version's format, a partial write) is a miss: the snapshot is rebuilt. */
function parseSnapshot(raw: string | null, customerId: string): ContextSnapshot | null {
  if (raw === null) return null;
  let value: StoredSnapshot;
  try {
    value = JSON.parse(raw) as StoredSnapshot;
  } catch (error) {
    if (error instanceof SyntaxError) return null;
    throw error;
  }
  if (value.customerId !== customerId || !Array.isArray(value.openTickets) || !Array.isArray(value.activeSubscriptions)) return null;
  if (!Array.isArray(value.recentTransactions) || !Array.isArray(value.lastInteractions)) return null;
  const date = (v: string): Date => new Date(v);
  const dateOrNull = (v: string | null): Date | null => (v === null ? null : new Date(v));
  return {
    customerId: value.customerId,
    generatedAt: date(value.generatedAt),
    expiresAt: date(value.expiresAt),
    channel: CHANNELS.find((c) => c === value.channel) ?? null,
    openTickets: value.openTickets.map((t) => ({ ...t, openedAt: date(t.openedAt), updatedAt: dateOrNull(t.updatedAt) })),
    activeSubscriptions: value.activeSubscriptions.map((s) => ({ ...s, startedAt: date(s.startedAt), renewsAt: dateOrNull(s.renewsAt) })),
    recentTransactions: value.recentTransactions.map((t) => ({ ...t, occurredAt: date(t.occurredAt) })),
    lastInteractions: value.lastInteractions.map((x) => ({ ...x, occurredAt: date(x.occurredAt) })),
    deviceFingerprint: value.deviceFingerprint ?? null,
  };
}
