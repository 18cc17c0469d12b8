/**
 * The field-policy matrix shared by the policy tests: representative callers,
 * what each of them must see (written from CONTRACT.md, not derived from the
 * policy table, so that a wrong table fails), seeded customers with consent
 * given and withdrawn, and one probe per field and route.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { isObjectType, type GraphQLSchema } from 'graphql';
import type { ForbiddenReason } from '../src/errors.js';
import { buildPolicySchema } from '../src/server.js';
import { aCrmId, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import type { GraphQLResponse, TestApp } from './testkit/test-app.js';

/** What a caller must get for one field: a value, or withheld with a reason. `consent-gated`: full when the customer consents to support_context, else CONSENT_REQUIRED. */
export type Expectation = 'full' | 'masked' | 'clear' | 'consent-gated' | ForbiddenReason;

export interface MatrixCaller {
  key: string;
  label: string;
  sub: string;
  scopes: string[];
  /** Coordinates this caller may see; every other field is withheld with MISSING_SCOPE. */
  sees: Record<string, Expectation>;
}

const CONSENT_FIELDS = ['id', 'customerId', 'version', 'scopes', 'grantedAt', 'expiresAt', 'source', 'supersedes'];
const AUDIT_FIELDS = [
  'id', 'type', 'occurredAt', 'customerId', 'actor', 'channel', 'interactionId', 'resolutionSource',
  'identifierHash', 'fields', 'justification', 'requestId', 'sequence', 'prevHash', 'hash', 'details',
];
const CONTEXT_FIELDS = [
  'customerId', 'generatedAt', 'expiresAt', 'channel', 'sessionId', 'openTickets', 'activeSubscriptions',
  'recentTransactions', 'lastInteractions', 'deviceFingerprint',
];
const CUSTOMER_FIELDS = [
  'id', 'status', 'displayName', 'email', 'phone', 'country', 'preferredLanguage', 'createdAt', 'identifiers',
  'consent', 'consentHistory', 'context', 'auditTrail',
];
export const MATRIX_TYPES: Record<string, readonly string[]> = {
  Customer: CUSTOMER_FIELDS,
  ContextSnapshot: CONTEXT_FIELDS,
  Consent: CONSENT_FIELDS,
  AuditEvent: AUDIT_FIELDS,
};

const all = (type: string, fields: readonly string[], expectation: Expectation): Record<string, Expectation> =>
  Object.fromEntries(fields.map((f) => [`${type}.${f}`, expectation]));

// CONTRACT.md, "Field policy": the agent's everyday view.
const AGENT_VIEW: Record<string, Expectation> = {
  'Query.customer': 'full',
  ...all('Customer', ['id', 'status', 'createdAt', 'country', 'preferredLanguage', 'consent'], 'full'),
  ...all('Customer', ['displayName', 'email', 'phone'], 'masked'),
  ...all('Consent', CONSENT_FIELDS, 'full'),
};
const CONTEXT_VIEW: Record<string, Expectation> = {
  ...AGENT_VIEW,
  'Customer.context': 'full',
  ...all('ContextSnapshot', ['customerId', 'generatedAt', 'expiresAt', 'channel', 'sessionId'], 'full'),
  ...all('ContextSnapshot', ['openTickets', 'activeSubscriptions', 'recentTransactions', 'lastInteractions'], 'consent-gated'),
};

export const GRANTED_AGENT = 'agent-granted';
export const APPROVER = 'supervisor-approver';

export const MATRIX_CALLERS: readonly MatrixCaller[] = [
  { key: 'none', label: 'a token with no scopes', sub: 'caller-none', scopes: [], sees: {} },
  { key: 'agent', label: 'an agent with customer:read', sub: 'agent-plain', scopes: ['customer:read'], sees: AGENT_VIEW },
  { key: 'pii-no-grant', label: 'an agent with customer:read and pii:read but no grant', sub: 'agent-no-grant', scopes: ['customer:read', 'pii:read'], sees: AGENT_VIEW },
  {
    key: 'pii-grant',
    label: 'an agent with customer:read, pii:read and an approved grant',
    sub: GRANTED_AGENT,
    scopes: ['customer:read', 'pii:read'],
    sees: { ...AGENT_VIEW, ...all('Customer', ['displayName', 'email', 'phone'], 'clear') },
  },
  {
    key: 'pii-only',
    label: 'a caller with pii:read alone and no grant',
    sub: 'agent-pii-only',
    scopes: ['pii:read'],
    sees: all('Customer', ['displayName', 'email', 'phone'], 'ELEVATION_REQUIRED'),
  },
  {
    key: 'resolver',
    label: 'a service with identity:resolve',
    sub: 'svc-resolver',
    scopes: ['identity:resolve'],
    sees: all('Customer', ['id', 'status', 'createdAt', 'identifiers'], 'full'),
  },
  {
    key: 'consent-reader',
    label: 'a caller with consent:read',
    sub: 'agent-consent',
    scopes: ['consent:read'],
    sees: { 'Customer.consentHistory': 'full', ...all('Consent', CONSENT_FIELDS, 'full') },
  },
  {
    key: 'auditor',
    label: 'an auditor with audit:read',
    sub: 'auditor',
    scopes: ['audit:read'],
    sees: { 'Customer.auditTrail': 'full', ...all('AuditEvent', AUDIT_FIELDS, 'full') },
  },
  { key: 'context', label: 'an agent with customer:read and context:read', sub: 'agent-context', scopes: ['customer:read', 'context:read'], sees: CONTEXT_VIEW },
  {
    key: 'context-fraud',
    label: 'an agent with customer:read, context:read and fraud:read',
    sub: 'agent-fraud',
    scopes: ['customer:read', 'context:read', 'fraud:read'],
    sees: { ...CONTEXT_VIEW, 'ContextSnapshot.deviceFingerprint': 'full' },
  },
];

export type ConsentStateKey = 'given' | 'withdrawn';
export const CONSENT_STATES: readonly ConsentStateKey[] = ['given', 'withdrawn'];
export type Route = 'customer(id)' | '_entities';
export const ROUTES: readonly Route[] = ['customer(id)', '_entities'];

export interface SeededCustomer {
  id: string;
  displayName: string;
  email: string;
  phone: string;
  consentIds: string[];
  auditEventId: string;
}

/** What the server resolves for the running code: some resolvers belong to other areas and may not exist yet. */
export interface Resolvability {
  hasContext: boolean;
  hasAuditTrail: boolean;
  hasAuditEventReference: boolean;
}

export function probeResolvability(schema: GraphQLSchema = buildPolicySchema('off')): Resolvability {
  const customer = schema.getType('Customer');
  const audit = schema.getType('AuditEvent');
  const fields = isObjectType(customer) ? customer.getFields() : {};
  const auditType = isObjectType(audit) ? (audit as unknown as { resolveReference?: unknown; extensions: Record<string, unknown> }) : null;
  const subgraphExtensions = auditType?.extensions['apolloSubgraph'] as { resolveReference?: unknown } | undefined;
  return {
    hasContext: typeof fields['context']?.resolve === 'function',
    hasAuditTrail: typeof fields['auditTrail']?.resolve === 'function',
    hasAuditEventReference: typeof auditType?.resolveReference === 'function' || typeof subgraphExtensions?.resolveReference === 'function',
  };
}

/** A unique email that masks as `j***@example.com`. */
export function aJaneEmail(): string {
  return `jane.doe+${randomBytes(5).toString('hex')}@example.com`;
}

export function maskedEmailOf(email: string): string {
  return `${email[0]}***@${email.split('@')[1]}`;
}
export function maskedPhoneOf(phone: string): string {
  const digits = phone.slice(1);
  return `+${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
}

export function expectNoErrors(res: GraphQLResponse<unknown>): void {
  expect(res.body.errors ?? []).toEqual([]);
}

export async function registerJane(app: TestApp, service: string, overrides: { email?: string; phone?: string; displayName?: string } = {}): Promise<SeededCustomer> {
  const email = overrides.email ?? aJaneEmail();
  const phone = overrides.phone ?? aPhone();
  const displayName = overrides.displayName ?? 'Jane Doe';
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: {
      identifiers: [
        { kind: 'EMAIL', value: email },
        { kind: 'PHONE', value: phone },
        { kind: 'CRM_ID', value: aCrmId() },
      ],
      displayName,
      country: 'GB',
      preferredLanguage: 'en-GB',
      channel: 'EMAIL',
    },
  });
  expectNoErrors(res);
  const id = res.body.data!.registerCustomer.id;
  const event = await app.app.mongo.db.collection('audit_events').findOne({ customerId: id, type: 'CUSTOMER_REGISTERED' });
  expect(event).not.toBeNull();
  return { id, displayName, email, phone, consentIds: [], auditEventId: String(event!['_id']) };
}

export async function recordConsent(app: TestApp, service: string, customer: SeededCustomer, scopes: string[]): Promise<void> {
  const res = await app.graphql<{ recordConsent: { id: string } }>(
    service,
    `mutation($input: RecordConsentInput!) { recordConsent(input: $input) { id } }`,
    { input: { customerId: customer.id, scopes, source: 'policy-test' } },
  );
  expectNoErrors(res);
  customer.consentIds.push(res.body.data!.recordConsent.id);
}

export async function recordSupportActivity(app: TestApp, service: string, customerId: string): Promise<void> {
  const day = new Date(Date.now() - 86_400_000).toISOString();
  const res = await app.graphql(service, `mutation($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`, {
    input: {
      customerId,
      tickets: [{ id: 'TCK-1', status: 'open', subject: 'Router will not connect', openedAt: day }],
      subscriptions: [{ id: 'SUB-1', plan: 'fibre-500', status: 'active', startedAt: day }],
      transactions: [{ id: 'TRX-1', status: 'settled', amountMinor: 4599, currency: 'GBP', occurredAt: day, description: 'Monthly fee' }],
      interactions: [{ id: 'INT-1', channel: 'VOICE', occurredAt: day, summary: 'Asked about the outage', outcome: 'resolved' }],
      deviceFingerprint: `fp_x${randomBytes(6).toString('hex')}`,
    },
  });
  expectNoErrors(res);
}

/** A grant for `agentSub` on every PII field of a customer, approved by a second person. */
export function grantAllPii(app: TestApp, customerId: string, agentSub: string, ttlSeconds?: number): Promise<string> {
  return grantPii(app, customerId, agentSub, ['DISPLAY_NAME', 'EMAIL', 'PHONE'], { ttlSeconds });
}

/** A grant for `agentSub` on some PII fields of a customer, requested by that agent and approved by a second person. */
export async function grantPii(
  app: TestApp,
  customerId: string,
  agentSub: string,
  fields: readonly string[],
  options: { ttlSeconds?: number; justification?: string; approvalHeaders?: Record<string, string> } = {},
): Promise<string> {
  const requester = await app.token(['customer:read', 'pii:read'], agentSub);
  const approver = await app.token(['pii:approve'], APPROVER);
  const requested = await app.graphql<{ requestPiiAccess: { id: string; status: string } }>(
    requester,
    `mutation($input: PiiAccessRequestInput!) { requestPiiAccess(input: $input) { id status } }`,
    {
      input: {
        customerId,
        fields,
        justification: options.justification ?? 'Customer asked to confirm the contact details on file',
        ttlSeconds: options.ttlSeconds,
      },
    },
  );
  expectNoErrors(requested);
  const grantId = requested.body.data!.requestPiiAccess.id;
  const approved = await app.graphql(approver, `mutation($id: ID!) { approvePiiAccess(grantId: $id) { status } }`, { id: grantId }, options.approvalHeaders);
  expectNoErrors(approved);
  return grantId;
}

export interface MatrixWorld {
  customers: Record<ConsentStateKey, SeededCustomer>;
  hasSupportRecords: boolean;
}

/** Two customers (support_context consent given; given then withdrawn), support records for both, and grants for GRANTED_AGENT. */
export async function seedMatrixWorld(app: TestApp, resolvability: Resolvability): Promise<MatrixWorld> {
  const service = await app.token(SERVICE_SCOPES, 'svc-crm');
  const given = await registerJane(app, service);
  const withdrawn = await registerJane(app, service, { displayName: 'Ada Lovelace King' });
  await recordConsent(app, service, given, ['support_context', 'identity_linking']);
  await recordConsent(app, service, withdrawn, ['support_context']);
  await recordConsent(app, service, withdrawn, ['identity_linking']);
  if (resolvability.hasContext) {
    await recordSupportActivity(app, service, given.id);
    await recordSupportActivity(app, service, withdrawn.id);
  }
  await grantAllPii(app, given.id, GRANTED_AGENT);
  await grantAllPii(app, withdrawn.id, GRANTED_AGENT);
  return { customers: { given, withdrawn }, hasSupportRecords: resolvability.hasContext };
}

// ---------------------------------------------------------------------------
// Probes: one alias per field, so that a withheld non-null field nulls only its own alias.

interface Hop {
  coordinate: string;
  /** Length of the response path at which this hop's field sits. */
  depth: number;
  isOpen?: boolean;
}

export interface Probe {
  alias: string;
  coordinate: string;
  path: Array<string | number>;
  hops: Hop[];
  selection: string;
}

const SUBSELECTION: Record<string, string> = {
  'Customer.identifiers': '{ kind hash }',
  'Customer.consent': '{ scopes }',
  'Customer.consentHistory': '{ version }',
  'Customer.context': '{ generatedAt }',
  'Customer.auditTrail': '(first: 1) { edges { cursor } }',
  'ContextSnapshot.openTickets': '{ id }',
  'ContextSnapshot.activeSubscriptions': '{ id }',
  'ContextSnapshot.recentTransactions': '{ id }',
  'ContextSnapshot.lastInteractions': '{ id }',
  'AuditEvent.actor': '{ kind id }',
};

function fieldSelection(type: string, field: string): string {
  const sub = SUBSELECTION[`${type}.${field}`];
  return sub ? `${field} ${sub}` : field;
}

/** The operation that reaches every field of `type` through `route`, and its probes. */
export function buildProbes(type: string, route: Route): { query: string; variables: string[]; probes: Probe[] } {
  const fields = MATRIX_TYPES[type] ?? [];
  const probes: Probe[] = fields.map((field) => {
    const alias = `${type}_${field}`;
    const coordinate = `${type}.${field}`;
    const leaf = fieldSelection(type, field);
    if (route === 'customer(id)') {
      switch (type) {
        case 'Customer':
          return { alias, coordinate, path: [alias, field], hops: [{ coordinate: 'Query.customer', depth: 1 }, { coordinate, depth: 2 }], selection: `${alias}: customer(id: $id) { ${leaf} }` };
        case 'ContextSnapshot':
          return {
            alias, coordinate, path: [alias, 'context', field],
            hops: [{ coordinate: 'Query.customer', depth: 1 }, { coordinate: 'Customer.context', depth: 2 }, { coordinate, depth: 3 }],
            selection: `${alias}: customer(id: $id) { context { ${leaf} } }`,
          };
        case 'Consent':
          return {
            alias, coordinate, path: [alias, 'consentHistory', 0, field],
            hops: [{ coordinate: 'Query.customer', depth: 1 }, { coordinate: 'Customer.consentHistory', depth: 2 }, { coordinate, depth: 4 }],
            selection: `${alias}: customer(id: $id) { consentHistory { ${leaf} } }`,
          };
        default:
          return {
            alias, coordinate, path: [alias, 'auditTrail', 'edges', 0, 'node', field],
            hops: [
              { coordinate: 'Query.customer', depth: 1 },
              { coordinate: 'Customer.auditTrail', depth: 2 },
              { coordinate: 'AuditEventConnection.edges', depth: 3, isOpen: true },
              { coordinate: 'AuditEventEdge.node', depth: 5, isOpen: true },
              { coordinate, depth: 6 },
            ],
            selection: `${alias}: customer(id: $id) { auditTrail(first: 1) { edges { node { ${leaf} } } } }`,
          };
      }
    }
    switch (type) {
      // The first hop: _entities hands out the entity itself only to a caller who sees some field of its type.
      case 'Customer':
        return { alias, coordinate, path: [alias, 0, field], hops: [reach('Customer'), { coordinate, depth: 3 }], selection: `${alias}: _entities(representations: $customer) { ... on Customer { ${leaf} } }` };
      case 'ContextSnapshot':
        return {
          alias, coordinate, path: [alias, 0, 'context', field],
          hops: [reach('Customer'), { coordinate: 'Customer.context', depth: 3 }, { coordinate, depth: 4 }],
          selection: `${alias}: _entities(representations: $customer) { ... on Customer { context { ${leaf} } } }`,
        };
      case 'Consent':
        return { alias, coordinate, path: [alias, 0, field], hops: [reach('Consent'), { coordinate, depth: 3 }], selection: `${alias}: _entities(representations: $consent) { ... on Consent { ${leaf} } }` };
      default:
        return { alias, coordinate, path: [alias, 0, field], hops: [reach('AuditEvent'), { coordinate, depth: 3 }], selection: `${alias}: _entities(representations: $audit) { ... on AuditEvent { ${leaf} } }` };
    }
  });
  const variable = route === 'customer(id)' ? 'id' : type === 'Consent' ? 'consent' : type === 'AuditEvent' ? 'audit' : 'customer';
  const declaration = variable === 'id' ? '$id: ID!' : `$${variable}: [_Any!]!`;
  return { query: `query PolicyMatrix(${declaration}) {\n  ${probes.map((p) => p.selection).join('\n  ')}\n}`, variables: [variable], probes };
}

export function variablesFor(customer: SeededCustomer): Record<string, unknown> {
  return {
    id: customer.id,
    customer: [{ __typename: 'Customer', id: customer.id }],
    // The customer's current receipt, the one Customer.consent shows (earlier ones need consent:read: consent-receipts.test.ts).
    consent: [{ __typename: 'Consent', id: customer.consentIds.at(-1) }],
    audit: [{ __typename: 'AuditEvent', id: customer.auditEventId }],
  };
}

export function pickVariables(all: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, all[n]]));
}

// ---------------------------------------------------------------------------
// Expected and observed outcomes, as short strings so that a failing matrix prints a readable diff.

/** The hop of reaching an entity of `type` through _entities: allowed when some field of the type answers the caller with more than MISSING_SCOPE. */
const REACH = '_entities reaches ';
const reach = (type: string): Hop => ({ coordinate: `${REACH}${type}`, depth: 2 });

function expectationFor(caller: MatrixCaller, hop: Hop, state: ConsentStateKey): Exclude<Expectation, 'consent-gated'> {
  if (hop.isOpen) return 'full';
  if (hop.coordinate.startsWith(REACH)) {
    const type = hop.coordinate.slice(REACH.length);
    return Object.entries(caller.sees).some(([c, e]) => c.startsWith(`${type}.`) && e !== 'MISSING_SCOPE') ? 'full' : 'MISSING_SCOPE';
  }
  const expectation = caller.sees[hop.coordinate] ?? 'MISSING_SCOPE';
  if (expectation === 'consent-gated') return state === 'given' ? 'full' : 'CONSENT_REQUIRED';
  return expectation;
}

function isReason(value: string): value is ForbiddenReason {
  return value === 'MISSING_SCOPE' || value === 'CONSENT_REQUIRED' || value === 'ELEVATION_REQUIRED';
}

/** The value a probe must return when it is not withheld, where the test knows it. `undefined`: any value. */
function knownValue(probe: Probe, outcome: 'full' | 'masked' | 'clear', customer: SeededCustomer): unknown {
  switch (probe.coordinate) {
    case 'Customer.id':
    case 'ContextSnapshot.customerId':
    case 'Consent.customerId':
    case 'AuditEvent.customerId':
      return customer.id;
    case 'Customer.status':
      return 'ACTIVE';
    case 'Customer.country':
      return 'GB';
    case 'Customer.preferredLanguage':
      return 'en-GB';
    case 'Customer.displayName':
      return outcome === 'clear' ? customer.displayName : customer.displayName === 'Jane Doe' ? 'Jane D.' : 'Ada K.';
    case 'Customer.email':
      return outcome === 'clear' ? customer.email : maskedEmailOf(customer.email);
    case 'Customer.phone':
      return outcome === 'clear' ? customer.phone : maskedPhoneOf(customer.phone);
    // Through _entities the probe names the current receipt; through consentHistory the order is not part of the contract.
    case 'Consent.id':
      return probe.path.includes('consentHistory') ? undefined : customer.consentIds.at(-1);
    case 'Consent.version':
      return probe.path.includes('consentHistory') ? undefined : customer.consentIds.length;
    case 'AuditEvent.id':
      return probe.path.includes('auditTrail') ? undefined : customer.auditEventId;
    case 'AuditEvent.type':
      return probe.path.includes('auditTrail') ? undefined : 'CUSTOMER_REGISTERED';
    case 'ContextSnapshot.openTickets':
    case 'ContextSnapshot.activeSubscriptions':
    case 'ContextSnapshot.recentTransactions':
    case 'ContextSnapshot.lastInteractions':
    case 'Customer.identifiers':
    case 'Customer.consentHistory':
      return ARRAY;
    default:
      return undefined;
  }
}
const ARRAY = Symbol('any array');

function describeValue(value: unknown): string {
  return value === ARRAY ? '= an array' : `= ${JSON.stringify(value)}`;
}

/** What the matrix says the caller gets for this probe. */
export function expectedOutcome(probe: Probe, caller: MatrixCaller, state: ConsentStateKey, customer: SeededCustomer): string {
  for (const hop of probe.hops) {
    const expectation = expectationFor(caller, hop, state);
    if (isReason(expectation)) return `FORBIDDEN ${expectation} at ${probe.path.slice(0, hop.depth).join('.')}`;
    if (hop.coordinate === probe.coordinate) {
      const value = knownValue(probe, expectation, customer);
      return value === undefined ? 'allowed' : describeValue(value);
    }
  }
  return 'allowed';
}

function startsWith(path: readonly (string | number)[] | undefined, prefix: string): boolean {
  return path?.[0] === prefix;
}

export function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let current: unknown = data;
  for (const segment of path) {
    if (current === null || current === undefined) return current;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/**
 * What the response shows for this probe, in the same words as expectedOutcome.
 * `policyOnly`: report only whether and why the policy withheld (engine equivalence; fields whose data is unavailable).
 */
export function observedOutcome(probe: Probe, body: GraphQLResponse<unknown>['body'], customer: SeededCustomer, options: { policyOnly: boolean; expected: string }): string {
  const errors = (body.errors ?? []).filter((e) => startsWith(e.path, probe.alias));
  const forbidden = errors.find((e) => e.extensions?.['code'] === 'FORBIDDEN');
  if (forbidden) {
    const path = forbidden.path ?? [];
    if (valueAt(body.data, path) !== null) return `LEAK: a value next to FORBIDDEN at ${path.join('.')}`;
    return `FORBIDDEN ${String(forbidden.extensions?.['reason'])} at ${path.join('.')}`;
  }
  if (options.policyOnly) return 'allowed';
  const other = errors[0];
  if (other) return `error ${String(other.extensions?.['code'])} at ${(other.path ?? []).join('.')}`;
  if (!options.expected.startsWith('= ')) return 'allowed';
  const value = valueAt(body.data, probe.path);
  if (options.expected === '= an array') return Array.isArray(value) ? '= an array' : `= ${JSON.stringify(value)}`;
  return `= ${JSON.stringify(value)}`;
}

export function customerOf(world: MatrixWorld, state: ConsentStateKey): SeededCustomer {
  return world.customers[state];
}
