import type { CallerScope } from '../auth/caller.js';
import type { ConsentScope } from '../consent/consent-types.js';
import type { PiiField } from '../customers/customer-types.js';

/**
 * THE field policy. For every field of every type it says who sees the value,
 * who sees a masked value and who sees nothing. It is compiled into the
 * graphql-shield rules and the field guards (policy/), and it generates
 * docs/POLICY.md. A field that is not named here is withheld.
 *
 * Reading a rule:
 *  - `scopes`: the caller needs ANY of these scopes;
 *  - `allScopes`: ... and ALL of these as well;
 *  - `consent`: ... and the customer's effective consent must include this scope;
 *  - `pii`: a personal attribute: callers with `scopes` see the precomputed
 *    mask; a caller with `pii:read` and an active PII access grant for this
 *    customer and field sees the clear value (each such read is audited, and
 *    refused if the audit event cannot be written);
 *  - `open`: no scope check here, because the only ways to reach the field
 *    are already checked (a root field or a parent field), or it is federation
 *    plumbing that the contract opens to every valid token.
 */
export type FieldRule =
  | {
      kind: 'scoped';
      scopes: readonly CallerScope[];
      allScopes?: readonly CallerScope[];
      consent?: ConsentScope;
      note?: string;
    }
  | {
      kind: 'pii';
      scopes: readonly CallerScope[];
      /** Clear with pii:read and a grant for this field, which always needs approvePiiAccess by another caller holding pii:approve. */
      pii: PiiField;
    }
  | { kind: 'open'; reachedThrough: string };

export type TypePolicy = Record<string, FieldRule>;

/** How a rule that reads consent or grants finds the customer a parent object belongs to. */
export const SUBJECT_OF: Record<string, (parent: unknown) => string | null> = {
  Customer: (parent) => (parent as { id: string }).id,
  ContextSnapshot: (parent) => (parent as { customerId: string }).customerId,
};

const scoped = (scopes: readonly CallerScope[], extra: Omit<Extract<FieldRule, { kind: 'scoped' }>, 'kind' | 'scopes'> = {}): FieldRule => ({
  kind: 'scoped',
  scopes,
  ...extra,
});
const open = (reachedThrough: string): FieldRule => ({ kind: 'open', reachedThrough });
const openType = (fields: readonly string[], reachedThrough: string): TypePolicy =>
  Object.fromEntries(fields.map((f) => [f, open(reachedThrough)]));

/** Scopes that may see that a customer exists at all: agents, and the services that register and resolve customers. */
const CUSTOMER_REFERENCE: readonly CallerScope[] = [
  'customer:read',
  'identity:resolve',
  'identity:write',
  'consent:write',
  'context:write',
];
const CUSTOMER_READ: readonly CallerScope[] = ['customer:read'];
/**
 * Who may reach any consent receipt by id, earlier ones included, as `Customer.consentHistory`. The other callers
 * `_entities` lets reach a `Consent` (ENTITY_REACH) get only a customer's current receipt, the one
 * `Customer.consent.receipt` shows them (`Consent.__resolveReference`).
 */
export const CONSENT_HISTORY_READ: readonly CallerScope[] = ['consent:read'];
/** Who reads a receipt's fields where one is shown: Customer.consent, consentHistory, recordConsent's answer, an export. */
const CONSENT_RECEIPT_READ: readonly CallerScope[] = ['customer:read', 'consent:read', 'consent:write', 'dsar:process'];
/** Who reads an event's fields where one is shown: Customer.auditTrail, and a data-subject export (itself audited). */
const AUDIT_READ: readonly CallerScope[] = ['audit:read', 'dsar:process'];

/**
 * Who may reach an entity by id through `_entities` where that is narrower than who reads its fields somewhere.
 * A `dsar:process` caller reads audit events and receipts inside an export, which writes `DSAR_EXPORT`; by id, an
 * event takes `audit:read`, as `Customer.auditTrail` does, and a receipt the scopes that show one on a customer
 * (`Customer.consent`: the current one; `consentHistory`: any). A probe read every receipt and every event, with
 * the identifier hashes of anonymous lookups, holding `dsar:process` or `consent:write` alone, and nothing recorded
 * the reads.
 */
export const ENTITY_REACH: Readonly<Record<string, readonly CallerScope[]>> = {
  AuditEvent: ['audit:read'],
  Consent: ['consent:read', 'consent:write', 'customer:read'],
};

export const FIELD_POLICY: Record<string, TypePolicy> = {
  Query: {
    customer: scoped(CUSTOMER_READ),
    resolveCustomer: scoped(['identity:resolve', 'customer:read']),
    sessionContext: scoped(['context:read']),
    dataSubjectAccess: scoped(['dsar:process']),
    verifyAuditTrail: scoped(['audit:read']),
    _entities: open('any valid token (federation); every returned field follows its own type rules'),
    _service: open('any valid token (federation)'),
  },
  Mutation: {
    registerCustomer: scoped(['identity:write']),
    linkIdentifier: scoped(['identity:write']),
    recordConsent: scoped(['consent:write']),
    recordSupportActivity: scoped(['context:write']),
    startSupportSession: scoped(['context:read']),
    endSupportSession: scoped(['context:read']),
    requestPiiAccess: scoped(['pii:read']),
    approvePiiAccess: scoped(['pii:approve'], { note: 'and the approver must not be the requester (two people)' }),
    eraseCustomer: scoped(['dsar:process']),
  },
  _Service: { sdl: open('Query._service') },
  Customer: {
    id: scoped(CUSTOMER_REFERENCE),
    status: scoped(CUSTOMER_REFERENCE),
    createdAt: scoped([...CUSTOMER_READ, 'identity:write', 'identity:resolve']),
    country: scoped(CUSTOMER_READ),
    preferredLanguage: scoped(CUSTOMER_READ),
    consent: scoped([...CUSTOMER_READ, 'consent:write']),
    displayName: { kind: 'pii', scopes: CUSTOMER_READ, pii: 'DISPLAY_NAME' },
    email: { kind: 'pii', scopes: CUSTOMER_READ, pii: 'EMAIL' },
    phone: { kind: 'pii', scopes: CUSTOMER_READ, pii: 'PHONE' },
    identifiers: scoped(['identity:resolve', 'identity:write']),
    consentHistory: scoped(['consent:read']),
    context: scoped(['context:read']),
    auditTrail: scoped(['audit:read']),
  },
  Identifier: openType(['kind', 'hash', 'keyVersion', 'linkedAt'], 'Customer.identifiers, DataSubjectExport.identifiers'),
  IdentityResolution: openType(['customer', 'matchedBy', 'auditEventId'], 'Query.resolveCustomer'),
  ConsentState: openType(['scopes', 'receipt'], 'Customer.consent'),
  Consent: Object.fromEntries(
    ['id', 'customerId', 'version', 'scopes', 'grantedAt', 'expiresAt', 'source', 'supersedes'].map((f) => [f, scoped(CONSENT_RECEIPT_READ)]),
  ),
  ContextSnapshot: {
    customerId: scoped(['context:read']),
    generatedAt: scoped(['context:read']),
    expiresAt: scoped(['context:read']),
    channel: scoped(['context:read']),
    sessionId: scoped(['context:read']),
    openTickets: scoped(['context:read'], { consent: 'support_context' }),
    activeSubscriptions: scoped(['context:read'], { consent: 'support_context' }),
    recentTransactions: scoped(['context:read'], { consent: 'support_context' }),
    lastInteractions: scoped(['context:read'], { consent: 'support_context' }),
    deviceFingerprint: scoped(['context:read'], { allScopes: ['fraud:read'] }),
  },
  TicketSummary: openType(['id', 'status', 'subject', 'openedAt', 'updatedAt'], 'ContextSnapshot.openTickets, DataSubjectExport.supportRecords'),
  SubscriptionSummary: openType(['id', 'plan', 'status', 'startedAt', 'renewsAt'], 'ContextSnapshot.activeSubscriptions, DataSubjectExport.supportRecords'),
  TransactionSummary: openType(
    ['id', 'status', 'amountMinor', 'currency', 'occurredAt', 'description'],
    'ContextSnapshot.recentTransactions, DataSubjectExport.supportRecords',
  ),
  InteractionSummary: openType(['id', 'channel', 'occurredAt', 'summary', 'outcome'], 'ContextSnapshot.lastInteractions, DataSubjectExport.supportRecords'),
  SupportSession: openType(['token', 'expiresAt', 'customerId', 'channel'], 'Mutation.startSupportSession'),
  AuditEvent: Object.fromEntries(
    [
      'id', 'type', 'occurredAt', 'customerId', 'actor', 'channel', 'interactionId', 'resolutionSource',
      'identifierHash', 'fields', 'justification', 'requestId', 'sequence', 'prevHash', 'hash', 'details',
    ].map((f) => [f, scoped(AUDIT_READ)]),
  ),
  AuditActor: openType(['kind', 'id'], 'AuditEvent.actor'),
  AuditEventConnection: openType(['edges', 'pageInfo'], 'Customer.auditTrail'),
  AuditEventEdge: openType(['cursor', 'node'], 'AuditEventConnection.edges'),
  PageInfo: openType(['hasNextPage', 'hasPreviousPage', 'startCursor', 'endCursor'], 'AuditEventConnection.pageInfo'),
  AuditVerification: openType(['customerId', 'valid', 'eventCount', 'firstBrokenSequence', 'headSequence', 'headHash'], 'Query.verifyAuditTrail'),
  PiiAccessGrant: openType(
    ['id', 'customerId', 'fields', 'status', 'expiresAt', 'requestedBy', 'approvedBy', 'justification'],
    'Mutation.requestPiiAccess, Mutation.approvePiiAccess, DataSubjectExport.piiAccessGrants',
  ),
  ActiveSupportSession: openType(['sessionId', 'channel', 'startedBy', 'startedAt', 'expiresAt'], 'DataSubjectExport.supportSessions'),
  SupportRecords: openType(['tickets', 'subscriptions', 'transactions', 'interactions', 'deviceFingerprints'], 'DataSubjectExport.supportRecords'),
  DataSubjectExport: openType(
    [
      'customerId', 'status', 'generatedAt', 'displayName', 'email', 'phone', 'country', 'preferredLanguage',
      'createdAt', 'identifiers', 'consentReceipts', 'supportRecords', 'auditEvents', 'anonymousLookups', 'supportSessions',
      'piiAccessGrants', 'auditEventId',
    ],
    'Query.dataSubjectAccess (dsar:process; the export itself is audited)',
  ),
  ErasedItems: openType(['store', 'item', 'count'], 'ErasureReceipt.removed'),
  ErasureReceipt: openType(['customerId', 'requestId', 'erasedAt', 'alreadyErased', 'removed', 'auditEventId'], 'Mutation.eraseCustomer'),
};

export function lookupRule(typeName: string, fieldName: string): FieldRule | undefined {
  return FIELD_POLICY[typeName]?.[fieldName];
}
