import { GraphQLError } from 'graphql';

/**
 * Every error a caller can see is one of these classes, each with a fixed
 * `extensions.code`. Messages are written by us and never contain the value a
 * caller sent (it may be an email address or a phone number).
 */
export type ForbiddenReason = 'MISSING_SCOPE' | 'CONSENT_REQUIRED' | 'ELEVATION_REQUIRED';

export class BadUserInputError extends GraphQLError {
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code: 'BAD_USER_INPUT' } });
  }
}

/** A write on an erased customer: refused before it starts, or rolled back when it raced the erasure. */
export class CustomerErasedError extends BadUserInputError {
  constructor() {
    super('The customer has been erased', { field: 'customerId' });
  }
}

export class UnauthenticatedError extends GraphQLError {
  constructor(message = 'A valid bearer token is required') {
    super(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
  }
}

export class ForbiddenError extends GraphQLError {
  readonly reason: ForbiddenReason;
  constructor(reason: ForbiddenReason, message: string, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code: 'FORBIDDEN', reason } });
    this.reason = reason;
  }
}

export class NotFoundError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: 'NOT_FOUND' } });
  }
}

/** A backing service (MongoDB, Redis) is unreachable; the caller may retry. */
export class ServiceUnavailableError extends GraphQLError {
  constructor(service: 'mongodb' | 'redis' | 'audit', message?: string) {
    super(message ?? `The ${service} store is unavailable; try again shortly`, {
      extensions: { code: 'SERVICE_UNAVAILABLE', service },
    });
  }
}

export class RateLimitedError extends GraphQLError {
  constructor(retryAfterSeconds: number) {
    super(`Too many requests; retry after ${retryAfterSeconds} s`, {
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds },
    });
  }
}

export class ConflictError extends GraphQLError {
  constructor(message: string) {
    super(message, { extensions: { code: 'CONFLICT' } });
  }
}

/** Thrown by start-up code: one line naming the variable at fault. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
