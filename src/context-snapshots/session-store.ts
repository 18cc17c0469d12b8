import type { Redis } from 'ioredis';
import { personOf } from '../auth/same-person.js';
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

// KEYS: the session key, the customer's index. ARGV: record, TTL ms, cap for the customer, cap for one caller and
// customer, the client's key prefix, the session key without it (index members are key names without the prefix, as
// the client's own commands use them), the person the caller is (personOf), the caller's subject as sent (for records
// written before the person was). Answers { 'saved' } or { 'collision' }, or { 'customer' | 'caller',
// seconds until the first live session under that cap ends }.
const SAVE_SESSION = `
local live, mine = 0, 0
local soonest, soonestMine = -1, -1
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local left = redis.call('PTTL', ARGV[5] .. member)
  if left < 0 then
    redis.call('SREM', KEYS[2], member)
  else
    live = live + 1
    if soonest < 0 or left < soonest then soonest = left end
    local ok, record = pcall(cjson.decode, redis.call('GET', ARGV[5] .. member))
    if ok and type(record) == 'table' and (record.startedByPerson == ARGV[7] or (record.startedByPerson == nil and record.startedBy == ARGV[8])) then
      mine = mine + 1
      if soonestMine < 0 or left < soonestMine then soonestMine = left end
    end
  end
end
if mine >= tonumber(ARGV[4]) then return { 'caller', math.max(1, math.ceil(soonestMine / 1000)) } end
if live >= tonumber(ARGV[3]) then return { 'customer', math.max(1, math.ceil(soonest / 1000)) } end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return { 'collision' } end
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'NX')
return { 'saved' }`;
const indexKey = (customerId: string): string => `sessions-of:${customerId}`;

/**
 * Support sessions live in Redis only, for as long as their TTL. Keys (after the client's prefix):
 *   session:<SHA-256 of the token>  the session record, expiring with the session
 *   sessions-of:<customerId>        the session keys of a customer, so erasure can revoke them all
 * Only the token's hash is stored, so a copy of Redis gives nobody a usable token.
 */
export class SessionStore {
  constructor(private readonly redis: Redis) {}

  /**
   * Saves a session unless the customer already has `limits.perCustomer` live ones, or the session's starter
   * `limits.perCaller` of them: one script, so racing starts cannot pass a cap together. Expired members leave the
   * index first (they are not live), and the index lives as long as its longest session. Refused, the answer names
   * the cap and the seconds until the first live session under it ends.
   */
  async save(
    tokenHash: string,
    session: SupportSessionRecord,
    limits: { perCustomer: number; perCaller: number },
  ): Promise<{ saved: true } | { saved: false; cap: 'customer' | 'caller'; retryAfterSeconds: number }> {
    const ttl = Math.max(1, session.expiresAt.getTime() - Date.now());
    const [outcome, seconds] = (await this.redis.eval(
      SAVE_SESSION,
      2,
      sessionKey(tokenHash),
      indexKey(session.customerId),
      // The cap per caller counts a person (personOf): `agent-a`, `Agent-A` and `ａｇｅｎｔ－ａ`, which the two-person
      // rule takes for one person, each had a cap of their own (a probe).
      JSON.stringify({ ...session, startedByPerson: personOf(session.startedBy) }),
      String(ttl),
      String(limits.perCustomer),
      String(limits.perCaller),
      this.redis.options.keyPrefix ?? '',
      sessionKey(tokenHash),
      personOf(session.startedBy),
      session.startedBy,
    )) as [string, number?];
    if (outcome === 'saved') return { saved: true };
    if (outcome === 'customer' || outcome === 'caller') return { saved: false, cap: outcome, retryAfterSeconds: Number(seconds) };
    throw new Error('support session token collision');
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
