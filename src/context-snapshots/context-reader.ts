import type { Caller } from '../auth/caller.js';
import type { RequestContext } from '../context.js';
import type { CustomerRecord } from '../customers/customer-types.js';
import { callKey, resolvedCallOf, type ResolvedCall } from '../customers/resolved-call.js';
import { ServiceUnavailableError } from '../errors.js';
import type { Services } from '../services.js';
import type { SupportSessionRecord } from './session-store.js';
import type { Channel, ContextSnapshotView } from './snapshot-types.js';

/** One CONTEXT_READ audit event per customer, session and call per request. */
export interface ContextReadKey {
  customerId: string;
  channel: Channel | null;
  sessionId: string | null;
  interactionId?: string | null;
}

export const contextReadCacheKey = (key: ContextReadKey): string => `${key.customerId}|${key.sessionId ?? ''}|${callKey(key)}`;

/**
 * A customer's context as served. Erased customers have none. The snapshot
 * comes through the request's batched loader (one MGET for every customer in
 * the request), and is returned only once its CONTEXT_READ event is written.
 */
export async function readCustomerContext(ctx: RequestContext, customer: CustomerRecord): Promise<ContextSnapshotView | null> {
  if (customer.status !== 'ACTIVE') return null;
  return readContext(ctx, customer.id, null, resolvedCallOf(customer));
}

/** What a support-session token may see: null for an unknown, expired, revoked or malformed token, or an erased customer. */
export async function readSessionContext(ctx: RequestContext, token: string): Promise<ContextSnapshotView | null> {
  const session = await ctx.services.sessions.find(token);
  if (!session) return null;
  const customer = await ctx.loaders.customerById.load(session.customerId);
  if (!customer || customer.status !== 'ACTIVE') return null;
  return readContext(ctx, session.customerId, session);
}

async function readContext(ctx: RequestContext, customerId: string, session: SupportSessionRecord | null, interaction: ResolvedCall | null = null): Promise<ContextSnapshotView> {
  const snapshot = await ctx.loaders.snapshotByCustomer.load(customerId);
  // Read during the call the customer was resolved in: the event says which (a session names its own channel).
  await ctx.loaders.contextReadAudit.load({
    customerId,
    channel: session?.channel ?? interaction?.channel ?? null,
    sessionId: session?.sessionId ?? null,
    interactionId: interaction?.interactionId ?? null,
  });
  if (!session) return { ...snapshot, sessionId: null };
  // Seen through a session, the view lasts as long as both the snapshot and the session do.
  const expiresAt = session.expiresAt.getTime() < snapshot.expiresAt.getTime() ? session.expiresAt : snapshot.expiresAt;
  return { ...snapshot, sessionId: session.sessionId, channel: session.channel, expiresAt };
}

/**
 * The batch behind `loaders.contextReadAudit`: every CONTEXT_READ of a request
 * in one AuditLog.appendMany. Fail closed: when the events cannot be written,
 * every context read of the batch is refused.
 */
export function writeContextReads(services: Services, caller: Caller, requestId: string, keys: readonly ContextReadKey[]): Promise<Array<true | Error>> {
  const events = keys.map((key) => ({
    type: 'CONTEXT_READ' as const,
    customerId: key.customerId,
    actor: { kind: caller.kind, id: caller.id },
    channel: key.channel,
    interactionId: key.interactionId ?? null,
    requestId,
    details: { via: key.sessionId ? 'session' : 'customer', sessionId: key.sessionId },
  }));
  // AuditLog reports its own failures (log and metric); the caller gets a fixed message.
  return services.audit.appendMany(events).then(
    () => keys.map(() => true as const),
    () => keys.map(() => new ServiceUnavailableError('audit', 'The context read could not be audited, so it is refused')),
  );
}
