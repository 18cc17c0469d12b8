import { defaultFieldResolver, isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { RequestContext } from '../context.js';
import { RateLimitedError, ServiceUnavailableError } from '../errors.js';
import type { Logger } from 'pino';
import { classifyInfrastructureError } from '../http/infrastructure-errors.js';
import { isFirstInRequest } from '../observability/request-scope.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * What happens when Redis cannot count a call:
 * - fail-closed: the call is refused with SERVICE_UNAVAILABLE. For the
 *   operations an enumeration would use (resolving identifiers one by one)
 *   and for PII grants, which live in Redis anyway.
 * - fail-open: the call goes ahead, logged. For data-subject requests, which
 *   carry a legal deadline, need `dsar:process` (held by few people) and are
 *   audited one by one, so an outage of the counter must not block them; and
 *   for chain verification (`audit:read`, read-only).
 */
export type RateLimitFailureMode = 'fail-closed' | 'fail-open';

export const RATE_LIMITED_FIELDS: Readonly<Record<string, RateLimitFailureMode>> = {
  'Query.resolveCustomer': 'fail-closed',
  'Mutation.requestPiiAccess': 'fail-closed',
  // Sessions live in Redis too; each is a key that lives up to SESSION_MAX_TTL_SECONDS.
  'Mutation.startSupportSession': 'fail-closed',
  'Query.dataSubjectAccess': 'fail-open',
  // Reads a whole chain: its cost grows with the chain, not the request (a probe held the process with 20 callers'
  // worth of them). Read-only, and auditors verify on a schedule: an outage of the counter does not stop them.
  'Query.verifyAuditTrail': 'fail-open',
  'Mutation.eraseCustomer': 'fail-open',
};

/** `unchecked`: Redis could not count and a fail-open call went ahead; `refused`: it could not, and a fail-closed call was refused. */
export type RateLimitOutcome = 'allowed' | 'limited' | 'unchecked' | 'refused';

export interface RateLimitFieldOptions {
  fields?: Readonly<Record<string, RateLimitFailureMode>>;
  onOutcome?: (operation: string, outcome: RateLimitOutcome) => void;
}

type Resolver = GraphQLFieldResolver<unknown, RequestContext>;

/**
 * Wraps the few sensitive root fields (not every field) so that a call over
 * the caller's budget is refused before its resolver runs: nothing is read,
 * written or audited for it. Applied beneath the field policy, so a call the
 * policy refuses is not counted.
 */
export function applyRateLimits(schema: GraphQLSchema, options: RateLimitFieldOptions = {}): GraphQLSchema {
  const fields = options.fields ?? RATE_LIMITED_FIELDS;
  for (const [coordinate, mode] of Object.entries(fields)) {
    const [typeName, fieldName] = coordinate.split('.') as [string, string];
    const type = schema.getType(typeName);
    const field = isObjectType(type) ? type.getFields()[fieldName] : undefined;
    if (!field) throw new Error(`rate-limited field ${coordinate} is not in the schema`);
    field.resolve = limit(fieldName, mode, (field.resolve ?? defaultFieldResolver) as Resolver, options.onOutcome);
  }
  return schema;
}

function limit(operation: string, mode: RateLimitFailureMode, resolve: Resolver, onOutcome: RateLimitFieldOptions['onOutcome']): Resolver {
  return async (parent, args, ctx, info) => {
    await checkRateLimit(ctx.services.rateLimiter, { callerId: ctx.caller.id, operation, mode, log: ctx.log, onOutcome });
    return resolve(parent, args, ctx, info);
  };
}

/**
 * Counts one call of `operation` by the caller; throws RATE_LIMITED over the budget, and SERVICE_UNAVAILABLE when
 * Redis cannot count a fail-closed operation. Shared by the GraphQL fields and the HTTP routes that reach the same
 * operation (GET /dsar/export spends the dataSubjectAccess budget).
 */
export async function checkRateLimit(
  rateLimiter: RateLimiter,
  call: { callerId: string; operation: string; mode: RateLimitFailureMode; log: Logger; onOutcome?: RateLimitFieldOptions['onOutcome'] },
): Promise<void> {
  const { operation, onOutcome } = call;
  let decision;
  try {
    decision = await rateLimiter.consume(call.callerId, operation);
  } catch (error) {
    if (classifyInfrastructureError(error) !== 'redis') throw error;
    onOutcome?.(operation, call.mode === 'fail-closed' ? 'refused' : 'unchecked');
    if (call.mode === 'fail-closed') throw new ServiceUnavailableError('redis');
    call.log.warn({ operation }, 'rate limit not checked: redis unavailable (fail-open operation)');
    return;
  }
  if (!decision.isAllowed) {
    onOutcome?.(operation, 'limited');
    // Once per request and operation: every refused alias counts in the metric, not in the log.
    if (isFirstInRequest(`rate limit exceeded:${operation}`)) call.log.warn({ operation, count: decision.count }, 'rate limit exceeded');
    throw new RateLimitedError(decision.retryAfterSeconds);
  }
  onOutcome?.(operation, 'allowed');
}
