import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import type { DevServices } from '../src/dev/services.js';
import { anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { grantPii } from './policy-fixtures.js';
import { startPrivateServices } from './testkit/service-control.js';
import { startTestApp, type GraphQLResponse, type TestApp } from './testkit/test-app.js';

/**
 * The audit trail on a MongoDB of its own (AUDIT_MONGODB_URL), a private
 * FerretDB that this file stops and starts: an audit outage that leaves the
 * customer store up, so that fail-closed behaviour is really exercised.
 */
let auditStore: DevServices;
let app: TestApp;
let service: string;
let clearReader: string;
let maskedReader: string;
let dpo: string;
let customerId: string;
let lateGrantId: string;
const APPROVE = `mutation($id: ID!) { approvePiiAccess(grantId: $id) { status } }`;
const CONSENT = `mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["analytics"], source: "crm:during-outage" }) { version } }`;
const DISPLAY_NAME = 'Quentin Marsh-Okafor';
const duringEmail = anEmail('during');
const duringPhone = aPhone();
const LINK_PHONE = `mutation($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: PHONE, value: $v }) { id } }`;

const READ = `query($id: ID!) { customer(id: $id) { id status country displayName } }`;

async function readCustomer(token: string): Promise<GraphQLResponse<{ customer: { id: string; displayName: string | null; country: string } | null }>> {
  return app.graphql(token, READ, { id: customerId });
}

async function auditWriteFailures(): Promise<number> {
  const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('veil_audit_write_failures_total'));
  return Number(line?.split(' ')[1] ?? NaN);
}

beforeAll(async () => {
  auditStore = await startPrivateServices();
  app = await startTestApp({ env: { AUDIT_MONGODB_URL: auditStore.mongoUrl, AUDIT_MONGODB_DB: 'veil_audit' } });
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  clearReader = await app.token(['customer:read', 'pii:read'], 'agent-clear');
  maskedReader = await app.token(['customer:read'], 'agent-masked');
  dpo = await app.token(['dsar:process', 'audit:read'], 'dpo-1');
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: { identifiers: [{ kind: 'EMAIL', value: anEmail('outage') }], displayName: DISPLAY_NAME, country: 'NL' },
  });
  expect(res.body.errors).toBeUndefined();
  customerId = res.body.data!.registerCustomer.id;
  await grantPii(app, customerId, 'agent-clear', ['DISPLAY_NAME']);
  // Requested before the outage, approved during it.
  const requested = await app.graphql<{ requestPiiAccess: { id: string } }>(
    await app.token(['customer:read', 'pii:read'], 'agent-late'),
    `mutation($input: PiiAccessRequestInput!) { requestPiiAccess(input: $input) { id } }`,
    { input: { customerId, fields: ['DISPLAY_NAME'], justification: 'Customer asked to confirm the name on file' } },
  );
  lateGrantId = requested.body.data!.requestPiiAccess.id;
}, 180_000);

afterAll(async () => {
  await app?.stop();
  await auditStore?.stop();
});

describe('audit store separate from the customer store', () => {
  it('writes audit events to the audit store only', async () => {
    const client = new MongoClient(auditStore.mongoUrl);
    try {
      const inAuditStore = await client.db('veil_audit').collection('audit_events').countDocuments({ chain: customerId });
      expect(inAuditStore).toBe(2);
      expect(await app.app.mongo.db.collection('audit_events').countDocuments()).toBe(0);
    } finally {
      await client.close();
    }
  });
});

describe('an audit store outage', () => {
  it('refuses clear-text reads, keeps masked reads, refuses exports and audited writes, and recovers by itself', async () => {
    const before = await readCustomer(clearReader);
    expect(before.body.errors).toBeUndefined();
    expect(before.body.data!.customer!.displayName).toBe(DISPLAY_NAME);
    const failuresBefore = await auditWriteFailures();

    const readyBefore = await fetch(`${app.baseUrl}/health/ready`);
    expect(readyBefore.status).toBe(200);
    expect(await readyBefore.json()).toMatchObject({ checks: { mongodb: 'ok', redis: 'ok', audit_mongodb: 'ok' } });

    await auditStore.stopMongo();
    try {
      // Readiness reports the audit store down, and stays ready: masked reads go on (see README).
      const readyDuring = await fetch(`${app.baseUrl}/health/ready`);
      expect(readyDuring.status).toBe(200);
      expect(await readyDuring.json()).toMatchObject({ status: 'ready', checks: { mongodb: 'ok', redis: 'ok', audit_mongodb: 'down' } });

      // The clear read: the field is null with an error, and the value appears nowhere in the response.
      const refused = await readCustomer(clearReader);
      expect(refused.body.data!.customer).toMatchObject({ id: customerId, country: 'NL', displayName: null });
      expect(refused.body.errors).toHaveLength(1);
      expect(refused.body.errors![0]!.path).toEqual(['customer', 'displayName']);
      expect(refused.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      const refusedText = JSON.stringify(refused.body);
      expect(refusedText).not.toContain('Quentin');
      expect(refusedText).not.toContain('Okafor');

      // Masked reads never touch the audit store.
      const masked = await readCustomer(maskedReader);
      expect(masked.body.errors).toBeUndefined();
      expect(masked.body.data!.customer!.displayName).toBe('Quentin M.');

      // A data-subject export is refused without its DSAR_EXPORT event, over GraphQL and as a download.
      const exported = await app.graphql(dpo, `query($id: ID!) { dataSubjectAccess(customerId: $id) { displayName auditEventId } }`, { id: customerId });
      expect(exported.body.data).toBeNull();
      expect(exported.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      expect(JSON.stringify(exported.body)).not.toContain('Quentin');
      const download = await fetch(`${app.baseUrl}/dsar/export?customerId=${customerId}`, { headers: { authorization: `Bearer ${dpo}` } });
      expect(download.status).toBe(503);
      expect(await download.text()).not.toContain('Quentin');

      // A registration or a link that cannot be audited is refused and taken back, so that repeating it does it whole.
      const customersBefore = await app.app.mongo.db.collection('customers').countDocuments();
      const identifiersBefore = await app.app.mongo.db.collection('identifiers').countDocuments();
      const registered = await app.graphql(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: duringEmail }] } });
      expect(registered.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      const linked = await app.graphql(service, LINK_PHONE, { id: customerId, v: duringPhone });
      expect(linked.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      expect(await app.app.mongo.db.collection('customers').countDocuments()).toBe(customersBefore);
      expect(await app.app.mongo.db.collection('identifiers').countDocuments()).toBe(identifiersBefore);

      // So are an approval and a consent change: the grant stays PENDING, and no receipt is left.
      const approved = await app.graphql(await app.token(['pii:approve'], 'supervisor-outage'), APPROVE, { id: lateGrantId });
      expect(approved.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      const consented = await app.graphql(service, CONSENT, { id: customerId });
      expect(consented.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      expect(await app.app.mongo.db.collection('consents').countDocuments({ customerId })).toBe(0);

      // Reads of the trail name the audit store too, not the (healthy) main MongoDB; an erasure is refused untouched.
      const auditor = await app.token(['customer:read', 'audit:read'], 'auditor-outage');
      for (const query of [
        `query($id: ID!) { customer(id: $id) { auditTrail { edges { cursor } } } }`,
        `query($id: ID!) { verifyAuditTrail(customerId: $id) { valid } }`,
      ]) {
        const read = await app.graphql(auditor, query, { id: customerId });
        expect(read.body.errors![0]!.extensions, query).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      }
      const erased = await app.graphql(dpo, `mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-AUDIT-DOWN", reason: "Asked by letter") { alreadyErased } }`, { id: customerId });
      expect(erased.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
      expect(await app.app.mongo.db.collection('customers').findOne({ _id: customerId as never })).toMatchObject({ status: 'ACTIVE' });

      expect(await auditWriteFailures()).toBeGreaterThanOrEqual(failuresBefore + 5);
    } finally {
      await auditStore.startMongo();
    }

    // The driver reconnects by itself: no restart of the subgraph.
    let recovered: Awaited<ReturnType<typeof readCustomer>> | null = null;
    for (let attempt = 0; attempt < 60; attempt++) {
      recovered = await readCustomer(clearReader);
      if (!recovered.body.errors) break;
      await sleep(500);
    }
    expect(recovered!.body.errors).toBeUndefined();
    expect(recovered!.body.data!.customer!.displayName).toBe(DISPLAY_NAME);

    const verification = await app.graphql<{ verifyAuditTrail: { valid: boolean; eventCount: number } }>(
      dpo,
      `query($id: ID!) { verifyAuditTrail(customerId: $id) { valid eventCount } }`,
      { id: customerId },
    );
    // REGISTERED, GRANTED, the clear read before the outage and the one after; nothing from the refused requests.
    expect(verification.body.data!.verifyAuditTrail).toEqual({ valid: true, eventCount: 4 });

    // The approval refused during the outage gave nothing: the requester still reads the masked name.
    const late = await app.token(['customer:read', 'pii:read'], 'agent-late');
    expect((await readCustomer(late)).body.data!.customer!.displayName).toBe('Quentin M.');

    // Repeated now, the refused registration and link are done whole, each with its event.
    const again = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: duringEmail }] } });
    expect(again.body.errors).toBeUndefined();
    const auditClient = new MongoClient(auditStore.mongoUrl);
    try {
      const events = auditClient.db('veil_audit').collection('audit_events');
      expect(await events.countDocuments({ chain: again.body.data!.registerCustomer.id, type: 'CUSTOMER_REGISTERED' })).toBe(1);
      expect((await app.graphql(service, LINK_PHONE, { id: customerId, v: duringPhone })).body.errors).toBeUndefined();
      expect(await events.countDocuments({ chain: customerId, type: 'IDENTIFIER_LINKED' })).toBe(1);
      // The approval and the consent change too: the grant takes effect with its event, the receipt is version 1.
      const approvedNow = await app.graphql<{ approvePiiAccess: { status: string } }>(await app.token(['pii:approve'], 'supervisor-outage'), APPROVE, { id: lateGrantId });
      expect(approvedNow.body.data!.approvePiiAccess.status).toBe('APPROVED');
      expect(await events.countDocuments({ chain: customerId, type: 'PII_ACCESS_GRANTED', 'details.grantId': lateGrantId })).toBe(1);
      expect((await readCustomer(late)).body.data!.customer!.displayName).toBe(DISPLAY_NAME);
      const consentedNow = await app.graphql<{ recordConsent: { version: number } }>(service, CONSENT, { id: customerId });
      expect(consentedNow.body.data!.recordConsent.version).toBe(1);
      expect(await events.countDocuments({ chain: customerId, type: 'CONSENT_RECORDED' })).toBe(1);
    } finally {
      await auditClient.close();
    }
    const stored = await app.app.mongo.db.collection('customers').findOne({ _id: customerId as never });
    expect(Object.keys(stored!['encrypted'] as object)).toContain('PHONE');
  });
});
