import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { aCrmId, anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { grantPii } from './policy-fixtures.js';
import { generateDevKeys } from '../src/dev/dev-keys.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let redis: Redis;
let service: string;
let dpo: string;
let agent: string;
let resolver: string;

const ERASE = `mutation Erase($id: ID!, $requestId: String!, $reason: String!) {
  eraseCustomer(customerId: $id, requestId: $requestId, reason: $reason) {
    customerId requestId erasedAt alreadyErased auditEventId
    removed { store item count }
  }
}`;
const RESOLVE = `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: EMAIL }) { customer { id } matchedBy auditEventId } }`;
const VERIFY = `query($id: ID!) { verifyAuditTrail(customerId: $id) { valid eventCount firstBrokenSequence } }`;

interface Receipt {
  customerId: string;
  requestId: string;
  erasedAt: string;
  alreadyErased: boolean;
  auditEventId: string;
  removed: Array<{ store: string; item: string; count: number }>;
}

function countOf(receipt: Receipt, store: string, item: string): number | undefined {
  return receipt.removed.find((r) => r.store === store && r.item === item)?.count;
}

async function erase(id: string, requestId = 'DSR-2041', reason = 'Customer asked to be forgotten, by letter', headers: Record<string, string> = {}): Promise<Receipt> {
  const res = await app.graphql<{ eraseCustomer: Receipt }>(dpo, ERASE, { id, requestId, reason }, headers);
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.eraseCustomer;
}

/** Every document of every collection of the test database, as text. */
async function dumpMongo(): Promise<Array<{ collection: string; text: string }>> {
  const db = app.app.mongo.db;
  const out: Array<{ collection: string; text: string }> = [];
  for (const { name } of await db.listCollections().toArray()) {
    for (const doc of await db.collection(name).find({}).toArray()) out.push({ collection: name, text: JSON.stringify(doc) });
  }
  return out;
}

/** Every key of this app's prefix with its value (strings, sets, hashes, lists). */
async function dumpRedis(): Promise<Array<{ key: string; value: string; ttlMs: number }>> {
  const out: Array<{ key: string; value: string; ttlMs: number }> = [];
  for (const key of await redis.keys(`${app.config.redisKeyPrefix}*`)) {
    const type = await redis.type(key);
    let value = '';
    if (type === 'string') value = String(await redis.get(key));
    if (type === 'set') value = (await redis.smembers(key)).join('\n');
    if (type === 'hash') value = JSON.stringify(await redis.hgetall(key));
    if (type === 'list') value = (await redis.lrange(key, 0, -1)).join('\n');
    if (type === 'zset') value = (await redis.zrange(key, 0, -1)).join('\n');
    out.push({ key, value, ttlMs: await redis.pttl(key) });
  }
  return out;
}

beforeAll(async () => {
  app = await startTestApp();
  redis = new Redis(inject('redisUrl'));
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  dpo = await app.token(['dsar:process', 'audit:read'], 'dpo-riley');
  agent = await app.token(['customer:read', 'pii:read', 'context:read', 'identity:resolve'], 'agent-erin');
  resolver = await app.token(['identity:resolve', 'customer:read'], 'svc-ivr');
});
afterAll(async () => {
  redis?.disconnect();
  await app?.stop();
});

describe('eraseCustomer, end to end', () => {
  const email = anEmail('Erin.Forgotten');
  let id: string;
  let hashes: string[];
  let first: Receipt;
  let anonymousEventId: string;
  const readAnonymousEvent = async () => {
    const auditor = await app.token(['audit:read'], 'auditor-erasure');
    const res = await app.graphql<{ _entities: Array<{ identifierHash: string | null } | null> }>(
      auditor,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on AuditEvent { identifierHash } } }`,
      { r: [{ __typename: 'AuditEvent', id: anonymousEventId }] },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!._entities[0]!;
  };

  beforeAll(async () => {
    // The person wrote in before they were a customer: an anonymous lookup of their email.
    const stranger = await app.graphql<{ resolveCustomer: { customer: null; auditEventId: string } }>(resolver, RESOLVE, { v: email });
    expect(stranger.body.data!.resolveCustomer.customer).toBeNull();
    anonymousEventId = stranger.body.data!.resolveCustomer.auditEventId;

    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: {
        identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: aPhone() }, { kind: 'CRM_ID', value: aCrmId() }],
        displayName: 'Erin Forgotten',
        country: 'GB',
        preferredLanguage: 'en-GB',
      },
    });
    expect(res.body.errors).toBeUndefined();
    id = res.body.data!.registerCustomer.id;

    // Something in every store: consent, support records, a cached snapshot, a session, a PII grant, resolutions.
    expect((await app.graphql(service, `mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["support_context"], source: "ivr" }) { version } }`, { id })).body.errors).toBeUndefined();
    expect(
      (
        await app.graphql(service, `mutation($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`, {
          input: { customerId: id, tickets: [{ id: 'T-77', status: 'open', subject: 'Billing question', openedAt: '2026-02-01T10:00:00Z' }], deviceFingerprint: 'dfp_erin01' },
        })
      ).body.errors,
    ).toBeUndefined();
    expect((await app.graphql(agent, `query($id: ID!) { customer(id: $id) { context { openTickets { id } } } }`, { id })).body.errors).toBeUndefined();
    expect((await app.graphql(agent, `mutation($id: ID!) { startSupportSession(customerId: $id, channel: VOICE) { token } }`, { id })).body.errors).toBeUndefined();
    await grantPii(app, id, 'agent-erin', ['DISPLAY_NAME'], { justification: 'Verifying the caller' });
    const clear = await app.graphql<{ customer: { displayName: string } }>(agent, `query($id: ID!) { customer(id: $id) { displayName } }`, { id });
    expect(clear.body.data!.customer.displayName).toBe('Erin Forgotten');
    const resolved = await app.graphql<{ resolveCustomer: { customer: { id: string } } }>(resolver, RESOLVE, { v: email });
    expect(resolved.body.data!.resolveCustomer.customer.id).toBe(id);

    const identifiers = await app.graphql<{ customer: { identifiers: Array<{ hash: string }> } }>(agent, `query($id: ID!) { customer(id: $id) { identifiers { hash } } }`, { id });
    hashes = identifiers.body.data!.customer.identifiers.map((i) => i.hash);
    expect(hashes).toHaveLength(3);
    // Until the erasure, the anonymous lookup opens to the email's hash, like any other event of the trail.
    expect(hashes).toContain((await readAnonymousEvent()).identifierHash);
    const redisBefore = await dumpRedis();
    expect(redisBefore.some((entry) => entry.key.includes(id) || entry.value.includes(id))).toBe(true);

    first = await erase(id, undefined, undefined, { 'x-request-id': 'req-erase-1' });
  });

  it('returns a receipt listing what was removed from each store', () => {
    expect(first).toMatchObject({ customerId: id, requestId: 'DSR-2041', alreadyErased: false });
    expect(first.auditEventId).toMatch(/^aud_/);
    expect(countOf(first, 'mongodb', 'data_keys')).toBe(1);
    expect(countOf(first, 'mongodb', 'identifiers')).toBe(3);
    expect(countOf(first, 'mongodb', 'anonymous_lookups')).toBe(1);
    expect(countOf(first, 'mongodb', 'customer_attributes')).toBe(3);
    expect(countOf(first, 'mongodb', 'support_records')).toBeGreaterThanOrEqual(1);
    // One grant (its access key goes too, but the receipt counts grants, as the export lists them).
    expect(countOf(first, 'redis', 'pii_grants')).toBe(1);
    expect(countOf(first, 'redis', 'support_sessions')).toBe(1);
    expect(countOf(first, 'redis', 'context_snapshots')).toBe(1);
  });

  it('leaves no document that links the old identifier hashes, and no Redis data about the customer', async () => {
    // The anonymous chain included: its event of the lookup made before registration no longer opens to the hash.
    for (const { collection, text } of await dumpMongo()) {
      for (const hash of hashes) expect(text, `${collection} still holds an identifier hash`).not.toContain(hash.split(':')[1]);
    }
    expect(await readAnonymousEvent()).toEqual({ identifierHash: null });
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ _id: anonymousEventId as never, chain: '_anonymous' })).toBe(1);
    const db = app.app.mongo.db;
    expect(await db.collection('customers').countDocuments({ _id: id as never, dataKey: { $exists: true } })).toBe(0);
    expect(await db.collection('customer_keys').countDocuments({ _id: id as never })).toBe(0);
    expect(await db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
    expect(await db.collection('support_records').countDocuments({ customerId: id })).toBe(0);
    // What stays: the consent receipts and the audit trail, pseudonymous.
    expect(await db.collection('consents').countDocuments({ customerId: id })).toBe(1);
    expect(await db.collection('audit_events').countDocuments({ chain: id })).toBeGreaterThan(5);

    for (const entry of await dumpRedis()) {
      expect(entry.value, entry.key).not.toContain(id);
      if (!entry.key.includes(id)) continue;
      // The one exception: the snapshot invalidation epoch (a random value, no data) that stops a
      // rebuild already in flight from writing the erased customer's snapshot back. It expires.
      expect(entry.key).toBe(`${app.config.redisKeyPrefix}snapshot-epoch:${id}`);
      expect(entry.ttlMs).toBeGreaterThan(0);
      expect(entry.value).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    }
  });

  it('resolves the old email to nobody, in an anonymous event that names no customer', async () => {
    const res = await app.graphql<{ resolveCustomer: { customer: null; matchedBy: null; auditEventId: string } }>(resolver, RESOLVE, { v: email });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.resolveCustomer).toMatchObject({ customer: null, matchedBy: null });
    const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: res.body.data!.resolveCustomer.auditEventId as never });
    expect(event).toMatchObject({ chain: '_anonymous', customerId: null });
    // The only document holding that hash now is this new lookup's key (its event is sealed), which names nobody.
    const holders = (await dumpMongo()).filter(({ text }) => hashes.some((h) => text.includes(h.split(':')[1]!)));
    expect(holders.map((h) => h.collection)).toEqual(['anonymous_lookups']);
    expect(holders[0]!.text).not.toContain(id);
  });

  it('shows the customer as ERASED with every personal field null, to every caller', async () => {
    const res = await app.graphql<{ customer: Record<string, unknown> }>(
      agent,
      `query($id: ID!) { customer(id: $id) { id status displayName email phone country preferredLanguage } }`,
      { id },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.customer).toEqual({ id, status: 'ERASED', displayName: null, email: null, phone: null, country: null, preferredLanguage: null });
    const stored = await app.app.mongo.db.collection('customers').findOne({ _id: id as never });
    expect(stored).toMatchObject({ status: 'ERASED', encrypted: {}, masked: { DISPLAY_NAME: null, EMAIL: null, PHONE: null } });
    // Its identifiers too (they were `[]`, read as "has none"; a probe), to a caller who may see them.
    const resolver = await app.token(['customer:read', 'identity:resolve'], 'svc-erased-view');
    const listed = await app.graphql<{ customer: Record<string, unknown> }>(resolver, `query($id: ID!) { customer(id: $id) { status identifiers { kind } } }`, { id });
    expect(listed.body.errors).toBeUndefined();
    expect(listed.body.data!.customer).toEqual({ status: 'ERASED', identifiers: null });
  });

  it('answers a caller with pii:read alone as for an active customer without a grant, through _entities too', async () => {
    // pii:read alone may see these fields of an active customer once a grant is approved, and is told so
    // (ELEVATION_REQUIRED). It got FORBIDDEN/MISSING_SCOPE here once, as if it could never see them; then nulls
    // without an error, which told a caller who may not read `status` which customers were erased (a probe).
    const active = (await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('still-here') }], displayName: 'Still Here' } })).body.data!.registerCustomer.id;
    const piiOnly = await app.token(['pii:read'], 'agent-pii-only');
    const res = await app.graphql<{ _entities: Array<Record<string, unknown>> }>(
      piiOnly,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { displayName email phone } } }`,
      { r: [{ __typename: 'Customer', id: active }, { __typename: 'Customer', id }] },
    );
    expect(res.body.data!._entities).toEqual([{ displayName: null, email: null, phone: null }, { displayName: null, email: null, phone: null }]);
    const reasons = (index: number) => (res.body.errors ?? []).filter((e) => e.path?.[1] === index).map((e) => `${String(e.path?.[2])}:${String(e.extensions?.['reason'])}`).sort();
    expect(reasons(0)).toEqual(['displayName:ELEVATION_REQUIRED', 'email:ELEVATION_REQUIRED', 'phone:ELEVATION_REQUIRED']);
    expect(reasons(1)).toEqual(reasons(0));
    // In the same order too: decided at once for the erased customer, its errors came ahead of fields refused for a
    // missing scope, and after them for an active one, which waited for the grant lookup (a regression probe).
    const inOrder = async (customerId: string) => {
      const one = await app.graphql(piiOnly, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { displayName email phone context { customerId } consentHistory { version } } } }`, {
        r: [{ __typename: 'Customer', id: customerId }],
      });
      return (one.body.errors ?? []).map((e) => `${String(e.path?.[2])}:${String(e.extensions?.['reason'])}`);
    };
    expect(await inOrder(id)).toEqual(await inOrder(active));
  });

  it('shows an erased customer consenting to nothing, while the receipts stay in the consent history', async () => {
    const reader = await app.token(['customer:read', 'consent:read'], 'agent-consent-erin');
    const res = await app.graphql<{ customer: { consent: unknown; consentHistory: Array<{ version: number; scopes: string[] }> } }>(
      reader,
      `query($id: ID!) { customer(id: $id) { consent { scopes receipt { id } } consentHistory { version scopes } } }`,
      { id },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.customer.consent).toEqual({ scopes: [], receipt: null });
    expect(res.body.data!.customer.consentHistory).toEqual([{ version: 1, scopes: ['support_context'] }]);
  });

  it("keeps a chain that verifies and ends with DATA_DELETION, carrying the erasure's request id, the HTTP request's id and the reason", async () => {
    const verification = await app.graphql<{ verifyAuditTrail: { valid: boolean; eventCount: number } }>(dpo, VERIFY, { id });
    expect(verification.body.data!.verifyAuditTrail).toMatchObject({ valid: true, firstBrokenSequence: null });
    const last = await app.app.mongo.db.collection('audit_events').find({ chain: id }).sort({ sequence: -1 }).limit(1).next();
    expect(last).toMatchObject({
      _id: first.auditEventId,
      type: 'DATA_DELETION',
      sequence: verification.body.data!.verifyAuditTrail.eventCount,
      requestId: 'DSR-2041',
      justification: 'Customer asked to be forgotten, by letter',
      actor: { kind: 'AGENT', id: 'dpo-riley' },
      details: { alreadyErased: false, httpRequestId: 'req-erase-1' },
    });
  });

  it('refuses to link an identifier to the erased customer', async () => {
    const res = await app.graphql(service, `mutation($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: EMAIL, value: $v }) { id } }`, { id, v: anEmail() });
    expect(res.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
  });

  it('answers a data-subject access request for the erased customer with what remains', async () => {
    const res = await app.graphql<{ dataSubjectAccess: Record<string, unknown> & { auditEvents: Array<{ type: string; identifierHash: string | null }>; consentReceipts: unknown[] } }>(
      dpo,
      `query($id: ID!) { dataSubjectAccess(customerId: $id) {
        status displayName email phone country identifiers { hash } consentReceipts { version }
        supportRecords { tickets { id } deviceFingerprints } auditEvents { type identifierHash }
      } }`,
      { id },
    );
    expect(res.body.errors).toBeUndefined();
    const out = res.body.data!.dataSubjectAccess;
    expect(out).toMatchObject({ status: 'ERASED', displayName: null, email: null, phone: null, country: null, identifiers: [], supportRecords: { tickets: [], deviceFingerprints: [] } });
    expect(out.consentReceipts).toHaveLength(1);
    expect(out.auditEvents.map((e) => e.type)).toContain('DATA_DELETION');
    // The sealed hashes went with the data key.
    expect(out.auditEvents.every((e) => e.identifierHash === null)).toBe(true);
  });

  it('answers a repeated request with alreadyErased, nothing removed, the original erasure time and a new DATA_DELETION event', async () => {
    const again = await erase(id, 'DSR-2041-retry', 'Customer wrote again');
    expect(again.alreadyErased).toBe(true);
    expect(again.erasedAt).toBe(first.erasedAt);
    expect(again.removed.length).toBe(first.removed.length);
    expect(again.removed.every((r) => r.count === 0)).toBe(true);
    expect(again.auditEventId).not.toBe(first.auditEventId);
    const last = await app.app.mongo.db.collection('audit_events').find({ chain: id }).sort({ sequence: -1 }).limit(1).next();
    // Its own texts cannot be screened any more: its reference is kept only when it is the first request's.
    expect(last).toMatchObject({ _id: again.auditEventId, type: 'DATA_DELETION', requestId: null, justification: null, details: { alreadyErased: true, removedTotal: 0, withheld: 'reason requestId' } });
    const same = await erase(id, 'DSR-2041', 'Customer wrote again');
    const sameEvent = await app.app.mongo.db.collection('audit_events').findOne({ _id: same.auditEventId as never });
    expect(sameEvent).toMatchObject({ requestId: 'DSR-2041', justification: null, details: { withheld: 'reason' } });
    const verification = await app.graphql<{ verifyAuditTrail: { valid: boolean } }>(dpo, VERIFY, { id });
    expect(verification.body.data!.verifyAuditTrail.valid).toBe(true);
  });

  // The name, identifiers and key the screens compare with are gone: a repeat stored a name, a CRM id or an email's
  // slug given as its reason, reference or x-request-id in the DATA_DELETION event for good (a probe).
  it("keeps none of a repeat's own texts, which can no longer be screened: reason, a new reference, the caller's x-request-id", async () => {
    const again = await erase(id, 'Erin-Forgotten-CRM', 'Because Erin Forgotten wrote in', { 'x-request-id': 'erin-forgotten-ref' });
    expect(again.alreadyErased).toBe(true);
    const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: again.auditEventId as never });
    const text = JSON.stringify(event);
    for (const given of ['Erin', 'Forgotten', 'erin-forgotten-ref']) expect(text).not.toContain(given);
    expect(event).toMatchObject({ requestId: null, justification: null });
    // The log line is written after the response.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(app.logs.text()).not.toContain('erin-forgotten-ref');
  });

  it('lets the same email register again, as a new and unrelated customer', async () => {
    const res = await app.graphql<{ registerCustomer: { id: string; status: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.registerCustomer.id).not.toBe(id);
    expect(res.body.data!.registerCustomer.status).toBe('ACTIVE');
  });
});

describe('a customer stored before data keys moved into the customer document', () => {
  // Until 2026-11-30 the wrapped data key was a document of its own in `customer_keys` only. Such a customer is made
  // here by removing a new customer's key from its document, leaving the copy in `customer_keys`, as it was stored then.
  let id: string;
  let email: string;
  let key: Record<string, unknown>;

  beforeAll(async () => {
    email = anEmail('stored-apart');
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: email }], displayName: 'Olga Older' },
    });
    id = res.body.data!.registerCustomer.id;
    const customers = app.app.mongo.db.collection<{ _id: string; dataKey?: Record<string, unknown> }>('customers');
    const stored = await customers.findOne({ _id: id });
    key = stored!.dataKey!;
    expect(await app.app.mongo.db.collection('customer_keys').countDocuments({ _id: id as never })).toBe(1);
    await customers.updateOne({ _id: id }, { $unset: { dataKey: '' } });
  });

  it('still decrypts its attributes for an export, and opens the identifier hashes sealed under its key', async () => {
    const resolved = await app.graphql<{ resolveCustomer: { customer: { id: string } | null } }>(resolver, RESOLVE, { v: email });
    expect(resolved.body.data!.resolveCustomer.customer?.id).toBe(id);
    const res = await app.graphql<{ dataSubjectAccess: { email: string; displayName: string; identifiers: Array<{ hash: string }>; auditEvents: Array<{ type: string; identifierHash: string | null }> } }>(
      dpo,
      `query($id: ID!) { dataSubjectAccess(customerId: $id) { email displayName identifiers { hash } auditEvents { type identifierHash } } }`,
      { id },
    );
    expect(res.body.errors).toBeUndefined();
    const out = res.body.data!.dataSubjectAccess;
    expect(out).toMatchObject({ email, displayName: 'Olga Older' });
    const hash = out.identifiers[0]!.hash;
    const resolutions = out.auditEvents.filter((e) => e.type === 'IDENTITY_RESOLUTION');
    expect(resolutions.length).toBeGreaterThan(0);
    expect(resolutions.every((e) => e.identifierHash === hash)).toBe(true);
    expect(out.auditEvents.find((e) => e.type === 'CUSTOMER_REGISTERED')?.identifierHash).toBe(hash);
  });

  it('has that key deleted by erasure, counted in data_keys', async () => {
    const receipt = await erase(id, 'DSR-OLDER', 'Customer asked to be forgotten, by letter');
    expect(countOf(receipt, 'mongodb', 'data_keys')).toBe(1);
    expect(await app.app.mongo.db.collection('customer_keys').countDocuments({ _id: id as never })).toBe(0);
    const ct = Buffer.from((key['ct'] as { buffer: Uint8Array }).buffer).toString('base64');
    for (const { collection, text } of await dumpMongo()) expect(text, collection).not.toContain(ct);
  });
});

describe("the customer's name in text kept after the erasure", () => {
  const registerNamed = async (displayName: string) =>
    (await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('named') }], displayName } })).body.data!.registerCustomer.id;

  // Whole words only: the first version refused "green-lit" for "Al Green" (a probe).
  it('refuses only the whole name, and lets words that merely contain it through', async () => {
    const id = await registerNamed('Al Green');
    const named = await app.graphql(dpo, `mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "DSR-NAME-1", reason: "Green, Al asked by letter") { customerId } }`, { c: id });
    expect(named.body.errors?.[0]?.message).toBe("reason must not contain the customer's name");
    const receipt = await erase(id, 'DSR-NAME-2', 'Approval green-lit by the manager, renewal of the greenhouse policy');
    expect(receipt.alreadyErased).toBe(false);
  });

  // A regression probe: a repeat's withheld reference, taking over a failed erasure and failing too, was named by the
  // next takeover in resumesRequestId, and kept in erasure_requests.
  it("names a repeat's withheld reference nowhere, through takeovers too", async () => {
    const id = await registerNamed('Grace Murray');
    const snapshots = app.app.services.snapshots;
    const purge = snapshots.purgeCustomer.bind(snapshots);
    let failures = 2;
    snapshots.purgeCustomer = (customerId: string) => (failures-- > 0 ? Promise.reject(new Error('Connection is closed.')) : purge(customerId));
    try {
      const first = await app.graphql(dpo, ERASE, { id, requestId: 'DSR-GM-1', reason: 'letter' });
      expect(first.body.errors?.[0]?.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
      const second = await app.graphql(dpo, ERASE, { id, requestId: 'DSR-Grace-Murray', reason: 'Grace Murray wrote in' });
      expect(second.body.errors?.[0]?.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
      const third = await erase(id, 'DSR-GM-3');
      expect(third.alreadyErased).toBe(false);
    } finally {
      snapshots.purgeCustomer = purge;
    }
    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id }).toArray();
    const claims = await app.app.mongo.db.collection('erasure_requests').find({}).toArray();
    for (const text of [JSON.stringify(events), JSON.stringify(claims)]) expect(text).not.toMatch(/Grace|Murray/);
    const last = events.sort((a, b) => (b['sequence'] as number) - (a['sequence'] as number))[0]!;
    expect((last['details'] as Record<string, unknown>)['resumesRequestId']).toMatch(/^withheld-/);
  });

  // A refusal there told an agent who may not read the name whether a guess at it was right, unaudited (a probe).
  it('does not screen a PII justification or a consent source for it, which would confirm a guessed name', async () => {
    const id = await registerNamed('Jane Dawson');
    const asked = await app.graphql(agent, `mutation($c: ID!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: "Callback for Jane Dawson" }) { id } }`, { c: id });
    expect(asked.body.errors).toBeUndefined();
    const consent = await app.graphql(service, `mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "call with Jane Dawson" }) { id } }`, { c: id });
    expect(consent.body.errors).toBeUndefined();
  });
});

describe('eraseCustomer under concurrency and bad input', () => {
  async function registerOne(): Promise<string> {
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail('race') }, { kind: 'CRM_ID', value: aCrmId() }], displayName: 'Race Person' },
    });
    return res.body.data!.registerCustomer.id;
  }

  it('settles 6 concurrent erasures of one customer: one first, all complete, the chain intact', async () => {
    const id = await registerOne();
    const receipts = await Promise.all(Array.from({ length: 6 }, (_v, i) => erase(id, `DSR-RACE-${i}`, 'Duplicate requests from two systems')));
    // One is first; the others are duplicates of a running erasure, not the finishing of a failed one.
    expect(receipts.filter((r) => !r.alreadyErased)).toHaveLength(1);
    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id, type: 'DATA_DELETION' }).toArray();
    expect(events.map((e) => (e['details'] as { resumesRequestId: unknown }).resumesRequestId)).toEqual(Array(6).fill(null));
    // Each duplicate names the request it duplicates: had that one died before writing its event (its store down),
    // the trail would otherwise not name it at all (a probe).
    const first = receipts.find((r) => !r.alreadyErased)!.requestId;
    const duplicates = events.filter((e) => (e['details'] as { alreadyErased: boolean }).alreadyErased);
    expect(duplicates.map((e) => (e['details'] as { duplicatesRequestId: unknown }).duplicatesRequestId)).toEqual(Array(5).fill(first));
    expect(new Set(receipts.map((r) => r.auditEventId)).size).toBe(6);
    expect(receipts.reduce((sum, r) => sum + countOf(r, 'mongodb', 'data_keys')!, 0)).toBe(1);
    expect(receipts.reduce((sum, r) => sum + countOf(r, 'mongodb', 'customer_attributes')!, 0)).toBe(2);
    expect(receipts.reduce((sum, r) => sum + countOf(r, 'mongodb', 'identifiers')!, 0)).toBe(2);

    const db = app.app.mongo.db;
    expect(await db.collection('customers').findOne({ _id: id as never })).toMatchObject({ status: 'ERASED', encrypted: {} });
    expect(await db.collection('customers').countDocuments({ _id: id as never, dataKey: { $exists: true } })).toBe(0);
    expect(await db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
    expect(await db.collection('audit_events').countDocuments({ chain: id, type: 'DATA_DELETION' })).toBe(6);
    const verification = await app.graphql<{ verifyAuditTrail: { valid: boolean; eventCount: number } }>(dpo, VERIFY, { id });
    expect(verification.body.data!.verifyAuditTrail).toMatchObject({ valid: true, eventCount: 7 });
  });

  it('says so when it finishes an erasure that an earlier request began and did not complete', async () => {
    const id = await registerOne();
    // An earlier request claimed the erasure two minutes ago and died before it removed anything or wrote DATA_DELETION.
    const claimedAt = new Date(Date.now() - 120_000);
    await app.app.mongo.db.collection<{ _id: string }>('erasure_requests').insertOne({ _id: id, requestId: 'DSR-DIED', claimedAt, claimedBy: 'dpo-riley' } as { _id: string });
    const finishing = await erase(id, 'DSR-RETRY');
    expect(finishing.alreadyErased).toBe(false);
    expect(countOf(finishing, 'mongodb', 'data_keys')).toBe(1);
    expect(countOf(finishing, 'mongodb', 'identifiers')).toBe(2);
    const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: finishing.auditEventId as never });
    expect(event!['details']).toMatchObject({ alreadyErased: false, resumesRequestId: 'DSR-DIED' });

    const repeated = await erase(id, 'DSR-AGAIN');
    expect(repeated.alreadyErased).toBe(true);
    expect(repeated.removed.every((r) => r.count === 0)).toBe(true);
    const again = await app.app.mongo.db.collection('audit_events').findOne({ _id: repeated.auditEventId as never });
    expect(again!['details']).toMatchObject({ alreadyErased: true, resumesRequestId: null });
  });

  it('takes over at once an erasure whose request failed (the store timed out), naming it', async () => {
    const id = await registerOne();
    // A lock that never goes stale keeps the erasure from marking the customer erased: it fails after 15 s.
    const locks = app.app.mongo.db.collection<{ _id: string }>('customer_locks');
    await locks.insertOne({ _id: id, token: 'held', acquiredAt: new Date(Date.now() + 3_600_000) } as { _id: string });
    const failed = await app.graphql(dpo, ERASE, { id, requestId: 'DSR-TIMEOUT', reason: 'Asked by letter' });
    expect(failed.body.errors?.[0]?.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
    await locks.deleteOne({ _id: id });
    const retry = await erase(id, 'DSR-RIGHT-AFTER');
    expect(retry.alreadyErased).toBe(false);
    expect(countOf(retry, 'mongodb', 'data_keys')).toBe(1);
    const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: retry.auditEventId as never });
    expect(event!['details']).toMatchObject({ alreadyErased: false, resumesRequestId: 'DSR-TIMEOUT' });
  }, 60_000);

  it('takes over in turn a request that took over a failed erasure and failed too, naming it', async () => {
    const id = await registerOne();
    await app.app.mongo.db
      .collection<{ _id: string }>('erasure_requests')
      .insertOne({ _id: id, requestId: 'DSR-S1', claimedAt: new Date(), claimedBy: 'dpo-riley', failedAt: new Date() } as { _id: string });
    // The request taking over cannot mark the customer erased (a lock that never goes stale) and fails after 15 s.
    const locks = app.app.mongo.db.collection<{ _id: string }>('customer_locks');
    await locks.insertOne({ _id: id, token: 'held', acquiredAt: new Date(Date.now() + 3_600_000) } as { _id: string });
    const failed = await app.graphql(dpo, ERASE, { id, requestId: 'DSR-S2', reason: 'Asked by letter' });
    await locks.deleteOne({ _id: id });
    expect(failed.body.errors?.[0]?.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
    // It used to be taken for a takeover still running: the next request answered alreadyErased and named nobody.
    const retry = await erase(id, 'DSR-S3');
    expect(retry.alreadyErased).toBe(false);
    expect(countOf(retry, 'mongodb', 'data_keys')).toBe(1);
    const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: retry.auditEventId as never });
    expect(event!['details']).toMatchObject({ complete: true, alreadyErased: false, resumesRequestId: 'DSR-S2' });
  }, 60_000);

  it('finishes, and says so, an erasure whose first request failed while this one ran as its duplicate', async () => {
    const id = await registerOne();
    const db = app.app.mongo.db;
    // The first request claimed the erasure moments ago and is still running, as far as this one can tell at the start.
    await db.collection<{ _id: string }>('erasure_requests').insertOne({ _id: id, requestId: 'DSR-FIRST', claimedAt: new Date(), claimedBy: 'dpo-riley' } as { _id: string });
    // Held at the customer's lock, so that the first request fails (its Redis was cut, in the probe) while this one waits.
    const locks = db.collection<{ _id: string }>('customer_locks');
    await locks.insertOne({ _id: id, token: 'held', acquiredAt: new Date() } as { _id: string });
    const running = erase(id, 'DSR-SECOND');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await db.collection<{ _id: string }>('erasure_requests').updateOne({ _id: id }, { $set: { failedAt: new Date() } });
    await locks.deleteOne({ _id: id });
    const receipt = await running;
    // It did the whole job, and no erasure had completed: not a repeat, and the trail names the failed one as resumed.
    expect(receipt.alreadyErased).toBe(false);
    expect(countOf(receipt, 'mongodb', 'data_keys')).toBe(1);
    const event = await db.collection('audit_events').findOne({ _id: receipt.auditEventId as never });
    expect(event!['details']).toMatchObject({ complete: true, alreadyErased: false, resumesRequestId: 'DSR-FIRST' });
    expect(event!['details']).not.toHaveProperty('duplicatesRequestId');
    // A request after it is a repeat of a done erasure.
    expect((await erase(id, 'DSR-THIRD')).alreadyErased).toBe(true);
  }, 60_000);

  it('lets one of several requests retrying a failed erasure at once finish it; the others are duplicates', async () => {
    const id = await registerOne();
    await app.app.mongo.db
      .collection<{ _id: string }>('erasure_requests')
      .insertOne({ _id: id, requestId: 'DSR-FAILED', claimedAt: new Date(Date.now() - 120_000), claimedBy: 'dpo-riley' } as { _id: string });
    const receipts = await Promise.all(['DSR-RETRY-A', 'DSR-RETRY-B', 'DSR-RETRY-C'].map((requestId) => erase(id, requestId)));
    expect(receipts.filter((r) => !r.alreadyErased)).toHaveLength(1);
    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id, type: 'DATA_DELETION' }).toArray();
    expect(events.map((e) => (e['details'] as { resumesRequestId: string | null }).resumesRequestId).sort()).toEqual(['DSR-FAILED', null, null]);
  });

  it("keeps an x-request-id that names the customer out of the DATA_DELETION event, erasing all the same", async () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const [label, headerOf] of [
      ['the display name', () => 'because-Grace-Murray-wrote'],
      // Run together (a regression probe).
      ['the display name as one word', () => 'dsr-gracemurray'],
      ["the shown email's local part", (email: string) => email.split('@')[0]!],
    ] as const) {
      const email = anEmail('del7x');
      const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }], displayName: 'Grace Murray' } });
      const id = res.body.data!.registerCustomer.id;
      const receipt = await erase(id, 'DSR-HDR-1', 'Customer request', { 'x-request-id': headerOf(email) });
      const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: receipt.auditEventId as never });
      expect((event?.['details'] as { httpRequestId: string }).httpRequestId, label).toMatch(UUID);
      expect(JSON.stringify(event), label).not.toContain(headerOf(email));
    }
  });

  it('rejects a reason or request id that carries an identifier, erasing nothing', async () => {
    const id = await registerOne();
    const cases = [
      { requestId: 'DSR-1', reason: 'Asked by jane.doe@example.com' },
      { requestId: 'DSR-1', reason: 'Called from +44 20 7946 0958' },
      // Separators other than spaces and dashes read back as a number just as well.
      { requestId: 'DSR-1', reason: 'Asked via 020_7946_0958' },
      { requestId: 'req_44_20_7946_0958', reason: 'Asked by letter' },
      { requestId: 'DSR-1', reason: 'Asked via 020/7946/0958' },
      { requestId: 'jane.doe@example.com', reason: 'Asked by letter' },
      { requestId: '   ', reason: 'Asked by letter' },
      { requestId: 'DSR-1', reason: '' },
    ];
    // The customer's identifier hashes themselves, as an export shows them (a probe: kept in DATA_DELETION, one tied
    // the erased trail to the next person to register with the email).
    const [held] = await app.app.services.customers['repository'].findIdentifiersByCustomerIds([id]);
    const hash = held![0]!.hash;
    const digest = hash.slice(hash.indexOf(':') + 1);
    cases.push(
      { requestId: digest, reason: 'Asked by letter' },
      { requestId: 'DSR-1', reason: `Erase identifier ${hash}` },
      // Encoded (a regression probe kept these): base64 of the hash, the digest's bytes in hex, the digest in chunks.
      { requestId: 'DSR-1', reason: `ref ${Buffer.from(hash).toString('base64')}` },
      { requestId: Buffer.from(digest, 'base64url').toString('hex'), reason: 'Asked by letter' },
      { requestId: 'DSR-1', reason: `id ${digest.match(/.{1,11}/g)!.join(' ')}` },
      // Split by a character of its own alphabet, or a dot (the next regression probe).
      { requestId: 'DSR-1', reason: `ref ${digest.slice(0, 22)}-${digest.slice(22)}` },
      { requestId: `DSR-${digest.slice(0, 21)}.${digest.slice(21)}`, reason: 'Asked by letter' },
    );
    for (const variables of cases) {
      const res = await app.graphql(dpo, ERASE, { id, ...variables });
      expect(res.body.errors?.[0]?.extensions?.['code'], JSON.stringify(variables)).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(res.body)).not.toContain('jane.doe@example.com');
      expect(JSON.stringify(res.body)).not.toContain('7946');
    }
    expect(await app.app.mongo.db.collection('customers').findOne({ _id: id as never })).toMatchObject({ status: 'ACTIVE' });
    expect(await app.app.mongo.db.collection('customers').countDocuments({ _id: id as never, dataKey: { $exists: true } })).toBe(1);
  });

  // A regression probe kept each of these: the digest without its `-` and `_` (shorter than a digest, so passed over
  // whole, and kept as the erasure's requestId), in fullwidth or mathematical letters, and in one case.
  it("refuses an identifier's digest without its separators, folded to another case, or in fullwidth letters", async () => {
    let id = '';
    let digest = '';
    // Three digests in four hold a `-` or `_`: register until one does.
    for (let i = 0; i < 20 && !/[-_]/.test(digest.slice(1, -1)); i++) {
      id = await registerOne();
      const [held] = await app.app.services.customers['repository'].findIdentifiersByCustomerIds([id]);
      const hash = held!.find((record) => /[-_]/.test(record.hash.slice(record.hash.indexOf(':') + 2, -1)))?.hash ?? held![0]!.hash;
      digest = hash.slice(hash.indexOf(':') + 1);
    }
    expect(digest.slice(1, -1)).toMatch(/[-_]/);
    const bare = digest.replace(/[-_]/g, '');
    const fullwidth = [...digest].map((c) => (/[A-Za-z0-9]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xfee0) : c)).join('');
    const cases = [
      { requestId: bare, reason: 'Asked by letter' },
      { requestId: 'DSR-1', reason: bare },
      { requestId: 'DSR-1', reason: `Erase ${fullwidth}` },
      { requestId: 'DSR-1', reason: `ref ${digest.toLowerCase()}` },
      { requestId: digest.toUpperCase().replace(/[^A-Z0-9]/g, ''), reason: 'Asked by letter' },
    ];
    for (const variables of cases) {
      const res = await app.graphql(dpo, ERASE, { id, ...variables });
      expect(res.body.errors?.[0]?.extensions?.['code'], JSON.stringify(variables)).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0]?.message).toContain('identifier hash');
    }
    expect(await app.app.mongo.db.collection('customers').findOne({ _id: id as never })).toMatchObject({ status: 'ACTIVE' });
  });

  it('takes a UUID as request id (its 12-digit group is no phone number)', async () => {
    const id = await registerOne();
    const receipt = await erase(id, '123e4567-e89b-12d3-a456-426614174000', 'Asked through the privacy portal');
    expect(receipt).toMatchObject({ customerId: id, requestId: '123e4567-e89b-12d3-a456-426614174000', alreadyErased: false });
  });

  it('refuses callers without dsar:process and answers NOT_FOUND for an unknown customer', async () => {
    const id = await registerOne();
    const agentOnly = await app.token(['customer:read', 'pii:read', 'audit:read'], 'agent-z');
    const forbidden = await app.graphql(agentOnly, ERASE, { id, requestId: 'DSR-9', reason: 'No right to do this' });
    expect(forbidden.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(await app.app.mongo.db.collection('customers').findOne({ _id: id as never })).toMatchObject({ status: 'ACTIVE' });
    const unknown = await app.graphql(dpo, ERASE, { id: 'cus_00000000000000000000000000', requestId: 'DSR-9', reason: 'Unknown person' });
    expect(unknown.body.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
  });
});

/**
 * Writes that pass their "is the customer active?" check just before an erasure
 * and land just after it. The store call of each write is wrapped so that a
 * whole erasure (a real eraseCustomer request) runs between the check and the
 * write: the race, made certain instead of likely.
 */
describe('writes that race an erasure', () => {
  const LINK = `mutation($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: CRM_ID, value: $v }) { id } }`;
  const CONSENT = `mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["analytics"], source: "race-test" }) { id } }`;
  const PUSH = `mutation($id: ID!) { recordSupportActivity(input: { customerId: $id, tickets: [{ id: "T-RACE", status: "open", openedAt: "2026-02-01T10:00:00Z" }] }) }`;

  async function registered(): Promise<string> {
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('racing') }] } });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.registerCustomer.id;
  }

  /** Runs a full erasure of `id` before the wrapped method's first call goes on; later calls run as usual. */
  function eraseBeforeFirstCall(target: Record<string, unknown>, method: string, id: string): () => void {
    const original = target[method] as (...args: unknown[]) => Promise<unknown>;
    let done = false;
    target[method] = async function (this: unknown, ...args: unknown[]) {
      if (!done) {
        done = true;
        await erase(id, 'DSR-RACING', 'Erased while another write was in flight');
      }
      return original.apply(this, args);
    };
    return () => {
      target[method] = original;
    };
  }

  async function expectSealedChain(id: string): Promise<void> {
    const last = await app.app.mongo.db.collection('audit_events').find({ chain: id }).sort({ sequence: -1 }).limit(1).next();
    expect(last?.['type']).toBe('DATA_DELETION');
    const verified = await app.graphql<{ verifyAuditTrail: { valid: boolean } }>(dpo, VERIFY, { id });
    expect(verified.body.data!.verifyAuditTrail.valid).toBe(true);
  }

  /** Sends `mutation` while the store method the write goes through first runs a whole erasure; expects the write refused. */
  async function writeThatRacesErasure(id: string, owner: 'customers' | 'supportRecords' | 'grants' | 'sessions', method: string, mutation: string, variables: Record<string, unknown>, caller = service) {
    const services = app.app.services[owner] as unknown as { repository?: Record<string, unknown>; store?: Record<string, unknown> };
    const restore = eraseBeforeFirstCall((services.repository ?? services.store)!, method, id);
    try {
      const res = await app.graphql(caller, mutation, { id, ...variables });
      expect(res.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0]?.message).toBe('The customer has been erased');
    } finally {
      restore();
    }
    await expectSealedChain(id);
  }

  it('lets a registration of an identifier whose erasure is under way wait for it, then register a new customer', async () => {
    const email = anEmail('erasing');
    const first = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = first.body.data!.registerCustomer.id;
    const db = app.app.mongo.db;
    // Where an erasure stands between marking the customer erased and removing its identifiers.
    await db.collection('customers').updateOne({ _id: id as never }, { $set: { status: 'ERASED', erasedAt: new Date() } });
    const registering = app.graphql<{ registerCustomer: { id: string; status: string } }>(service, `mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { id status } }`, {
      input: { identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: aPhone() }] },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await db.collection('identifiers').deleteMany({ customerId: id });
    const res = await registering;
    // It was answered "The customer has been erased" (BAD_USER_INPUT): a CRM could not tell that a retry would succeed.
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.registerCustomer.status).toBe('ACTIVE');
    expect(res.body.data!.registerCustomer.id).not.toBe(id);
  });

  it('answers CONFLICT at once, saying to try again, while an erasure that failed half-way still holds the identifier', async () => {
    const email = anEmail('half-erased');
    const first = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = first.body.data!.registerCustomer.id;
    // Marked two minutes ago and never finished: no use waiting for it.
    await app.app.mongo.db.collection('customers').updateOne({ _id: id as never }, { $set: { status: 'ERASED', erasedAt: new Date(Date.now() - 120_000) } });
    const customersBefore = await app.app.mongo.db.collection('customers').countDocuments();
    app.resetCommands();
    const res = await app.graphql(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    // One look, not 5 s of them (about 200 queries; a regression probe).
    expect(app.mongoCommands.length).toBeLessThan(10);
    expect(res.body.errors?.[0]?.extensions?.['code']).toBe('CONFLICT');
    expect(res.body.errors?.[0]?.message).toBe('An identifier belongs to a customer whose erasure has not finished; try again once it has');
    // Nothing was stored for it: no second customer, and the identifier still names the erased one.
    expect(await app.app.mongo.db.collection('customers').countDocuments()).toBe(customersBefore);
    expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(1);
  });

  it('registers a new customer when the customer it found is erased while it links the rest of its identifiers to it', async () => {
    const email = anEmail('racing-reg');
    const first = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = first.body.data!.registerCustomer.id;
    const repository = (app.app.services.customers as unknown as { repository: Record<string, unknown> }).repository;
    // The registration finds the customer by its email, then links the new CRM id to it: the erasure runs in between.
    const restore = eraseBeforeFirstCall(repository, 'claimIdentifier', id);
    try {
      const res = await app.graphql<{ registerCustomer: { id: string; status: string } }>(service, `mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { id status } }`, {
        input: { identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'CRM_ID', value: aCrmId() }] },
      });
      // It was answered "The customer has been erased" (a regression probe).
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.registerCustomer).toMatchObject({ status: 'ACTIVE' });
      expect(res.body.data!.registerCustomer.id).not.toBe(id);
    } finally {
      restore();
    }
    await expectSealedChain(id);
    expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
  });

  it('takes back an identifier linked after the erasure, so the person can register again', async () => {
    const id = await registered();
    const crmId = aCrmId();
    await writeThatRacesErasure(id, 'customers', 'claimIdentifier', LINK, { v: crmId });
    expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
    const again = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: crmId }] } });
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data!.registerCustomer.id).not.toBe(id);
  });

  it('answers a lookup whose customer is erased between the match and its event as a lookup of nobody, and records it', async () => {
    const email = anEmail('resolve-racing');
    const first = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = first.body.data!.registerCustomer.id;
    const audit = app.app.services.audit as unknown as Record<string, unknown>;
    const original = audit['append'] as (input: { type: string }) => Promise<unknown>;
    let done = false;
    audit['append'] = async function (this: unknown, input: { type: string }) {
      if (!done && input.type === 'IDENTITY_RESOLUTION') {
        done = true;
        await erase(id, 'DSR-RESOLVING', 'Erased while a lookup was in flight');
      }
      return original.call(this, input);
    };
    try {
      const res = await app.graphql<{ resolveCustomer: { customer: { id: string } | null; matchedBy: string | null; auditEventId: string } }>(resolver, RESOLVE, { v: email });
      // It was refused as "The customer has been erased", telling the caller whose the email had been, and no event
      // recorded the lookup (a probe).
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.resolveCustomer).toMatchObject({ customer: null, matchedBy: null });
      const event = await app.app.mongo.db.collection('audit_events').findOne({ _id: res.body.data!.resolveCustomer.auditEventId as never });
      expect(event).toMatchObject({ type: 'IDENTITY_RESOLUTION', chain: '_anonymous', customerId: null, details: { matched: false } });
      // One of the erased person's calls: it keeps no identifier hash, and no lookup key ties it to the next person to
      // register with the email (a probe found such lookups in the next registrant's export).
      expect(event?.['sealedIdentifierHash'] ?? null).toBeNull();
      expect(await app.app.mongo.db.collection('anonymous_lookups').countDocuments({ _id: res.body.data!.resolveCustomer.auditEventId as never })).toBe(0);
    } finally {
      audit['append'] = original;
    }
    await expectSealedChain(id);
  });

  // A probe: lookups made while an erasure ran, after it had deleted the identifiers, were filed as anonymous lookups
  // after its sweeps, and listed with their callers, channels and interaction ids in the export of the next person to
  // register with the number.
  // And mid-rotation (a regression probe): a replica whose current key version is new filed its lookups under that
  // version alone, which the identifiers, filed under the old one, never name.
  it("forgets the lookups of the erased identifiers filed after the erasure's own sweeps, a moment later, under any key version", async () => {
    const email = anEmail('lookups-after');
    const first = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = first.body.data!.registerCustomer.id;
    // A version of its own: the database records each version's key, and another test rotates to a v2 of its own.
    const v7 = (await generateDevKeys()).identityHmacKeys.replace(/^v1:/, 'v7:');
    const rotated = await startTestApp({ shareStoresWith: app, env: { IDENTITY_HMAC_KEYS: `${v7},${app.keys.identityHmacKeys}` } });
    const lookups = app.app.mongo.db.collection('anonymous_lookups');
    const eventIds: string[] = [];
    let erasedAt: number;
    try {
      const receipt = await erase(id, 'DSR-LOOKUPS', 'Erased with lookups still coming in');
      erasedAt = new Date(receipt.erasedAt).getTime();
      for (const replica of [app, rotated]) {
        const lookup = await replica.graphql<{ resolveCustomer: { customer: null; auditEventId: string } }>(await replica.token(['identity:resolve'], 'svc-ivr'), RESOLVE, { v: email });
        expect(lookup.body.data!.resolveCustomer.customer).toBeNull();
        eventIds.push(lookup.body.data!.resolveCustomer.auditEventId);
      }
    } finally {
      await rotated.stop();
    }
    expect(await lookups.countDocuments({ _id: { $in: eventIds as never[] } })).toBe(2);
    expect(await lookups.countDocuments({ _id: { $in: eventIds as never[] }, identifierHash: /^v7:/ })).toBe(1);
    // The first later sweep runs ERASURE_LOOKUP_SWEEPS_MS[0] (2 s) after the erasure ended.
    const sweptBy = erasedAt + 2_000;
    await expect.poll(() => lookups.countDocuments({ _id: { $in: eventIds as never[] } }), { timeout: Math.max(0, sweptBy - Date.now()) + 5_000, interval: 200 }).toBe(0);
    const again = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const next = again.body.data!.registerCustomer.id;
    expect(next).not.toBe(id);
    const held = await app.graphql<{ dataSubjectAccess: { anonymousLookups: unknown[] } }>(dpo, `query($id: ID!) { dataSubjectAccess(customerId: $id) { anonymousLookups { id } } }`, { id: next });
    expect(held.body.data!.dataSubjectAccess.anonymousLookups).toEqual([]);
  });

  it('takes back an identifier re-filed under a new key version after the erasure swept, so the person can register again', async () => {
    const email = anEmail('rekey-racing');
    const first = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = first.body.data!.registerCustomer.id;
    const v2 = (await generateDevKeys()).identityHmacKeys.replace(/^v1:/, 'v2:');
    const rotated = await startTestApp({ shareStoresWith: app, env: { IDENTITY_HMAC_KEYS: `${v2},${app.keys.identityHmacKeys}` } });
    try {
      // The lookup matches under v1 and files the email under v2: a whole erasure runs between the two.
      const repository = (rotated.app.services.customers as unknown as { repository: Record<string, unknown> }).repository;
      const restore = eraseBeforeFirstCall(repository, 'claimIdentifier', id);
      try {
        const res = await rotated.graphql<{ resolveCustomer: { customer: { id: string } | null } }>(await rotated.token(['identity:resolve'], 'svc-ivr'), RESOLVE, { v: email });
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data!.resolveCustomer.customer).toBeNull();
      } finally {
        restore();
      }
      // The v2 record tied the email, under both versions, to the erased id, and a new registration got CONFLICT for good.
      expect(await rotated.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
      const again = await rotated.graphql<{ registerCustomer: { id: string } }>(await rotated.token(SERVICE_SCOPES, 'svc-crm'), REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
      expect(again.body.errors).toBeUndefined();
      expect(again.body.data!.registerCustomer.id).not.toBe(id);
    } finally {
      await rotated.stop();
    }
    await expectSealedChain(id);
  });

  it('refuses a consent receipt whose check passed before the erasure', async () => {
    const id = await registered();
    // The receipt is written under the customer's lock, which the erasure takes too: a whole erasure runs between
    // the check and the lock (it used to run between the check and the insert, when the lock was not re-checked).
    const customers = app.app.services.customers as unknown as Record<string, unknown>;
    const restore = eraseBeforeFirstCall(customers, 'withCustomerLock', id);
    try {
      const res = await app.graphql(service, CONSENT, { id });
      expect(res.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0]?.message).toBe('The customer has been erased');
    } finally {
      restore();
    }
    await expectSealedChain(id);
    expect(await app.app.mongo.db.collection('consents').countDocuments({ customerId: id })).toBe(0);
  });

  it('takes back support records pushed after the erasure', async () => {
    const id = await registered();
    await writeThatRacesErasure(id, 'supportRecords', 'insertActivities', PUSH, {});
    expect(await app.app.mongo.db.collection('support_records').countDocuments({ customerId: id })).toBe(0);
  });

  // Saved in Redis after the erasure swept it, a grant (its justification may name the person) and a session outlived
  // the erasure until their TTLs, and the export of the erased customer showed the justification (a probe).
  it('takes back a PII grant and a support session saved after the erasure', async () => {
    const id = await registered();
    const requester = await app.token(['customer:read', 'pii:read', 'context:read'], 'agent-racing');
    await writeThatRacesErasure(id, 'grants', 'save', `mutation($id: ID!) { requestPiiAccess(input: { customerId: $id, fields: [EMAIL], justification: "Zebedee rang about a refund" }) { id } }`, {}, requester);
    const second = await registered();
    await writeThatRacesErasure(second, 'sessions', 'save', `mutation($id: ID!) { startSupportSession(customerId: $id, channel: VOICE) { token } }`, {}, requester);
    for (const customerId of [id, second]) {
      const keys = (await redis.keys(`${app.config.redisKeyPrefix}*`)).filter((key) => key.includes(customerId));
      expect(keys.filter((key) => !key.includes('snapshot-epoch')), customerId).toEqual([]);
    }
    const grants = await redis.keys(`${app.config.redisKeyPrefix}grant:*`);
    for (const key of grants) expect(await redis.get(key)).not.toContain('Zebedee');
  });

  /**
   * Starts an erasure of `id` that stops after marking the customer erased, before its chain is sealed (held in its
   * first participant until `release`). Resolves once it got there.
   */
  async function eraseUpToParticipants(id: string): Promise<{ release: () => Promise<void> }> {
    const participant = app.app.services.erasureParticipants[0]!;
    const original = participant.erase.bind(participant);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let arrived!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    participant.erase = async (customerId: string) => {
      arrived();
      await gate;
      return original(customerId);
    };
    const erasure = erase(id, 'DSR-UNSEALED', 'Erased while writes waited for the lock');
    await reached;
    return {
      release: async () => {
        open();
        await erasure;
        participant.erase = original;
      },
    };
  }

  it('refuses a consent that passed its check before the customer was marked erased and got the lock after', async () => {
    const id = await registered();
    const customers = app.app.services.customers as unknown as { withCustomerLock: (id: string, write: () => Promise<unknown>) => Promise<unknown> };
    const original = customers.withCustomerLock.bind(customers);
    let erasure: { release: () => Promise<void> } | undefined;
    customers.withCustomerLock = async (customerId, write) => {
      erasure = await eraseUpToParticipants(id);
      return original(customerId, write);
    };
    try {
      const res = await app.graphql(service, CONSENT, { id });
      // It used to be written (the chain was not sealed yet) and kept, with a grantedAt after the customer's erasedAt.
      expect(res.body.errors?.[0]?.message).toBe('The customer has been erased');
    } finally {
      customers.withCustomerLock = original;
      await erasure?.release();
    }
    expect(await app.app.mongo.db.collection('consents').countDocuments({ customerId: id })).toBe(0);
    await expectSealedChain(id);
  });

  it('refuses a link whose identifier was claimed before the customer was marked erased and filled after', async () => {
    const id = await registered();
    const repository = (app.app.services.customers as unknown as { repository: Record<string, unknown> }).repository;
    const original = repository['claimIdentifier'] as (...args: unknown[]) => Promise<unknown>;
    let erasure: { release: () => Promise<void> } | undefined;
    repository['claimIdentifier'] = async function (this: unknown, ...args: unknown[]) {
      const claimed = await original.apply(this, args);
      erasure = await eraseUpToParticipants(id);
      return claimed;
    };
    try {
      const res = await app.graphql(service, LINK, { id, v: aCrmId() });
      // It used to answer "linked" and write IDENTIFIER_LINKED for a customer already marked erased.
      expect(res.body.errors?.[0]?.message).toBe('The customer has been erased');
    } finally {
      repository['claimIdentifier'] = original;
      await erasure?.release();
    }
    expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ chain: id, type: 'IDENTIFIER_LINKED' })).toBe(0);
    await expectSealedChain(id);
  });

  it('leaves no identifier and a sealed, valid chain when 12 links and an erasure really run at once', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await registered();
      const links = Array.from({ length: 12 }, async (_v, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 4));
        return app.graphql(service, LINK, { id, v: aCrmId() });
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await erase(id, `DSR-CONCURRENT-${round}`, 'Erased while links were arriving');
      for (const res of await Promise.all(links)) {
        for (const error of res.body.errors ?? []) expect(error.extensions?.['code']).toBe('BAD_USER_INPUT');
      }
      expect(await app.app.mongo.db.collection('identifiers').countDocuments({ customerId: id })).toBe(0);
      await expectSealedChain(id);
    }
  });
});
