import type { Channel } from '../context-snapshots/snapshot-types.js';
import type { CustomerRecord } from './customer-types.js';

/**
 * The call a customer was resolved in (`resolveCustomer` with a channel or an interaction id), carried on the
 * customer that resolution returns: what is read through it (its context, a clear-text attribute) is recorded with
 * that call, and only such a read.
 */
const RESOLVED_IN = Symbol('resolvedIn');

export interface ResolvedCall {
  channel: Channel | null;
  interactionId: string | null;
}

/** The customer a resolution returns, marked with the call it was resolved in. */
export function resolvedIn(customer: CustomerRecord, call: ResolvedCall): CustomerRecord {
  return Object.assign({ ...customer }, { [RESOLVED_IN]: call });
}

/** The call the customer was resolved in, or null when it was reached otherwise (`customer(id:)`, `_entities`). */
export function resolvedCallOf(customer: unknown): ResolvedCall | null {
  return (customer as { [RESOLVED_IN]?: ResolvedCall } | null)?.[RESOLVED_IN] ?? null;
}

/** The call as part of a DataLoader key: reads in different calls are recorded apart. */
export const callKey = (call: { channel: Channel | null; interactionId?: string | null } | null): string => `${call?.channel ?? ''}|${call?.interactionId ?? ''}`;
