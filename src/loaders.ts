import DataLoader from 'dataloader';
import { hasScope, type Caller } from './auth/caller.js';
import { CONSENT_HISTORY_SHOWN, type ConsentReceipt, type ConsentStateRecord } from './consent/consent-types.js';
import { ciphertextsOf, type CustomerRecord, type IdentifierRecord, type PiiField } from './customers/customer-types.js';
import { callKey, type ResolvedCall } from './customers/resolved-call.js';
import { ConflictError, CustomerErasedError, ServiceUnavailableError } from './errors.js';
import { unlessRedisIsDown } from './http/infrastructure-errors.js';
import type { ActiveAccess } from './privacy-requests/grant-store.js';
import type { AuditEventRecord } from './audit/audit-types.js';
import type { Services } from './services.js';
import { contextReadCacheKey, writeContextReads, type ContextReadKey } from './context-snapshots/context-reader.js';
import type { ContextSnapshot } from './context-snapshots/snapshot-types.js';

export interface ClearPiiKey {
  customerId: string;
  field: PiiField;
  access: ActiveAccess;
  /** The call the customer was resolved in, when read through a `resolveCustomer` result: its event names it. */
  call: ResolvedCall | null;
}

/**
 * Per-request DataLoaders: each batches by key, returns results in key order
 * with null for misses, and lives exactly as long as one request.
 */
export interface RequestLoaders {
  customerById: DataLoader<string, CustomerRecord | null>;
  identifiersByCustomer: DataLoader<string, IdentifierRecord[]>;
  consentStateByCustomer: DataLoader<string, ConsentStateRecord>;
  consentHistoryByCustomer: DataLoader<string, ConsentReceipt[]>;
  consentById: DataLoader<string, ConsentReceipt | null>;
  /** The caller's approved PII access per customer: one Redis MGET per batch. */
  activeAccessByCustomer: DataLoader<string, Partial<Record<PiiField, ActiveAccess>>>;
  /** Audited clear-text reads: one PII_ACCESS event per customer and batch naming every field read, written before any value is returned. */
  clearPii: DataLoader<ClearPiiKey, string | null, string>;
  /** AuditEvent.__resolveReference: one `$in` on audit_events per request. */
  auditEventById: DataLoader<string, AuditEventRecord | null>;
  /** Context snapshots: one Redis MGET per batch; misses rebuilt with one MongoDB find and one Redis pipeline. */
  snapshotByCustomer: DataLoader<string, ContextSnapshot>;
  /** CONTEXT_READ events: one per customer (and session) per request, all written with one AuditLog.appendMany. */
  contextReadAudit: DataLoader<ContextReadKey, true, string>;
}

/**
 * Drops what the loaders read (customers, identifiers, consent, grants, clear values, snapshots, audit events): a clear
 * value read again after a mutation is read again, and audited again. CONTEXT_READ stays one per customer and call.
 */
export function forgetCachedReads(loaders: RequestLoaders): void {
  for (const loader of [
    loaders.customerById,
    loaders.identifiersByCustomer,
    loaders.consentStateByCustomer,
    loaders.consentHistoryByCustomer,
    loaders.consentById,
    loaders.activeAccessByCustomer,
    loaders.clearPii,
    loaders.auditEventById,
    loaders.snapshotByCustomer,
  ]) {
    loader.clearAll();
  }
}

export function createLoaders(services: Services, caller: Caller, requestId: string): RequestLoaders {
  const options = { maxBatchSize: 10_000 };
  // Only a caller who may read clear text (pii:read, plus a grant checked later) needs the ciphertexts loaded.
  const ciphertexts = hasScope(caller, 'pii:read');
  const customerById = new DataLoader((ids: readonly string[]) => services.customers.findByIds(ids, { ciphertexts }), options);
  // What the API shows of a chain: its newest receipts (consentHistory) and the last of them (consent).
  const consentHistoryByCustomer = new DataLoader((ids: readonly string[]) => services.consent.historyOf(ids, CONSENT_HISTORY_SHOWN), options);
  // Both consent loaders share one find on `consents` per request: the state is derived from the history.
  const consentStateByCustomer = new DataLoader(
    (ids: readonly string[]) =>
      consentHistoryByCustomer.loadMany(ids).then((histories) => histories.map((h, i) => (h instanceof Error ? h : services.consent.stateOf(ids[i] as string, h)))),
    options,
  );
  return {
    customerById,
    auditEventById: new DataLoader((ids: readonly string[]) => services.auditTrail.findByIds(ids), options),
    identifiersByCustomer: new DataLoader((ids) => services.customers.identifiersOf(ids), options),
    consentStateByCustomer,
    consentHistoryByCustomer,
    consentById: new DataLoader((ids) => services.consent.findByIds(ids), options),
    // Grants live in Redis: while it cannot be read no grant can be confirmed, and the caller sees what it sees
    // without one (masked values with customer:read), as every other caller does then.
    activeAccessByCustomer: new DataLoader(
      (ids) => unlessRedisIsDown(services.grantStore.findActiveAccess(caller.id, ids), ids.map(() => ({}))),
      options,
    ),
    clearPii: new DataLoader(
      (keys: readonly ClearPiiKey[]) => readClearPii(services, caller, requestId, customerById, keys),
      { ...options, cacheKeyFn: (key) => `${key.customerId}:${key.field}:${callKey(key.call)}` },
    ),
    snapshotByCustomer: new DataLoader(
      (ids) =>
        services.snapshots.snapshotsOf(ids, async (missing) =>
          (await consentStateByCustomer.loadMany(missing)).map((state) =>
            state instanceof Error || !state.scopes.includes('support_context') ? false : (state.receipt?.expiresAt ?? null),
          ),
        ),
      options,
    ),
    contextReadAudit: new DataLoader((keys: readonly ContextReadKey[]) => writeContextReads(services, caller, requestId, keys), {
      ...options,
      cacheKeyFn: contextReadCacheKey,
    }),
  };
}

async function readClearPii(
  services: Services,
  caller: Caller,
  requestId: string,
  customerById: DataLoader<string, CustomerRecord | null>,
  keys: readonly ClearPiiKey[],
): Promise<Array<string | null | Error>> {
  // One PII_ACCESS event per customer and call: reads of one customer in a request share it, and a read made
  // through a `resolveCustomer` result names that call's channel and interaction id, as its CONTEXT_READ does.
  interface Read {
    customerId: string;
    call: ResolvedCall | null;
    fields: Set<PiiField>;
    grants: Set<string>;
    justifications: Set<string>;
  }
  const reads = new Map<string, Read>();
  const readOf = (key: ClearPiiKey): string => `${key.customerId}|${callKey(key.call)}`;
  for (const key of keys) {
    const read = reads.get(readOf(key)) ?? { customerId: key.customerId, call: key.call, fields: new Set(), grants: new Set(), justifications: new Set() };
    read.fields.add(key.field);
    read.grants.add(key.access.grantId);
    read.justifications.add(key.access.justification);
    reads.set(readOf(key), read);
  }
  const customerIds = [...new Set(keys.map((key) => key.customerId))];
  const loaded = await customerById.loadMany(customerIds);
  const customers = new Map(customerIds.map((id, i) => [id, loaded[i]]));
  // Each customer was read with its ciphertexts and wrapped data key (a `pii:read` caller's read): nothing more to
  // fetch, and nothing is decrypted until that customer's event is written.
  // Fail closed: a read whose PII_ACCESS event is not written gets no clear value. The event names the fields that
  // have a value to show; with none (an erased customer, or no such attribute) there is no event and null.
  const outcomes = new Map(
    await Promise.all(
      [...reads].map(async ([readKey, read]): Promise<[string, PromiseSettledResult<unknown>]> => {
        const customer = customers.get(read.customerId);
        if (!customer || customer instanceof Error || customer.status !== 'ACTIVE') return [readKey, { status: 'rejected', reason: new CustomerErasedError() }];
        const shown = [...read.fields].filter((field) => ciphertextsOf(customer)[field]).sort();
        if (shown.length === 0) return [readKey, { status: 'fulfilled', value: null }];
        const [outcome] = await Promise.allSettled([
          services.audit.append({
            type: 'PII_ACCESS',
            customerId: read.customerId,
            actor: { kind: caller.kind, id: caller.id },
            channel: read.call?.channel ?? null,
            interactionId: read.call?.interactionId ?? null,
            fields: shown,
            // Fields read under different grants: every grant's reason, so the trail shows why each field was read.
            justification: [...read.justifications].sort().join(' | '),
            requestId,
            details: { grantIds: [...read.grants].sort().join(' ') },
          }),
        ]);
        return [readKey, outcome];
      }),
    ),
  );
  // Field by field: a ciphertext that does not authenticate (altered in the store) fails its own field only.
  const values = new Map<string, Partial<Record<PiiField, string | null | Error>>>();
  return keys.map((key) => {
    const outcome = outcomes.get(readOf(key));
    // Erased before this read: nothing to show, and nothing was audited (the customer reads as ERASED).
    if (outcome?.status === 'rejected' && outcome.reason instanceof CustomerErasedError) {
      const customer = customers.get(key.customerId);
      if (!customer || customer instanceof Error || customer.status !== 'ACTIVE') return null;
      // Erased while it ran (the audit log refused its event): the customer was read as ACTIVE, so a bare null read as
      // "nothing on file" beside `status: ACTIVE` (a probe). Said instead, on the field.
      return new ConflictError('The customer was erased while this read ran; nothing is shown');
    }
    if (outcome?.status !== 'fulfilled') return new ServiceUnavailableError('audit', 'The clear-text read could not be audited, so it is refused');
    const customer = customers.get(key.customerId) as CustomerRecord;
    let clear = values.get(readOf(key));
    if (clear === undefined) {
      clear = services.customers.decryptFields(customer, reads.get(readOf(key))!.fields);
      values.set(readOf(key), clear);
    }
    return clear[key.field] ?? null;
  });
}
