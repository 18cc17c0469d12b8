import { createHash, randomBytes } from 'node:crypto';
import { assertCustomerId, type Actor, type CustomerService } from '../customers/customer-service.js';
import { BadUserInputError, RateLimitedError } from '../errors.js';
import { newPrefixedId } from '../identity/customer-id.js';
import type { SessionStore, SupportSessionRecord } from './session-store.js';
import { guardRedis, type StoreErrorReporter } from './store-guard.js';
import { CHANNELS, type Channel } from './snapshot-types.js';

export interface StartedSession {
  token: string;
  expiresAt: Date;
  customerId: string;
  channel: Channel;
  sessionId: string;
}

export interface SessionTtlOptions {
  defaultSeconds: number;
  maxSeconds: number;
  /** Live sessions one customer may have at once (SESSIONS_PER_CUSTOMER_MAX). */
  maxLivePerCustomer: number;
  /** Of those, live sessions one caller may have started (SESSIONS_PER_CALLER_MAX). */
  maxLivePerCaller: number;
}

const TOKEN_BYTES = 32;
// 32 bytes in base64url without padding: exactly 43 characters.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Short-lived support sessions: an opaque random token bound to one customer
 * and one channel. The caller gets the token once; Redis keeps only its SHA-256
 * (a 256-bit random token needs no salt or slow hash: it cannot be guessed).
 */
export class SessionService {
  constructor(
    private readonly store: SessionStore,
    private readonly customers: CustomerService,
    private readonly ttl: SessionTtlOptions,
    private readonly reportStoreError: StoreErrorReporter,
  ) {}

  /** The customer's live sessions, for a data-subject export. */
  liveSessionsOf(customerId: string): Promise<SupportSessionRecord[]> {
    return this.store.listCustomer(customerId);
  }

  async start(customerId: string, channel: Channel, ttlSeconds: number | null | undefined, actor: Actor): Promise<StartedSession> {
    assertCustomerId(customerId);
    if (!CHANNELS.includes(channel)) throw new BadUserInputError(`channel must be one of ${CHANNELS.join(', ')}`, { field: 'channel' });
    const seconds = this.resolveTtl(ttlSeconds);
    await this.customers.loadActive(customerId);
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const now = Date.now();
    const session: SupportSessionRecord = {
      sessionId: newPrefixedId('ses'),
      customerId,
      channel,
      startedBy: actor.caller.id,
      startedAt: new Date(now),
      expiresAt: new Date(now + seconds * 1000),
    };
    const limits = { perCustomer: this.ttl.maxLivePerCustomer, perCaller: this.ttl.maxLivePerCaller };
    const saved = await guardRedis(() => this.store.save(hashToken(token), session, limits), this.reportStoreError);
    // Each live session is a key and an index member that every new one checks: without a cap one caller made 1,234
    // four-hour sessions for one customer in 90 s, and every start scanned them all inside Redis. The cap per caller
    // keeps one caller from using up the customer's (which locked every other agent out for four hours).
    if (!saved.saved) {
      const what = saved.cap === 'caller' ? `You have ${limits.perCaller} live support sessions for this customer` : `This customer has ${limits.perCustomer} live support sessions`;
      throw new RateLimitedError(saved.retryAfterSeconds, what);
    }
    // A session saved after an erasure's sweep of Redis outlived the erasure (a probe).
    await this.customers.confirmStillActive(customerId, () => this.store.purgeCustomer(customerId));
    return { token, expiresAt: session.expiresAt, customerId, channel, sessionId: session.sessionId };
  }

  /** The live session a token names, or null for an unknown, expired, revoked or malformed token. */
  async find(token: string): Promise<SupportSessionRecord | null> {
    if (!TOKEN_SHAPE.test(token)) return null;
    const session = await guardRedis(() => this.store.find(hashToken(token)), this.reportStoreError);
    // Redis expires the key; the check covers a clock or TTL mismatch between us and Redis.
    if (!session || session.expiresAt.getTime() <= Date.now()) return null;
    return session;
  }

  /** Revokes a session; true when a live session was ended. */
  async end(token: string): Promise<boolean> {
    if (!TOKEN_SHAPE.test(token)) return false;
    return guardRedis(() => this.store.delete(hashToken(token)), this.reportStoreError);
  }

  purgeCustomer(customerId: string): Promise<number> {
    return this.store.purgeCustomer(customerId);
  }

  private resolveTtl(ttlSeconds: number | null | undefined): number {
    if (ttlSeconds == null) return this.ttl.defaultSeconds;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new BadUserInputError('ttlSeconds must be a whole number of seconds, at least 1', { field: 'ttlSeconds' });
    }
    // Longer requests are cut to the maximum rather than refused: the answer's expiresAt says what was given.
    return Math.min(ttlSeconds, this.ttl.maxSeconds);
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}
