import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { findsOn, startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let service: string;
let agent: string;

const RECORD = `mutation Record($input: RecordConsentInput!) {
  recordConsent(input: $input) { id customerId version scopes grantedAt expiresAt source supersedes }
}`;

interface Receipt {
  id: string;
  customerId: string;
  version: number;
  scopes: string[];
  grantedAt: string;
  expiresAt: string | null;
  source: string;
  supersedes: string | null;
}

async function register(): Promise<string> {
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('consent') }] } });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.registerCustomer.id;
}

async function record(customerId: string, scopes: string[], extra: Record<string, unknown> = {}): Promise<Receipt> {
  const res = await app.graphql<{ recordConsent: Receipt }>(service, RECORD, { input: { customerId, scopes, source: 'webchat-banner', ...extra } });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.recordConsent;
}

function rawReceipts(customerId: string): Promise<Array<Record<string, unknown>>> {
  return app.app.mongo.db.collection('consents').find({ customerId }).sort({ version: 1 }).toArray();
}

/** Write commands other than inserts that the app sent to the consents collection. */
function nonInsertWritesOnConsents(): string[] {
  return app.mongoCommands
    .filter((c) => ['update', 'findAndModify', 'delete'].includes(c.commandName))
    .filter((c) => c.command[c.commandName] === 'consents')
    .map((c) => c.commandName);
}

beforeAll(async () => {
  app = await startTestApp();
  service = await app.token(SERVICE_SCOPES, 'svc-consent');
  agent = await app.token(['customer:read', 'consent:read'], 'agent-consent');
});
afterAll(async () => {
  await app?.stop();
});

describe('consent receipts', () => {
  it('keeps an intact version chain 1..n with supersedes links after several changes, without updating any receipt', async () => {
    const customerId = await register();
    app.resetCommands();
    const changes = [['support_context'], ['support_context', 'analytics'], ['analytics'], [], ['identity_linking', 'support_context']];
    const receipts: Receipt[] = [];
    let earlyRaw: Array<Record<string, unknown>> = [];
    for (const scopes of changes) {
      receipts.push(await record(customerId, scopes));
      // The first two receipts as stored, to compare with what is stored after three more changes.
      if (receipts.length === 2) earlyRaw = await rawReceipts(customerId);
    }
    expect(earlyRaw).toHaveLength(2);

    expect(receipts.map((r) => r.version)).toEqual([1, 2, 3, 4, 5]);
    expect(receipts[0]!.supersedes).toBeNull();
    for (let i = 1; i < receipts.length; i++) expect(receipts[i]!.supersedes).toBe(receipts[i - 1]!.id);

    const raw = await rawReceipts(customerId);
    expect(raw.map((r) => r['version'])).toEqual([1, 2, 3, 4, 5]);
    expect(raw.map((r) => r['_id'])).toEqual(receipts.map((r) => r.id));
    expect(raw.slice(0, 2)).toEqual(earlyRaw);
    expect(raw[3]!['scopes']).toEqual([]);
    expect(nonInsertWritesOnConsents()).toEqual([]);

    const res = await app.graphql<{ customer: { consent: { scopes: string[]; receipt: { version: number } }; consentHistory: Receipt[] } }>(
      agent,
      `query($id: ID!) { customer(id: $id) { consent { scopes receipt { version } } consentHistory { id version supersedes scopes } } }`,
      { id: customerId },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.customer.consent).toEqual({ scopes: ['identity_linking', 'support_context'], receipt: { version: 5 } });
    expect(res.body.data!.customer.consentHistory.map((r) => r.version)).toEqual([1, 2, 3, 4, 5]);
  });

  it('shows the newest 100 receipts in consentHistory, in version order, and the consent of the latest', async () => {
    // A chain grows with every change: 1,568 representations of one customer with 300 receipts made a 132 MB answer
    // from a 100 KB request (a probe). The data-subject export lists every receipt.
    const customerId = await register();
    for (let i = 0; i < 103; i++) await record(customerId, i % 2 === 0 ? ['support_context'] : ['analytics']);
    app.resetCommands();
    const res = await app.graphql<{ customer: { consent: { receipt: { version: number } }; consentHistory: Receipt[] } }>(
      agent,
      `query($id: ID!) { customer(id: $id) { consent { receipt { version } } consentHistory { version } } }`,
      { id: customerId },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.customer.consent.receipt.version).toBe(103);
    expect(res.body.data!.customer.consentHistory.map((r) => r.version)).toEqual(Array.from({ length: 100 }, (_, i) => i + 4));
    // One customer's read asks for the newest 100 only: every read loaded the whole chain, 10,050 receipts in 2.1 s
    // (a probe), and a chain only grows.
    const finds = app.mongoCommands.filter((c) => c.commandName === 'find' && c.command['find'] === 'consents');
    expect(finds).toHaveLength(1);
    expect(finds[0]!.command).toMatchObject({ filter: { customerId }, sort: new Map([['version', -1]]), limit: 100 });

    // A batch of several customers reads whole chains (one find) and shows the same.
    const other = await register();
    await record(other, ['analytics']);
    const batch = await app.graphql<{ _entities: Array<{ consent: { receipt: { version: number } }; consentHistory: Receipt[] }> }>(
      agent,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { consent { receipt { version } } consentHistory { version } } } }`,
      { r: [customerId, other, customerId].map((id) => ({ __typename: 'Customer', id })) },
    );
    expect(batch.body.errors).toBeUndefined();
    expect(batch.body.data!._entities.map((e) => [e.consent.receipt.version, e.consentHistory.length, e.consentHistory.at(0)?.version])).toEqual([
      [103, 100, 4],
      [1, 1, 1],
      [103, 100, 4],
    ]);
  });

  it('gives 8 concurrent recordConsent calls on one customer versions 1..8, each receipt inserted once and never updated', async () => {
    const customerId = await register();
    app.resetCommands();
    const scopeSets = [['support_context'], ['analytics'], ['marketing_email'], ['product_recs'], ['identity_linking'], ['support_context', 'analytics'], [], ['product_recs', 'analytics']];
    const results = await Promise.all(
      scopeSets.map((scopes) => app.graphql<{ recordConsent: Receipt }>(service, RECORD, { input: { customerId, scopes, source: 'crm-sync' } })),
    );
    for (const r of results) expect(r.body.errors).toBeUndefined();
    const receipts = results.map((r) => r.body.data!.recordConsent).sort((a, b) => a.version - b.version);
    expect(receipts.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    const raw = await rawReceipts(customerId);
    expect(raw).toHaveLength(8);
    expect(raw.map((r) => r['version'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(raw.map((r) => r['_id'])).size).toBe(8);
    // A linear chain: every receipt supersedes exactly the one before it.
    expect(raw[0]!['supersedes']).toBeNull();
    for (let i = 1; i < raw.length; i++) expect(raw[i]!['supersedes']).toBe(raw[i - 1]!['_id']);
    // What each caller was told is what is stored.
    for (const receipt of receipts) {
      const stored = raw.find((r) => r['_id'] === receipt.id)!;
      expect(stored['version']).toBe(receipt.version);
      expect(stored['scopes']).toEqual([...receipt.scopes]);
    }
    // Losing writers retried with a new insert; nobody updated a receipt.
    expect(nonInsertWritesOnConsents()).toEqual([]);
    const successfulInserts = app.mongoCommands.filter((c) => c.commandName === 'insert' && c.command['insert'] === 'consents');
    expect(successfulInserts.length).toBeGreaterThanOrEqual(8);
  });

  it('treats an expired latest receipt as no consent, even though an earlier receipt did not expire', async () => {
    const customerId = await register();
    await record(customerId, ['support_context', 'analytics']);
    await record(customerId, ['support_context'], { expiresAt: new Date(Date.now() + 1500).toISOString() });
    const query = `query($id: ID!) { customer(id: $id) { consent { scopes receipt { version expiresAt } } } }`;

    const before = await app.graphql<{ customer: { consent: { scopes: string[]; receipt: { version: number } } } }>(agent, query, { id: customerId });
    expect(before.body.data!.customer.consent.scopes).toEqual(['support_context']);

    await sleep(1700);
    const after = await app.graphql<{ customer: { consent: { scopes: string[]; receipt: { version: number; expiresAt: string } } } }>(agent, query, { id: customerId });
    expect(after.body.errors).toBeUndefined();
    expect(after.body.data!.customer.consent.scopes).toEqual([]);
    // The receipt is still shown: the caller can see why there is no consent.
    expect(after.body.data!.customer.consent.receipt.version).toBe(2);
  });

  // The expiry was checked before the customer's lock only: a change that waited its turn was written already expired,
  // answered as recorded, and withdrew the consent just given (a probe: 10 at once, expiring 400 ms later).
  it('refuses a receipt whose expiry passes while it waits its turn, and writes nothing for it', async () => {
    const customerId = await register();
    const repository = (app.app.services.consent as unknown as { repository: { findLatest: (id: string) => Promise<unknown> } }).repository;
    const findLatest = repository.findLatest.bind(repository);
    repository.findLatest = async (id) => {
      await sleep(300);
      return findLatest(id);
    };
    const receiptsBefore = await app.app.mongo.db.collection('consents').countDocuments({ customerId });
    const eventsBefore = await app.app.mongo.db.collection('audit_events').countDocuments({ chain: customerId });
    try {
      const late = await app.graphql(service, RECORD, { input: { customerId, scopes: ['support_context'], source: 'web', expiresAt: new Date(Date.now() + 150).toISOString() } });
      expect(late.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(late.body.errors?.[0]?.message).toMatch(/expiresAt must be in the future \(it passed while the change waited its turn\)/);
    } finally {
      repository.findLatest = findLatest;
    }
    expect(await app.app.mongo.db.collection('consents').countDocuments({ customerId })).toBe(receiptsBefore);
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ chain: customerId })).toBe(eventsBefore);
    // Every receipt written is granted before it expires.
    const later = await record(customerId, ['support_context'], { expiresAt: new Date(Date.now() + 60_000).toISOString() });
    expect(new Date(later.expiresAt!).getTime()).toBeGreaterThan(new Date(later.grantedAt).getTime());
  });

  it('rejects an unknown scope, a past expiry and an unknown customer without writing a receipt', async () => {
    const customerId = await register();
    const before = await app.app.mongo.db.collection('consents').countDocuments();
    const unknownScope = await app.graphql(service, RECORD, { input: { customerId, scopes: ['sell_my_data'], source: 'web' } });
    expect(unknownScope.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const past = await app.graphql(service, RECORD, { input: { customerId, scopes: [], source: 'web', expiresAt: '2001-01-01T00:00:00Z' } });
    expect(past.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const unknown = await app.graphql(service, RECORD, { input: { customerId: 'cus_00000000000000000000000000', scopes: [], source: 'web' } });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await app.app.mongo.db.collection('consents').countDocuments()).toBe(before);
  });
});

describe('consent batching', () => {
  it('shows customer:read the current receipt only: an earlier one reached through _entities is withheld', async () => {
    const id = await register();
    const first = await record(id, ['marketing_email']);
    const second = await record(id, ['analytics']);
    const reader = await app.token(['customer:read'], 'agent-no-history');
    const historian = await app.token(['customer:read', 'consent:read'], 'agent-history');
    const current = await app.graphql<{ customer: { consent: { receipt: { id: string; supersedes: string } } } }>(
      reader,
      `query($id: ID!) { customer(id: $id) { consent { receipt { id supersedes } } } }`,
      { id },
    );
    expect(current.body.errors).toBeUndefined();
    expect(current.body.data!.customer.consent.receipt).toEqual({ id: second.id, supersedes: first.id });

    const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Consent { id version scopes } } }`;
    const representations = [{ __typename: 'Consent', id: second.id }, { __typename: 'Consent', id: first.id }];
    const walked = await app.graphql<{ _entities: Array<{ id: string; version: number; scopes: string[] } | null> }>(reader, ENTITIES, { r: representations });
    expect(walked.body.data!._entities).toEqual([{ id: second.id, version: 2, scopes: ['analytics'] }, null]);
    expect(walked.body.errors).toHaveLength(1);
    expect(walked.body.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(walked.body.errors![0]!.path).toEqual(['_entities', 1]);

    const allowed = await app.graphql<{ _entities: Array<{ id: string; version: number } | null> }>(historian, ENTITIES, { r: representations });
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data!._entities.map((c) => c?.version)).toEqual([2, 1]);
  });

  it('withholds a receipt id that no receipt has from customer:read as it withholds an earlier receipt, so ids cannot be probed', async () => {
    const id = await register();
    const first = await record(id, ['marketing_email']);
    await record(id, []);
    const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { __typename } }`;
    const r = [{ __typename: 'Consent', id: 'con_00000000000000000000000000' }, { __typename: 'Consent', id: first.id }];
    for (const scopes of [['customer:read'], ['consent:write']]) {
      const res = await app.graphql<{ _entities: Array<unknown> }>(await app.token(scopes, `prober-${scopes[0]}`), ENTITIES, { r });
      expect(res.body.data!._entities).toEqual([null, null]);
      const errors = (res.body.errors ?? []).map((e) => ({ path: e.path, ...e.extensions, message: e.message }));
      expect(errors).toHaveLength(2);
      expect(errors[0]).toEqual({ ...errors[1], path: ['_entities', 0] });
      expect(errors[1]).toMatchObject({ path: ['_entities', 1], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    // consent:read reads receipts by id: for it an unknown id is just not there.
    const historian = await app.graphql<{ _entities: Array<unknown> }>(await app.token(['consent:read'], 'historian-unknown'), ENTITIES, { r });
    expect(historian.body.errors).toBeUndefined();
    expect(historian.body.data!._entities).toEqual([null, { __typename: 'Consent' }]);
  });

  it('reaches receipts and audit events by id only with the scopes that list them on a customer, not with every scope that reads their fields', async () => {
    const id = await register();
    const first = await record(id, ['marketing_email']);
    const second = await record(id, ['analytics']);
    const auditor = await app.token(['customer:read', 'audit:read'], 'auditor-reach');
    const trail = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { id: string } }> } } }>(
      auditor,
      `query($id: ID!) { customer(id: $id) { auditTrail(first: 1) { edges { node { id } } } } }`,
      { id },
    );
    const eventId = trail.body.data!.customer.auditTrail.edges[0]!.node.id;
    const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Consent { id version } ... on AuditEvent { id type } } }`;
    const r = [{ __typename: 'Consent', id: second.id }, { __typename: 'Consent', id: first.id }, { __typename: 'AuditEvent', id: eventId }];
    const reach = async (scopes: string[]) => {
      const res = await app.graphql<{ _entities: Array<{ id: string } | null> }>(await app.token(scopes, `reach-${scopes.join('-')}`), ENTITIES, { r });
      return res.body.data!._entities.map((e, i) => (e ? 'read' : (res.body.errors ?? []).find((x) => x.path?.[1] === i)?.extensions?.['reason']));
    };
    // dsar:process reads receipts and events inside an export, which writes DSAR_EXPORT; by id it reaches neither.
    expect(await reach(['dsar:process'])).toEqual(['MISSING_SCOPE', 'MISSING_SCOPE', 'MISSING_SCOPE']);
    // consent:write reads the current receipt (as Customer.consent shows it), not the history, and no event.
    expect(await reach(['consent:write'])).toEqual(['read', 'MISSING_SCOPE', 'MISSING_SCOPE']);
    expect(await reach(['consent:read'])).toEqual(['read', 'read', 'MISSING_SCOPE']);
    expect(await reach(['audit:read'])).toEqual(['MISSING_SCOPE', 'MISSING_SCOPE', 'read']);
  });

  it("withholds an erased customer's last receipt from customer:read through _entities, as Customer.consent shows none", async () => {
    const id = await register();
    const receipt = await record(id, ['support_context']);
    const reader = await app.token(['customer:read'], 'agent-after-erasure');
    const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Consent { id scopes source } } }`;
    const before = await app.graphql<{ _entities: Array<{ id: string } | null> }>(reader, ENTITIES, { r: [{ __typename: 'Consent', id: receipt.id }] });
    expect(before.body.data!._entities).toEqual([{ id: receipt.id, scopes: ['support_context'], source: 'webchat-banner' }]);
    const dpo = await app.token(['dsar:process'], 'dpo-consent');
    const erased = await app.graphql(dpo, `mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-C1", reason: "Asked by letter") { customerId } }`, { id });
    expect(erased.body.errors).toBeUndefined();
    const after = await app.graphql<{ _entities: Array<unknown> }>(reader, ENTITIES, { r: [{ __typename: 'Consent', id: receipt.id }] });
    expect(after.body.data!._entities).toEqual([null]);
    expect(after.body.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    // consent:read still reads it: the receipts stay, as the record of what was consented.
    const historian = await app.graphql<{ _entities: Array<{ id: string } | null> }>(agent, ENTITIES, { r: [{ __typename: 'Consent', id: receipt.id }] });
    expect(historian.body.data!._entities[0]?.id).toBe(receipt.id);
  });

  it('resolves a Consent representation whose id is not a receipt id (a number, an object, an operator, null) to null, next to a valid one', async () => {
    const id = await register();
    const receipt = await record(id, ['analytics']);
    const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Consent { id } } }`;
    const bad = [{ $gt: '' }, { _bsontype: 'BSONRegExp', pattern: '.*', options: '' }, 42, null, 'con_short', ['x']];
    const r = [...bad.map((value) => ({ __typename: 'Consent', id: value })), { __typename: 'Consent' }, { __typename: 'Consent', id: receipt.id }];
    const res = await app.graphql<{ _entities: Array<{ id: string } | null> }>(agent, ENTITIES, { r });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!._entities).toEqual([...bad.map(() => null), null, { id: receipt.id }]);
  });

  it('reads consent and consentHistory of 20 customers through _entities with one find on consents', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = await register();
      await record(id, i % 2 === 0 ? ['support_context'] : ['analytics']);
      if (i % 3 === 0) await record(id, ['analytics', 'product_recs']);
      ids.push(id);
    }
    app.resetCommands();
    const res = await app.graphql<{ _entities: Array<{ id: string; consent: { scopes: string[] }; consentHistory: Array<{ version: number }> }> }>(
      agent,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id consent { scopes receipt { version } } consentHistory { version } } } }`,
      { r: ids.map((id) => ({ __typename: 'Customer', id })) },
    );
    expect(res.body.errors).toBeUndefined();
    expect(findsOn(app.mongoCommands, 'consents')).toHaveLength(1);
    const entities = res.body.data!._entities;
    expect(entities[0]!.consent.scopes).toEqual(['analytics', 'product_recs']);
    expect(entities[0]!.consentHistory.map((r) => r.version)).toEqual([1, 2]);
    expect(entities[1]!.consent.scopes).toEqual(['analytics']);
    expect(entities[2]!.consent.scopes).toEqual(['support_context']);
  });
});
