import type { Redis } from 'ioredis';
import { refreshIndex } from '../storage/redis.js';
import { CHANNELS, type Channel } from './snapshot-types.js';

/** A live support session as Redis holds it. The token itself is not in here. */
export interface SupportSessionRecord {
  sessionId: string;
  customerId: string;
  channel: Channel;
  startedBy: string;
  startedAt: Date;
  expiresAt: Date;
}

const sessionKey = (tokenHash: string): string => `session:${tokenHash}`;
const indexKey = (customerId: string): string => `sessions-of:${customerId}`;

/**
 * Support sessions live in Redis only, for as long as their TTL. Keys (after the client's prefix):
 *   session:<SHA-256 of the token>  the session record, expiring with the session
 *   sessions-of:<customerId>        the session keys of a customer, so erasure can revoke them all
 * Only the token's hash is stored, so a copy of Redis gives nobody a usable token.
 */
export class SessionStore {
  constructor(private readonly redis: Redis) {}

  async save(tokenHash: string, session: SupportSessionRecord): Promise<void> {
    const ttl = Math.max(1, session.expiresAt.getTime() - Date.now());
    const key = sessionKey(tokenHash);
    const transaction = this.redis.multi().set(key, JSON.stringify(session), 'PX', ttl, 'NX').sadd(indexKey(session.customerId), key);
    // The index lives as long as its longest session.
    const results = await refreshIndex(transaction, indexKey(session.customerId), ttl, this.redis.options.keyPrefix ?? '').exec();
    assertExecOk(results);
    if (results?.[0]?.[1] !== 'OK') throw new Error('support session token collision');
  }

  async find(tokenHash: string): Promise<SupportSessionRecord | null> {
    const raw = await this.redis.get(sessionKey(tokenHash));
    return raw === null ? null : parseSession(raw);
  }

  /** Ends one session; true when a live session was deleted. */
  async delete(tokenHash: string): Promise<boolean> {
    const key = sessionKey(tokenHash);
    const session = await this.find(tokenHash);
    if (!session) return false;
    const results = await this.redis.multi().del(key).srem(indexKey(session.customerId), key).exec();
    assertExecOk(results);
    return results?.[0]?.[1] === 1;
  }

  /** The live sessions of a customer (data-subject access), oldest first. */
  async listCustomer(customerId: string): Promise<SupportSessionRecord[]> {
    const keys = (await this.redis.smembers(indexKey(customerId))).filter((key) => key.startsWith('session:'));
    if (keys.length === 0) return [];
    const sessions = (await this.redis.mget(...keys)).flatMap((raw) => (raw === null ? [] : [parseSession(raw)]));
    return sessions.filter((s): s is SupportSessionRecord => s !== null).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  /** Revokes every session of a customer (erasure); returns how many live sessions were deleted. */
  async purgeCustomer(customerId: string): Promise<number> {
    const index = indexKey(customerId);
    const keys = await this.redis.smembers(index);
    const pipeline = this.redis.multi();
    if (keys.length > 0) pipeline.del(...keys);
    pipeline.del(index);
    const results = await pipeline.exec();
    assertExecOk(results);
    return keys.length > 0 ? Number(results?.[0]?.[1] ?? 0) : 0;
  }
}

function parseSession(raw: string): SupportSessionRecord | null {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(raw) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof SyntaxError) return null;
    throw error;
  }
  const channel = CHANNELS.find((c) => c === value['channel']);
  if (typeof value['sessionId'] !== 'string' || typeof value['customerId'] !== 'string' || !channel) return null;
  return {
    sessionId: value['sessionId'],
    customerId: value['customerId'],
    channel,
    startedBy: String(value['startedBy'] ?? ''),
    startedAt: new Date(String(value['startedAt'])),
    expiresAt: new Date(String(value['expiresAt'])),
  };
}

function assertExecOk(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('redis transaction was discarded');
  for (const [error] of results) if (error) throw error;
}
