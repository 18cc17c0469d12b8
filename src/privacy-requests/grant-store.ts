import type { Redis } from 'ioredis';
import { refreshIndex } from '../storage/redis.js';
import type { PiiField } from '../customers/customer-types.js';
import type { PiiAccessGrantRecord } from './grant-types.js';

/** What an approved grant gives one agent for one customer and field: enough to audit a read without another lookup. */
export interface ActiveAccess {
  grantId: string;
  justification: string;
  expiresAt: number;
}

const FIELDS: readonly PiiField[] = ['DISPLAY_NAME', 'EMAIL', 'PHONE'];

// Keeps the later expiry when two grants cover the same field: a new, shorter grant must not cut an existing one short.
const SET_IF_LATER = `
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

// Approves a PENDING grant in one step, so that of approvers racing on replicas exactly one approves it; the others
// get the grant as the first one left it. Returns {1, grant} when this call approved it, {0, grant} when it already
// was, nil when there is no such grant. A grant approved over ARGV[3] ms before ARGV[2] (now) and never activated
// counts as pending: its approver was told the approval failed (a hung Redis ran it after the client had timed out,
// and taking it back failed too).
const APPROVE_IF_PENDING = `
local raw = redis.call('GET', KEYS[1])
if not raw then return nil end
local grant = cjson.decode(raw)
local now = tonumber(ARGV[2])
local stalled = grant.status == 'APPROVED' and grant.activated == false and tonumber(grant.approvedAt or now) <= now - tonumber(ARGV[3])
if grant.status ~= 'PENDING' and not stalled then return {0, raw} end
grant.status = 'APPROVED'
grant.approvedBy = ARGV[1]
grant.approvedAt = now
grant.activated = false
local approved = cjson.encode(grant)
redis.call('SET', KEYS[1], approved, 'KEEPTTL')
return {1, approved}`;

// Marks the approval of ARGV[1] as in effect (its event written, its access stored).
const MARK_ACTIVATED = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local grant = cjson.decode(raw)
if grant.status ~= 'APPROVED' or grant.approvedBy ~= ARGV[1] then return 0 end
grant.activated = true
redis.call('SET', KEYS[1], cjson.encode(grant), 'KEEPTTL')
return 1`;

// Takes back an approval whose PII_ACCESS_GRANTED event could not be written, if it is still the one this approver made.
const UNAPPROVE_IF_APPROVED_BY = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local grant = cjson.decode(raw)
if grant.status ~= 'APPROVED' or grant.approvedBy ~= ARGV[1] then return 0 end
grant.status = 'PENDING'
grant.approvedBy = cjson.null
redis.call('SET', KEYS[1], cjson.encode(grant), 'KEEPTTL')
return 1`;

/**
 * PII access grants live in Redis only, for as long as their TTL. Keys (after the client's prefix):
 *   grant:<id>                        the grant record
 *   access:<agent>:<customer>:<FIELD> the approved access, expiring with its grant
 *   grants-of:<customer>              every key above that concerns a customer, for erasure
 */
export class GrantStore {
  constructor(private readonly redis: Redis) {}

  async save(grant: PiiAccessGrantRecord): Promise<void> {
    const ttl = Math.max(1, grant.expiresAt.getTime() - Date.now());
    const key = `grant:${grant.id}`;
    const transaction = this.redis.multi().set(key, JSON.stringify(grant), 'PX', ttl).sadd(`grants-of:${grant.customerId}`, key);
    await refreshIndex(transaction, `grants-of:${grant.customerId}`, ttl, this.redis.options.keyPrefix ?? '').exec().then(assertExecOk);
  }

  async find(grantId: string): Promise<PiiAccessGrantRecord | null> {
    const raw = await this.redis.get(`grant:${grantId}`);
    return raw ? parseGrant(raw) : null;
  }

  /** Approves a pending grant atomically; `approvedNow` is false when another approver came first. null: no such grant. */
  async approve(grantId: string, approverId: string, stalledAfterMs: number): Promise<{ grant: PiiAccessGrantRecord; approvedNow: boolean } | null> {
    const result = (await this.redis.eval(APPROVE_IF_PENDING, 1, `grant:${grantId}`, approverId, String(Date.now()), String(stalledAfterMs))) as [number, string] | null;
    if (!result) return null;
    return { grant: parseGrant(result[1]), approvedNow: result[0] === 1 };
  }

  /** Back to PENDING, when this approver's approval is the grant's; false when it is not (or the grant is gone). */
  async unapprove(grantId: string, approverId: string): Promise<boolean> {
    return (await this.redis.eval(UNAPPROVE_IF_APPROVED_BY, 1, `grant:${grantId}`, approverId)) === 1;
  }

  async activate(grant: PiiAccessGrantRecord): Promise<void> {
    const ttl = Math.max(1, grant.expiresAt.getTime() - Date.now());
    const access: ActiveAccess = { grantId: grant.id, justification: grant.justification, expiresAt: grant.expiresAt.getTime() };
    const pipeline = this.redis.multi();
    for (const field of grant.fields) {
      const key = accessKey(grant.requestedBy, grant.customerId, field);
      pipeline.eval(SET_IF_LATER, 1, key, JSON.stringify(access), String(ttl));
      pipeline.sadd(`grants-of:${grant.customerId}`, key);
    }
    pipeline.eval(MARK_ACTIVATED, 1, `grant:${grant.id}`, grant.approvedBy ?? '');
    await refreshIndex(pipeline, `grants-of:${grant.customerId}`, ttl, this.redis.options.keyPrefix ?? '').exec().then(assertExecOk);
  }

  /** One MGET for every customer and field of a request. */
  async findActiveAccess(agentId: string, customerIds: readonly string[]): Promise<Array<Partial<Record<PiiField, ActiveAccess>>>> {
    if (customerIds.length === 0) return [];
    const keys = customerIds.flatMap((id) => FIELDS.map((field) => accessKey(agentId, id, field)));
    const values = await this.redis.mget(...keys);
    const now = Date.now();
    return customerIds.map((_id, i) => {
      const access: Partial<Record<PiiField, ActiveAccess>> = {};
      FIELDS.forEach((field, j) => {
        const raw = values[i * FIELDS.length + j];
        if (!raw) return;
        const parsed = JSON.parse(raw) as ActiveAccess;
        if (parsed.expiresAt > now) access[field] = parsed;
      });
      return access;
    });
  }

  /** The grants of a customer that have not expired, pending ones included (data-subject access), by expiry. */
  async listCustomer(customerId: string): Promise<PiiAccessGrantRecord[]> {
    const keys = (await this.redis.smembers(`grants-of:${customerId}`)).filter((key) => key.startsWith('grant:'));
    if (keys.length === 0) return [];
    const grants = (await this.redis.mget(...keys)).flatMap((raw) => (raw === null ? [] : [parseGrant(raw)]));
    return grants.sort((a, b) => a.expiresAt.getTime() - b.expiresAt.getTime());
  }

  /** Deletes every grant and access key of a customer; returns how many grants went (the erasure receipt's count). */
  async purgeCustomer(customerId: string): Promise<number> {
    const index = `grants-of:${customerId}`;
    const keys = await this.redis.smembers(index);
    const grants = keys.filter((key) => key.startsWith('grant:'));
    const transaction = this.redis.multi();
    if (grants.length > 0) transaction.del(...grants);
    transaction.del(index, ...keys.filter((key) => !key.startsWith('grant:')));
    const results = await transaction.exec();
    assertExecOk(results);
    return grants.length > 0 ? Number(results?.[0]?.[1] ?? 0) : 0;
  }
}

function accessKey(agentId: string, customerId: string, field: PiiField): string {
  return `access:${encodeURIComponent(agentId)}:${customerId}:${field}`;
}

function parseGrant(raw: string): PiiAccessGrantRecord {
  const value = JSON.parse(raw) as Omit<PiiAccessGrantRecord, 'expiresAt'> & { expiresAt: string };
  return { ...value, expiresAt: new Date(value.expiresAt) };
}

function assertExecOk(results: Array<[Error | null, unknown]> | null): void {
  if (!results) throw new Error('redis transaction was discarded');
  for (const [error] of results) if (error) throw error;
}
