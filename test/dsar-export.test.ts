import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCrmId, anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { APPROVER, grantPii } from './policy-fixtures.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let service: string;
let dpo: string;
let customerId: string;
const email = anEmail('Dana.Subject');
const phone = aPhone();
const crmId = aCrmId();

const EXPORT = `query Export($id: ID!, $from: DateTime, $to: DateTime) {
  dataSubjectAccess(customerId: $id, from: $from, to: $to) {
    customerId status generatedAt displayName email phone country preferredLanguage createdAt
    identifiers { kind hash keyVersion linkedAt }
    consentReceipts { id version scopes source }
    supportRecords {
      tickets { id status subject }
      subscriptions { id plan }
      transactions { id amountMinor currency }
      interactions { id channel }
      deviceFingerprints
    }
    auditEvents { id type sequence occurredAt identifierHash actor { kind id } requestId }
    auditEventId
  }
}`;

interface ExportResult {
  customerId: string;
  status: string;
  generatedAt: string;
  displayName: string | null;
  email: string | null;
  phone: string | null;
  country: string | null;
  identifiers: Array<{ kind: string; hash: string; keyVersion: string }>;
  consentReceipts: Array<{ id: string; version: number; scopes: string[] }>;
  supportRecords: { tickets: Array<{ id: string; subject: string }>; subscriptions: unknown[]; transactions: unknown[]; interactions: unknown[]; deviceFingerprints: string[] };
  auditEvents: Array<{ id: string; type: string; sequence: number; occurredAt: string; identifierHash: string | null; requestId: string | null }>;
  auditEventId: string;
}

async function exportFor(id: string, range: { from?: string; to?: string } = {}, token = dpo) {
  return app.graphql<{ dataSubjectAccess: ExportResult }>(token, EXPORT, { id, ...range });
}

beforeAll(async () => {
  app = await startTestApp();
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  dpo = await app.token(['dsar:process'], 'dpo-riley');
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: {
      identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: phone }, { kind: 'CRM_ID', value: crmId }],
      displayName: 'Dana Subject',
      country: 'IE',
      preferredLanguage: 'en-IE',
    },
  });
  expect(res.body.errors).toBeUndefined();
  customerId = res.body.data!.registerCustomer.id;
  const consent = await app.graphql(service, `mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["support_context", "analytics"], source: "web-form" }) { version } }`, { id: customerId });
  expect(consent.body.errors).toBeUndefined();
  const push = await app.graphql(service, `mutation($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`, {
    input: {
      customerId,
      tickets: [{ id: 'T-1001', status: 'open', subject: 'Router keeps dropping', openedAt: '2026-01-10T09:00:00Z' }],
      deviceFingerprint: 'dfp_1234abcd',
    },
  });
  expect(push.body.errors).toBeUndefined();
});
afterAll(async () => {
  await app?.stop();
});

describe('dataSubjectAccess', () => {
  it('exports everything held about the person, in clear, with the DSAR_EXPORT event that records it', async () => {
    const res = await exportFor(customerId);
    expect(res.body.errors).toBeUndefined();
    const out = res.body.data!.dataSubjectAccess;
    expect(out).toMatchObject({
      customerId,
      status: 'ACTIVE',
      displayName: 'Dana Subject',
      email: email.toLowerCase(),
      phone,
      country: 'IE',
    });
    expect(out.identifiers.map((i) => i.kind).sort()).toEqual(['CRM_ID', 'EMAIL', 'PHONE']);
    for (const identifier of out.identifiers) {
      expect(identifier.keyVersion).toBe(identifier.hash.split(':')[0]);
      expect(identifier.hash).toMatch(/^[A-Za-z0-9_-]+:[A-Za-z0-9_-]{43}$/);
    }
    expect(out.consentReceipts).toMatchObject([{ version: 1, scopes: ['analytics', 'support_context'] }]);
    expect(out.supportRecords.tickets).toMatchObject([{ id: 'T-1001', subject: 'Router keeps dropping' }]);
    expect(out.supportRecords.deviceFingerprints).toEqual(['dfp_1234abcd']);

    // The export's own event was written before the events were read: it is in the list, last.
    const types = out.auditEvents.map((e) => e.type);
    expect(types[0]).toBe('CUSTOMER_REGISTERED');
    expect(types).toContain('CONSENT_RECORDED');
    expect(out.auditEvents.at(-1)).toMatchObject({ id: out.auditEventId, type: 'DSAR_EXPORT' });
    expect(out.auditEvents.map((e) => e.sequence)).toEqual(out.auditEvents.map((_e, i) => i + 1));
    // Identifier hashes recorded in the trail are opened for the export.
    const registered = out.auditEvents[0]!;
    expect(out.identifiers.map((i) => i.hash)).toContain(registered.identifierHash);

    const stored = await app.app.mongo.db.collection('audit_events').findOne({ _id: out.auditEventId as never });
    expect(stored).toMatchObject({ type: 'DSAR_EXPORT', customerId, actor: { kind: 'AGENT', id: 'dpo-riley' }, details: { delivery: 'graphql' } });
  });

  it('limits the audit events to the requested range', async () => {
    const all = (await exportFor(customerId)).body.data!.dataSubjectAccess.auditEvents;
    const from = all[1]!.occurredAt;
    const to = all[2]!.occurredAt;
    const ranged = await exportFor(customerId, { from, to });
    expect(ranged.body.errors).toBeUndefined();
    const expected = all.filter((e) => e.occurredAt >= from && e.occurredAt <= to).map((e) => e.id);
    expect(ranged.body.data!.dataSubjectAccess.auditEvents.map((e) => e.id)).toEqual(expected);
    expect(expected.length).toBeLessThan(all.length);

    const backwards = await exportFor(customerId, { from: to, to: from === to ? '2000-01-01T00:00:00Z' : from });
    expect(backwards.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });

  it('refuses callers without dsar:process, unknown customers and malformed ids, without writing an event', async () => {
    const before = await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' });
    const auditor = await app.token(['audit:read', 'customer:read', 'pii:read'], 'auditor-x');
    const forbidden = await exportFor(customerId, {}, auditor);
    expect(forbidden.body.data).toBeNull();
    expect(forbidden.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(JSON.stringify(forbidden.body)).not.toContain('Dana');

    const unknown = await exportFor('cus_00000000000000000000000000');
    expect(unknown.body.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    const malformed = await exportFor(email);
    expect(malformed.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(malformed.body)).not.toContain(email);
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' })).toBe(before);
  });
});

describe('what the export holds besides the customer record', () => {
  const HELD = `query($id: ID!, $to: DateTime) { dataSubjectAccess(customerId: $id, to: $to) {
    identifiers { kind hash }
    anonymousLookups { id type customerId identifierHash actor { id } }
    supportSessions { sessionId channel startedBy startedAt expiresAt }
    piiAccessGrants { id fields status requestedBy approvedBy justification expiresAt }
  } }`;
  const RESOLVE = `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: EMAIL }) { customer { id } auditEventId } }`;
  let id: string;
  let lookupId: string;
  let otherLookupId: string;
  let lookupAt: Date;

  beforeAll(async () => {
    const later = anEmail('later.registered');
    const resolver = await app.token(['identity:resolve'], 'ivr-before');
    const before = await app.graphql<{ resolveCustomer: { customer: null; auditEventId: string } }>(resolver, RESOLVE, { v: later });
    expect(before.body.data!.resolveCustomer.customer).toBeNull();
    lookupId = before.body.data!.resolveCustomer.auditEventId;
    lookupAt = new Date();
    const other = await app.graphql<{ resolveCustomer: { auditEventId: string } }>(resolver, RESOLVE, { v: anEmail('somebody.else') });
    otherLookupId = other.body.data!.resolveCustomer.auditEventId;
    // A number nobody had when it was looked up, linked to this customer later: that lookup may have been about
    // whoever had the number then, and is not listed, whether it was made before the registration or after it.
    const laterPhone = aPhone();
    const PHONE = `query($v: String!) { resolveCustomer(input: { identifier: { kind: PHONE, value: $v }, channel: VOICE }) { customer { id } auditEventId } }`;
    expect((await app.graphql(resolver, PHONE, { v: laterPhone })).body.errors).toBeUndefined();
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: later }], displayName: 'Lee Later' } });
    id = res.body.data!.registerCustomer.id;
    // Linked at once: a window of a second after the registration took such a number for one registered with (a probe).
    const phoneLookup = await app.graphql<{ resolveCustomer: { customer: null; auditEventId: string } }>(resolver, PHONE, { v: laterPhone });
    expect(phoneLookup.body.data!.resolveCustomer.customer).toBeNull();
    const link = await app.graphql(service, `mutation($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: PHONE, value: $v }) { id } }`, { id, v: laterPhone });
    expect(link.body.errors).toBeUndefined();
    const agent = await app.token(['context:read', 'pii:read'], 'agent-held');
    expect((await app.graphql(agent, `mutation($id: ID!) { startSupportSession(customerId: $id, channel: WEBCHAT) { token } }`, { id })).body.errors).toBeUndefined();
    const grant = await app.graphql(agent, `mutation($id: ID!) { requestPiiAccess(input: { customerId: $id, fields: [EMAIL], justification: "Customer asked for a callback" }) { id } }`, { id });
    expect(grant.body.errors).toBeUndefined();
  });

  it('lists the lookups made with their identifiers before they registered, live sessions and grants, pending ones included', async () => {
    const res = await app.graphql<{ dataSubjectAccess: Record<string, Array<Record<string, unknown>>> }>(dpo, HELD, { id });
    expect(res.body.errors).toBeUndefined();
    const out = res.body.data!.dataSubjectAccess;
    const hash = (out['identifiers']!.find((i) => i['kind'] === 'EMAIL') as { hash: string }).hash;
    expect(out['anonymousLookups']).toEqual([{ id: lookupId, type: 'IDENTITY_RESOLUTION', customerId: null, identifierHash: hash, actor: { id: 'ivr-before' } }]);
    expect(out['anonymousLookups']!.map((e) => e['id'])).not.toContain(otherLookupId);
    expect(out['supportSessions']).toEqual([expect.objectContaining({ channel: 'WEBCHAT', startedBy: 'agent-held' })]);
    expect(out['piiAccessGrants']).toEqual([
      expect.objectContaining({ fields: ['EMAIL'], status: 'PENDING', requestedBy: 'agent-held', approvedBy: null, justification: 'Customer asked for a callback' }),
    ]);
    // The range applies to the lookups as to the other events.
    const earlier = await app.graphql<{ dataSubjectAccess: { anonymousLookups: unknown[] } }>(dpo, HELD, { id, to: new Date(lookupAt.getTime() - 60_000).toISOString() });
    expect(earlier.body.data!.dataSubjectAccess.anonymousLookups).toEqual([]);
  });

  // The lookups' index was read after the status: an erasure in between left an export that said ACTIVE and listed
  // none of them (a regression probe).
  it('reads the lookups before the status, so an erasure racing the export shows as one', async () => {
    const racing = anEmail('racing.lookups');
    const resolver = await app.token(['identity:resolve'], 'ivr-racing');
    expect((await app.graphql(resolver, RESOLVE, { v: racing })).body.errors).toBeUndefined();
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: racing }] } });
    const racingId = res.body.data!.registerCustomer.id;
    const plain = await app.graphql<{ dataSubjectAccess: { anonymousLookups: unknown[] } }>(dpo, HELD, { id: racingId });
    expect(plain.body.data!.dataSubjectAccess.anonymousLookups).toHaveLength(1);
    const sources = (app.app.services.dsar as unknown as { sources: { anonymousLookupEventIds: (hashes: string[]) => Promise<string[]> } }).sources;
    const lookups = sources.anonymousLookupEventIds;
    sources.anonymousLookupEventIds = async (hashes) => {
      sources.anonymousLookupEventIds = lookups;
      const erased = await app.graphql(dpo, 'mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-LOOKUPS", reason: "letter") { alreadyErased } }', { id: racingId });
      expect(erased.body.errors).toBeUndefined();
      return lookups(hashes);
    };
    try {
      const raced = await app.graphql<{ dataSubjectAccess: { status: string; identifiers: unknown[]; anonymousLookups: unknown[] } }>(
        dpo,
        `query($id: ID!) { dataSubjectAccess(customerId: $id) { status identifiers { kind } anonymousLookups { id } } }`,
        { id: racingId },
      );
      expect(raced.body.errors).toBeUndefined();
      expect(raced.body.data!.dataSubjectAccess).toEqual({ status: 'ERASED', identifiers: [], anonymousLookups: [] });
    } finally {
      sources.anonymousLookupEventIds = lookups;
    }
  });

  // Grants were the stored Redis record: `activated` and `approvedAt` (milliseconds, where every other date is ISO
  // text), which the GraphQL type does not have (a probe).
  it('has them in the download too, as the GraphQL type has them, and says nothing is missing', async () => {
    await grantPii(app, id, 'agent-held-approved', ['PHONE']);
    const res = await fetch(`${app.baseUrl}/dsar/export?customerId=${id}`, { headers: { authorization: `Bearer ${dpo}` } });
    const body = (await res.json()) as Record<string, unknown[]>;
    expect(body['anonymousLookups']!.map((e) => (e as { id: string }).id)).toEqual([lookupId]);
    expect(body['supportSessions']).toHaveLength(1);
    const viaGraphql = await app.graphql<{ dataSubjectAccess: { piiAccessGrants: unknown[] } }>(
      dpo,
      `query($id: ID!) { dataSubjectAccess(customerId: $id) { piiAccessGrants { id customerId fields status expiresAt requestedBy approvedBy justification } } }`,
      { id },
    );
    expect(viaGraphql.body.errors).toBeUndefined();
    const byId = (list: unknown[]) => [...(list as Array<{ id: string }>)].sort((a, b) => a.id.localeCompare(b.id));
    expect(body['piiAccessGrants']).toHaveLength(2);
    expect(byId(body['piiAccessGrants']!)).toEqual(byId(viaGraphql.body.data!.dataSubjectAccess.piiAccessGrants));
    expect(body['piiAccessGrants']).toContainEqual(expect.objectContaining({ status: 'APPROVED', approvedBy: APPROVER, fields: ['PHONE'] }));
    expect(body['incomplete']).toEqual([]);
  });
});

describe('an export of a store altered by hand, or overtaken by an erasure', () => {
  const register = async (label: string) => {
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail(label) }, { kind: 'PHONE', value: aPhone() }], displayName: 'Alt Ered' },
    });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.registerCustomer.id;
  };
  const flip = (binary: { buffer: Uint8Array }) => {
    const bytes = Buffer.from(binary.buffer);
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    return bytes;
  };

  // One flipped bit made the whole export an internal error, and a broken data key failed the trail page and every
  // AuditEvent of other customers read in the same batch (a probe).
  it('fails only the attribute whose ciphertext does not decrypt, at its path and in `incomplete`', async () => {
    const id = await register('altered');
    const customers = app.app.mongo.db.collection('customers');
    const doc = await customers.findOne({ _id: id as never });
    await customers.updateOne({ _id: id as never }, { $set: { 'encrypted.EMAIL.ct': flip((doc!['encrypted'] as { EMAIL: { ct: { buffer: Uint8Array } } }).EMAIL.ct) } });
    const res = await exportFor(id);
    expect(res.body.data!.dataSubjectAccess).toMatchObject({ customerId: id, status: 'ACTIVE', displayName: 'Alt Ered', email: null });
    expect(res.body.data!.dataSubjectAccess.phone).toMatch(/^\+/);
    expect(res.body.errors?.map((e) => [e.path?.join('.'), e.extensions?.['code']])).toEqual([['dataSubjectAccess.email', 'INTERNAL_SERVER_ERROR']]);
    const download = await fetch(`${app.baseUrl}/dsar/export?customerId=${id}`, { headers: { authorization: `Bearer ${dpo}` } });
    expect(download.status).toBe(200);
    expect(((await download.json()) as { incomplete: string[] }).incomplete).toEqual(['email']);
  });

  it('answers with the rest when the data key does not unwrap, and its events read without their hash, alone', async () => {
    const healthy = await register('healthy');
    const broken = await register('brokenkey');
    const customers = app.app.mongo.db.collection('customers');
    const doc = await customers.findOne({ _id: broken as never });
    await customers.updateOne({ _id: broken as never }, { $set: { 'dataKey.ct': flip((doc!['dataKey'] as { ct: { buffer: Uint8Array } }).ct) } });
    await app.app.mongo.db.collection('customer_keys').updateOne({ _id: broken as never }, { $set: { ct: flip((doc!['dataKey'] as { ct: { buffer: Uint8Array } }).ct) } });
    const res = await exportFor(broken);
    expect(res.body.data!.dataSubjectAccess).toMatchObject({ customerId: broken, displayName: null, email: null, phone: null });
    expect(res.body.errors?.map((e) => e.path?.join('.')).sort()).toEqual(['dataSubjectAccess.displayName', 'dataSubjectAccess.email', 'dataSubjectAccess.phone']);
    const events = res.body.data!.dataSubjectAccess.auditEvents;
    expect(events.find((e) => e.type === 'CUSTOMER_REGISTERED')?.identifierHash).toBeNull();
    // Another customer's event read in the same batch keeps its hash.
    const auditor = await app.token(['audit:read'], 'auditor-ann');
    const [healthyEvent] = await app.app.mongo.db.collection('audit_events').find({ customerId: healthy, type: 'CUSTOMER_REGISTERED' }).toArray();
    const [brokenEvent] = await app.app.mongo.db.collection('audit_events').find({ customerId: broken, type: 'CUSTOMER_REGISTERED' }).toArray();
    const both = await app.graphql<{ _entities: Array<{ id: string; identifierHash: string | null } | null> }>(
      auditor,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on AuditEvent { id identifierHash } } }',
      { r: [{ __typename: 'AuditEvent', id: healthyEvent!['_id'] }, { __typename: 'AuditEvent', id: brokenEvent!['_id'] }] },
    );
    expect(both.body.errors).toBeUndefined();
    expect(both.body.data!._entities[0]?.identifierHash).toMatch(/^v1:/);
    expect(both.body.data!._entities[1]).toMatchObject({ id: brokenEvent!['_id'], identifierHash: null });
  });

  // A regression probe: ciphertexts without a key to open them read as absent, and the export looked complete.
  it('fails the attributes of an active customer whose data key is gone', async () => {
    const id = await register('keyless');
    await app.app.mongo.db.collection('customers').updateOne({ _id: id as never }, { $unset: { dataKey: '' } });
    await app.app.mongo.db.collection('customer_keys').deleteOne({ _id: id as never });
    const res = await exportFor(id);
    expect(res.body.data!.dataSubjectAccess).toMatchObject({ status: 'ACTIVE', displayName: null, email: null, phone: null });
    expect(res.body.errors?.map((e) => e.path?.join('.')).sort()).toEqual(['dataSubjectAccess.displayName', 'dataSubjectAccess.email', 'dataSubjectAccess.phone']);
  });

  // A regression probe: a value of the wrong type failed the whole export, and a damaged `encrypted` looked complete.
  it.each([
    ['an attribute that is no ciphertext', { 'encrypted.EMAIL': 'junk' }, ['email']],
    ['a data key that is an empty object', { dataKey: {} }, ['displayName', 'email', 'phone']],
    ['a data key that is a string', { dataKey: 'garbage' }, ['displayName', 'email', 'phone']],
    ['ciphertexts that are null', { encrypted: null }, ['displayName', 'email', 'phone']],
  ])('fails only the attributes it cannot read when the document holds %s', async (_what, damage, failed) => {
    const id = await register('damaged');
    await app.app.mongo.db.collection('customers').updateOne({ _id: id as never }, { $set: damage });
    if ('dataKey' in damage) await app.app.mongo.db.collection('customer_keys').deleteOne({ _id: id as never });
    const res = await exportFor(id);
    expect(res.body.data!.dataSubjectAccess.customerId).toBe(id);
    expect(res.body.errors?.map((e) => e.path?.at(-1)).sort()).toEqual(failed);
  });

  // An export that read the customer, then wrote its event after an erasure had completed, answered ACTIVE with the
  // clear attributes after the erasure's receipt (a probe).
  it('shows what is held once its event is written: an erasure completed meanwhile leaves nothing to decrypt', async () => {
    const id = await register('racing');
    const audit = app.app.services.audit;
    const append = audit.append.bind(audit);
    let erased = false;
    audit.append = (async (input: Parameters<typeof append>[0]) => {
      if (input.type === 'DSAR_EXPORT' && input.customerId === id && !erased) {
        erased = true;
        const erasure = await app.graphql(dpo, 'mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-RACE", reason: "letter") { alreadyErased } }', { id });
        expect(erasure.body.errors).toBeUndefined();
      }
      return append(input);
    }) as typeof audit.append;
    try {
      const res = await exportFor(id);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.dataSubjectAccess).toMatchObject({ status: 'ERASED', displayName: null, email: null, phone: null, identifiers: [] });
    } finally {
      audit.append = append;
    }
  });
  // An erasure marks the customer ERASED, then deletes the identifiers: an export in between listed them under status
  // ERASED (a probe: 9 of 84 exports racing erasures across three replicas).
  it('shows an erasure under way as an erased customer: none of what it is deleting', async () => {
    const id = await register('half-erased');
    const customers = app.app.mongo.db.collection('customers');
    const audit = app.app.services.audit;
    const append = audit.append.bind(audit);
    audit.append = (async (input: Parameters<typeof append>[0]) => {
      const appended = await append(input);
      // The erasure's step 2, as ErasureService makes it, and no further (a process that stopped there does the same).
      if (input.type === 'DSAR_EXPORT' && input.customerId === id) {
        await customers.updateOne(
          { _id: id as never },
          { $set: { status: 'ERASED', erasedAt: new Date(), masked: { DISPLAY_NAME: null, EMAIL: null, PHONE: null }, encrypted: {}, country: null }, $unset: { dataKey: '' } },
        );
      }
      return appended;
    }) as typeof audit.append;
    try {
      const res = await exportFor(id);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.dataSubjectAccess).toMatchObject({ status: 'ERASED', displayName: null, email: null, phone: null, identifiers: [] });
      expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(2);
    } finally {
      audit.append = append;
    }
    // Before it, and once the erasure is done, the export is what it always was.
    const erasure = await app.graphql(dpo, 'mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-HALF", reason: "letter") { alreadyErased } }', { id });
    expect(erasure.body.errors).toBeUndefined();
    const after = await exportFor(id);
    expect(after.body.data!.dataSubjectAccess).toMatchObject({ status: 'ERASED', identifiers: [] });
    expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
  });
});

describe('GET /dsar/export', () => {
  const url = (query: string) => `${app.baseUrl}/dsar/export?${query}`;

  it('serves the export as a JSON attachment that is never cached, and records it as a download', async () => {
    const res = await fetch(url(`customerId=${customerId}`), { headers: { authorization: `Bearer ${dpo}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="dsar-${customerId}-\\d{4}-\\d{2}-\\d{2}\\.json"$`));
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const body = (await res.json()) as Record<string, unknown> & { auditEvents: Array<{ id: string; type: string; details: Record<string, unknown> }>; auditEventId: string };
    expect(body).toMatchObject({ format: 'veil.dsar/v1', customerId, status: 'ACTIVE', displayName: 'Dana Subject', email: email.toLowerCase(), phone });
    expect((body['identifiers'] as unknown[]).length).toBe(3);
    expect(body.auditEvents.at(-1)).toMatchObject({ id: body.auditEventId, type: 'DSAR_EXPORT', details: { delivery: 'json_download' } });
    // Stored shapes stay inside: no chain name, no sealed hash, no internal ids of the receipts' recorders.
    expect(JSON.stringify(body)).not.toContain('sealedIdentifierHash');
    expect(JSON.stringify(body)).not.toContain('recordedBy');
  });

  it('answers 401 without a token and 403 JSON without dsar:process, without writing an event', async () => {
    const before = await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' });
    const anonymous = await fetch(url(`customerId=${customerId}`));
    expect(anonymous.status).toBe(401);
    const agent = await app.token(['customer:read', 'audit:read'], 'agent-y');
    const forbidden = await fetch(url(`customerId=${customerId}`), { headers: { authorization: `Bearer ${agent}` } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await forbidden.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' })).toBe(before);
  });

  it('answers 400 for a malformed id or date, 404 for an unknown customer and 405 for POST', async () => {
    const auth = { authorization: `Bearer ${dpo}` };
    const malformed = await fetch(url(`customerId=${encodeURIComponent(email)}`), { headers: auth });
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).not.toContain(email);
    expect((await fetch(url('customerId='), { headers: auth })).status).toBe(400);
    expect((await fetch(url(`customerId=${customerId}&from=yesterday`), { headers: auth })).status).toBe(400);
    expect((await fetch(url(`customerId=${customerId}&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`), { headers: auth })).status).toBe(400);
    expect((await fetch(url('customerId=cus_00000000000000000000000000'), { headers: auth })).status).toBe(404);
    const post = await fetch(url(`customerId=${customerId}`), { method: 'POST', headers: auth });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    const head = await fetch(url(`customerId=${customerId}`), { method: 'HEAD', headers: auth });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    // Two customers in one request: refused, rather than exporting one of them.
    const twice = await fetch(url(`customerId=${customerId}&customerId=cus_00000000000000000000000000`), { headers: auth });
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe('customerId must be given once');
  });

  it('applies the range to the audit events of the download', async () => {
    const res = await fetch(url(`customerId=${customerId}&from=2000-01-01T00:00:00Z&to=2000-12-31T00:00:00Z`), { headers: { authorization: `Bearer ${dpo}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { auditEvents: unknown[]; consentReceipts: unknown[] };
    expect(body.auditEvents).toEqual([]);
    expect(body.consentReceipts).toHaveLength(1);
  });

  it('spends the same per-caller budget as dataSubjectAccess: 429 with Retry-After once it is used up, and no event', async () => {
    const limited = await startTestApp({ shareStoresWith: app, env: { RATE_LIMIT_SENSITIVE_MAX: '2' } });
    try {
      const token = await limited.token(['dsar:process'], 'dpo-limited');
      const auth = { authorization: `Bearer ${token}` };
      const download = () => fetch(`${limited.baseUrl}/dsar/export?customerId=${customerId}`, { headers: auth });
      expect((await download()).status).toBe(200);
      const viaGraphql = await limited.graphql(token, `query($id: ID!) { dataSubjectAccess(customerId: $id) { customerId } }`, { id: customerId });
      expect(viaGraphql.body.errors).toBeUndefined();
      const before = await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' });
      const refused = await download();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = (await refused.json()) as { errors: Array<{ extensions: Record<string, unknown> }> };
      expect(body.errors[0]!.extensions).toMatchObject({ code: 'RATE_LIMITED' });
      const refusedGraphql = await limited.graphql(token, `query($id: ID!) { dataSubjectAccess(customerId: $id) { customerId } }`, { id: customerId });
      expect(refusedGraphql.body.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED' });
      expect(await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' })).toBe(before);
      // Another caller has a budget of its own.
      const other = await limited.token(['dsar:process'], 'dpo-other');
      expect((await fetch(`${limited.baseUrl}/dsar/export?customerId=${customerId}`, { headers: { authorization: `Bearer ${other}` } })).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });
});
