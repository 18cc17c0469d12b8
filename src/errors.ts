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

/**
 * The RFC 6750 error code a 401's `WWW-Authenticate: Bearer` challenge carries: `invalid_request` for an Authorization
 * header that is not one `Bearer <token>`, `invalid_token` for a token that does not verify (expired, wrong audience,
 * bad signature); none when no credentials came (RFC 6750 §3.1) or the key set could not be fetched.
 */
export type BearerChallengeError = 'invalid_request' | 'invalid_token';

export class UnauthenticatedError extends GraphQLError {
  readonly challenge: BearerChallengeError | null;
  constructor(message = 'A valid bearer token is required', challenge: BearerChallengeError | null = null) {
    super(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
    this.challenge = challenge;
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
  constructor(retryAfterSeconds: number, what = 'Too many requests') {
    super(`${what}; retry after ${retryAfterSeconds} s`, {
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

/** Runs a check of the configuration, and adds its ConfigError's message to `problems` (a line per problem); other errors go on up. */
export function collectProblem(problems: string[], check: () => unknown): void {
  try {
    check();
  } catch (error) {
    if (error instanceof ConfigError) problems.push(error.message);
    else throw error;
  }
}

/** A store or key set named by the configuration could not be reached at start-up; the message starts with the variable. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

const SYSTEM_CODE = /\b(E(?:CONNREFUSED|CONNRESET|NOTFOUND|TIMEDOUT|HOSTUNREACH|NETUNREACH|AI_AGAIN|ACCES|NOENT|ISDIR|PERM))\b/g;

/**
 * What went wrong, safe to print: the error's class, its server code name and
 * any system error code (ECONNREFUSED, ENOENT...), never its message, which
 * can quote a connection string with its password or a file's content.
 */
export function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const codes = new Set<string>();
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, codeName } = e as { code?: unknown; codeName?: unknown };
    if (typeof codeName === 'string' && /^\w{1,64}$/.test(codeName)) codes.add(codeName);
    if (typeof code === 'string' && /^E[A-Z_]{2,30}$/.test(code)) codes.add(code);
    for (const match of e.message.matchAll(SYSTEM_CODE)) codes.add(match[1] as string);
  }
  const name = /^\w{1,64}$/.test(error.name) ? error.name : 'Error';
  return codes.size > 0 ? `${name}: ${[...codes].join(', ')}` : name;
}
