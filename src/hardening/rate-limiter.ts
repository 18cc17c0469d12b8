import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { personOf } from '../auth/same-person.js';

export interface RateLimitDecision {
  isAllowed: boolean;
  /** Requests counted in the current window, this one included. */
  count: number;
  /** Seconds until the current window ends (at least 1). */
  retryAfterSeconds: number;
}

export interface RateLimiterOptions {
  windowSeconds: number;
  max: number;
  now?: () => number;
}

/**
 * A fixed-window counter per caller and operation in Redis: one MULTI of INCR
 * and PEXPIRE per call, so concurrent requests from several processes share
 * one count and no read-modify-write is ever needed. The window number is part
 * of the key, so a key is never reused across windows and its expiry only has
 * to outlive the window. The caller id is hashed: a `sub` claim may be an
 * email address, and no identifier is ever written to Redis in clear. It is
 * counted as the person it names (personOf): `agent-a` and `Agent-A`, one
 * person to the two-person rule, had a budget each.
 */
export class RateLimiter {
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    private readonly options: RateLimiterOptions,
  ) {
    this.windowMs = options.windowSeconds * 1000;
    this.now = options.now ?? Date.now;
  }

  get max(): number {
    return this.options.max;
  }

  /** Counts one call. Rejects (with the Redis error) when Redis cannot be reached. */
  async consume(callerId: string, operation: string): Promise<RateLimitDecision> {
    const now = this.now();
    const window = Math.floor(now / this.windowMs);
    const key = rateLimitKey(callerId, operation, window);
    const replies = await this.redis.multi().incr(key).pexpire(key, this.windowMs).exec();
    const [incrError, count] = replies?.[0] ?? [new Error('rate limit transaction was discarded'), null];
    if (incrError) throw incrError;
    const windowEndsAt = (window + 1) * this.windowMs;
    const counted = Number(count);
    return {
      isAllowed: counted <= this.options.max,
      count: counted,
      retryAfterSeconds: Math.max(1, Math.ceil((windowEndsAt - now) / 1000)),
    };
  }
}

/** `rl:<operation>:<sha-256 of the person the caller id names>:<window number>` (the client adds the app's key prefix). */
export function rateLimitKey(callerId: string, operation: string, window: number): string {
  const caller = createHash('sha256').update(personOf(callerId), 'utf8').digest('base64url');
  return `rl:${operation}:${caller}:${window}`;
}
