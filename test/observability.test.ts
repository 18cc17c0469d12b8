import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import { generateDevKeys } from '../src/dev/dev-keys.js';
import { parse, type OperationDefinitionNode } from 'graphql';
import { operationLabel } from '../src/observability/observability-plugin.js';
import { NameScreen } from '../src/observability/name-screen.js';
import { mayHoldBareDigest } from '../src/customers/customer-service.js';
import { runInRequestScope } from '../src/observability/request-scope.js';
import { aCrmId, anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { LogCapture } from './testkit/log-capture.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let startupLines = 0;
const secrets: string[] = [];
const tokens: string[] = [];

const RESOLVE = `query Resolve($kind: IdentifierKind!, $value: String!) {
  resolveCustomer(input: { identifier: { kind: $kind, value: $value }, channel: VOICE }) { matchedBy customer { id email phone displayName identifiers { kind } } }
}`;

/** A workload that hands the app every kind of identifier, valid and not, and a few failures. */
async function runWorkloadWithIdentifiers(): Promise<void> {
  const service = await app.token(SERVICE_SCOPES, 'svc-crm');
  const agent = await app.token(['customer:read'], 'agent-obs');
  const senior = await app.token(['customer:read', 'pii:read'], 'agent-obs-senior');
  tokens.push(service, agent, senior);
  const email = anEmail('Observed.Person');
  const phone = aPhone();
  const crmId = aCrmId();
  secrets.push(email, email.toLowerCase(), phone, crmId, phone.slice(1));

  const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: { identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: phone }], displayName: 'Observed Person' },
  });
  expect(registered.body.errors).toBeUndefined();
  const id = registered.body.data!.registerCustomer.id;
  await app.graphql(service, `mutation($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: CRM_ID, value: $v }) { id } }`, { id, v: crmId });
  await app.graphql(agent, RESOLVE, { kind: 'EMAIL', value: email });
  await app.graphql(agent, RESOLVE, { kind: 'PHONE', value: phone });
  await app.graphql(agent, RESOLVE, { kind: 'CRM_ID', value: crmId });
  const unknownEmail = anEmail('nobody');
  const malformed = `broken.${Date.now()}@@example.com`;
  secrets.push(unknownEmail, malformed);
  await app.graphql(agent, RESOLVE, { kind: 'EMAIL', value: unknownEmail });
  await app.graphql(agent, RESOLVE, { kind: 'EMAIL', value: malformed });
  await app.graphql(agent, RESOLVE, { kind: 'SSN', value: email });
  await app.graphql(senior, `mutation($id: ID!, $j: String!) { requestPiiAccess(input: { customerId: $id, fields: [EMAIL], justification: $j }) { id } }`, {
    id,
    j: `Customer wrote from ${email}`,
  });
  // An operation name that spells the phone number: a valid GraphQL name, and caller-chosen text.
  const dialled = `Lookup_${phone.slice(1)}`;
  await fetch(`${app.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${agent}` },
    body: JSON.stringify({ query: `query ${dialled} { __typename }`, operationName: dialled }),
  });
  await app.graphql(`${agent.slice(0, -4)}AAAA`, RESOLVE, { kind: 'EMAIL', value: email });
  await app.graphql(null, RESOLVE, { kind: 'EMAIL', value: email });
}

beforeAll(async () => {
  app = await startTestApp();
  startupLines = app.logs.lines.length;
  await runWorkloadWithIdentifiers();
});
afterAll(async () => {
  await app?.stop();
});

describe('logs', () => {
  it('writes no raw email, phone, CRM id or token in any log line', () => {
    const text = app.logs.text();
    expect(app.logs.lines.length).toBeGreaterThan(startupLines + 10);
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) expect(text).not.toContain(secret);
    // Nor any part of a token: the signature is what makes it usable, the payload names the caller's scopes.
    for (const token of tokens) for (const part of token.split('.').slice(1)) expect(text).not.toContain(part);
  });

  it("names the operation the document ran in the request's log line, over GET and without operationName too", async () => {
    const agent = await app.token(['customer:read'], 'agent-op-name');
    const completed = (id: string) =>
      app.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['requestId'] === id && l['msg'] === 'request completed');
    await app.graphql(agent, 'query NamedInDocument { __typename }', undefined, { 'x-request-id': 'op-name-post' });
    const get = await fetch(`${app.url}?query=${encodeURIComponent('query NamedOverGet { __typename }')}`, {
      headers: { authorization: `Bearer ${agent}`, 'apollo-require-preflight': 'true', 'x-request-id': 'op-name-get' },
    });
    expect(get.status).toBe(200);
    // A name that spells a phone number is neither logged nor counted, whoever sent it.
    await app.graphql(agent, 'query call_07700_900_987 { __typename }', undefined, { 'x-request-id': 'op-name-phone' });
    expect(completed('op-name-post')?.['operationName']).toBe('NamedInDocument');
    // And who made the request (the token's sub), so an operator can tell who is being refused.
    expect(completed('op-name-post')?.['caller']).toBe('agent-op-name');
    expect(completed('op-name-get')?.['operationName']).toBe('NamedOverGet');
    expect(completed('op-name-phone')?.['operationName']).toBeNull();
  });

  it('gives every line written while serving a request its requestId', async () => {
    const from = app.logs.lines.length;
    const agent = await app.token(['customer:read'], 'agent-request-id');
    await app.graphql(agent, '{ customer(id: "cus_00000000000000000000000000") { id } }', undefined, { 'x-request-id': 'trace-abc.123' });
    await app.graphql('not-a-token', '{ __typename }');
    const lines = app.logs.lines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line['requestId']).toEqual(expect.any(String));
    expect(lines.some((l) => l['requestId'] === 'trace-abc.123' && l['msg'] === 'request completed')).toBe(true);
    // A request id that spells a phone number is replaced (it would reach the logs and the audit trail); a UUID is kept.
    const dialled = await app.graphql(agent, '{ __typename }', undefined, { 'x-request-id': '07700900987' });
    expect(dialled.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(app.logs.text()).not.toContain('07700900987');
    const underscored = await app.graphql(agent, '{ __typename }', undefined, { 'x-request-id': 'cb_44_7700_900_987' });
    expect(underscored.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(app.logs.text()).not.toContain('7700_900_987');
    const uuid = '123e4567-e89b-12d3-a456-426614174000';
    const traced = await fetch(`${app.baseUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${agent}`, 'x-request-id': uuid }, body: '{"query":"{ __typename }"}' });
    expect(traced.headers.get('x-request-id')).toBe(uuid);
    expect(lines.some((l) => l['msg'] === 'unauthenticated request')).toBe(true);
    // The longest id the header takes, of the character a pattern once split in exponentially many ways: answered at
    // once, with or without a token (it is checked before the token).
    const underscores = '_'.repeat(64);
    for (const token of [agent, 'not-a-token']) {
      const answered = await app.graphql(token, '{ __typename }', undefined, { 'x-request-id': underscores });
      expect(answered.headers.get('x-request-id')).toBe(underscores);
    }
  });

  // A CRM id has no shape, so the header check let `x-request-id: <the CRM id>` through; it was then kept in the
  // customer's audit events (after an erasure too) and in the request's log lines (a probe).
  it('replaces an x-request-id that names an identifier the request holds, in its events and its log lines', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-request-id');
    const crmId = aCrmId();
    const phone = aPhone();
    const digits = phone.slice(1);
    secrets.push(crmId, phone, digits);
    const withId = (requestId: string) => ({ 'x-request-id': requestId });
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(
      service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: crmId }, { kind: 'PHONE', value: phone }] } }, withId(crmId),
    );
    expect(registered.body.errors, JSON.stringify(registered.body.errors)).toBeUndefined();
    const id = registered.body.data!.registerCustomer.id;
    expect(registered.headers.get('x-request-id')).toBe(crmId);
    const resolve = (kind: string, value: string, requestId: string) =>
      app.graphql(service, `query($kind: IdentifierKind!, $value: String!) { resolveCustomer(input: { identifier: { kind: $kind, value: $value } }) { matchedBy } }`, { kind, value }, withId(requestId));
    expect((await resolve('CRM_ID', crmId, `req-${crmId}`)).body.errors).toBeUndefined();
    // The customer's other identifiers too: its phone number after a letter, in a lookup by CRM id.
    expect((await resolve('CRM_ID', crmId, `x${digits}`)).body.errors).toBeUndefined();
    const consent = await app.graphql(service, `mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "crm" }) { id } }`, { c: id }, withId(`sync.${crmId}`));
    expect(consent.body.errors).toBeUndefined();
    // Reads and exports too, in any case (a regression probe: only the paths that held the identifier were covered).
    const reader = await app.token(['customer:read', 'context:read', 'dsar:process'], 'agent-request-id');
    const read = await app.graphql(reader, `query($id: ID!) { customer(id: $id) { id context { customerId } } }`, { id }, withId(crmId.toLowerCase()));
    expect(read.body.data).toBeTruthy();
    const download = await fetch(`${app.baseUrl}/dsar/export?customerId=${id}`, { headers: { authorization: `Bearer ${reader}`, ...withId(`export-${digits}x`) } });
    expect(download.status).toBe(200);
    await download.arrayBuffer();
    // One that names nothing of the customer is kept.
    expect((await resolve('CRM_ID', crmId, 'trace-kept-77')).body.errors).toBeUndefined();

    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id }).sort({ sequence: 1 }).toArray();
    expect(events.map((e) => e['type'])).toEqual(['CUSTOMER_REGISTERED', 'IDENTITY_RESOLUTION', 'IDENTITY_RESOLUTION', 'CONSENT_RECORDED', 'CONTEXT_READ', 'DSAR_EXPORT', 'IDENTITY_RESOLUTION']);
    expect(events.slice(0, 6).map((e) => e['requestId'])).toEqual(Array.from({ length: 6 }, () => expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-/)));
    expect(events[6]!['requestId']).toBe('trace-kept-77');
    const text = app.logs.text();
    expect(text).not.toContain(crmId);
    expect(text).not.toContain(digits);
    // Each request's log line carries the id its events do.
    const completedIds = app.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'request completed').map((l) => l['requestId']);
    for (const event of events) expect(completedIds).toContain(event['requestId']);
  });

  // An identifier's hash, as an export shows it, was kept as the request id of a consent receipt, a lookup and an export,
  // after the erasure too, and logged (a regression probe): it ties the erased trail to the next registrant.
  it("replaces an x-request-id that holds a customer's identifier hash, in its events and its log lines", async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-request-hash');
    const registered = await app.graphql<{ registerCustomer: { id: string; identifiers: Array<{ hash: string }> } }>(
      service, `mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { id identifiers { hash } } }`, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('request-hash') }] } },
    );
    const { id, identifiers } = registered.body.data!.registerCustomer;
    const digest = identifiers[0]!.hash.slice(identifiers[0]!.hash.indexOf(':') + 1);
    const consent = await app.graphql(service, `mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "crm" }) { id } }`, { c: id }, { 'x-request-id': `req-${digest}`.slice(0, 64) });
    expect(consent.body.errors).toBeUndefined();
    const hex = Buffer.from(digest, 'base64url').toString('hex');
    const reader = await app.token(['customer:read'], 'agent-request-hash');
    // In hex, and split by a dot, an underscore, a dash or in chunks (the next regression probe: the split forms were kept).
    const forms = [hex, `${digest.slice(0, 21)}.${digest.slice(21)}`, `r_${digest.slice(0, 20)}_${digest.slice(20)}`, `${digest.slice(0, 20)}-${digest.slice(20)}`, digest.match(/.{1,11}/g)!.join('.')];
    for (const form of forms) {
      const read = await app.graphql(reader, `query($id: ID!) { customer(id: $id) { id } }`, { id }, { 'x-request-id': form });
      expect(read.body.errors).toBeUndefined();
      expect(app.logs.text(), form).not.toContain(form);
    }
    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id, type: 'CONSENT_RECORDED' }).toArray();
    expect(events.map((e) => e['requestId'])).toEqual([expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-/)]);
    expect(app.logs.text()).not.toContain(digest);
    expect(app.logs.text()).not.toContain(hex);
  });

  // A regression probe: request ids with the digest's `-` and `_` swapped, taken out or written as `.`, and an operation
  // name with them taken out, were logged and kept in CONSENT_RECORDED; so was a digest under a prior key version.
  it("replaces a request id and drops an operation name that hold a digest with its separators swapped or taken out, or under a prior key version", async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-digest-forms');
    const register = async (a: TestApp) => {
      const res = await a.graphql<{ registerCustomer: { id: string; identifiers: Array<{ hash: string }> } }>(
        await a.token(SERVICE_SCOPES, 'svc-digest-forms'), `mutation($input: RegisterCustomerInput!) { registerCustomer(input: $input) { id identifiers { hash } } }`, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('digest-forms') }] } },
      );
      expect(res.body.errors).toBeUndefined();
      const { hash } = res.body.data!.registerCustomer.identifiers[0]!;
      return { id: res.body.data!.registerCustomer.id, digest: hash.slice(hash.indexOf(':') + 1) };
    };
    const formsOf = (digest: string) => {
      const bare = digest.replace(/[-_]/g, '');
      return [digest.replace(/[-_]/g, (c) => (c === '-' ? '_' : '-')), bare, digest.replace(/[-_]/g, '.'), `req${bare}`, bare.toLowerCase(), `req_${bare.toUpperCase()}`];
    };
    // Three digests in four hold a `-` or `_` inside. About one in a hundred reads too little like random text in one of
    // these forms for the shape check (test/unit/bare-digest.test.ts measures how many): this checks the wiring.
    let customer = await register(app);
    for (let i = 0; i < 40 && !(/[-_]/.test(customer.digest.slice(1, -1)) && formsOf(customer.digest).every(mayHoldBareDigest)); i++) customer = await register(app);
    const { id, digest } = customer;
    expect(digest.slice(1, -1)).toMatch(/[-_]/);
    const forms = formsOf(digest);
    for (const form of forms) {
      const consent = await app.graphql(service, `mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["analytics"], source: "crm" }) { id } }`, { c: id }, { 'x-request-id': form });
      expect(consent.body.errors, form).toBeUndefined();
    }
    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id, type: 'CONSENT_RECORDED' }).toArray();
    expect(events.map((e) => e['requestId'])).toEqual(forms.map(() => expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-/)));
    const agent = await app.token(['customer:read'], 'agent-digest-forms');
    const names = [`Q_${digest.replace(/[-_]/g, '')}`, `Q_${digest.replace(/-/g, '_')}`, `q_${digest.replace(/[-_]/g, '').toLowerCase()}`];
    for (const name of names) {
      const res = await app.graphql(agent, `query ${name} { __typename }`, undefined);
      expect(res.status).toBe(200);
    }
    // Under a prior key version: a customer registered by a replica whose current version is new is filed under it,
    // with the old version's hash in priorHashes.
    const v9 = (await generateDevKeys()).identityHmacKeys.replace(/^v1:/, 'v9:');
    const rotated = await startTestApp({ shareStoresWith: app, env: { IDENTITY_HMAC_KEYS: `${v9},${app.keys.identityHmacKeys}` } });
    let prior = '';
    try {
      const filed = await register(rotated);
      const record = await app.app.mongo.db.collection('identifiers').findOne({ customerId: filed.id });
      // In hex: as it is, it reads as random base64, which is replaced whatever it names (mayHoldBareDigest).
      prior = Buffer.from((record!['priorHashes'] as string[]).find((hash) => hash.startsWith('v1:'))!.slice(3), 'base64url').toString('hex');
      for (const replica of [app, rotated]) {
        const read = await replica.graphql(await replica.token(['customer:read'], 'agent-prior'), `query($id: ID!) { customer(id: $id) { id } }`, { id: filed.id }, { 'x-request-id': prior });
        expect(read.body.errors).toBeUndefined();
      }
      expect(rotated.logs.text()).not.toContain(prior);
    } finally {
      await rotated.stop();
    }
    // A CRM id's skeleton hash, in hex.
    const crm = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: aCrmId() }] } });
    const skeleton = await app.app.mongo.db.collection('identifiers').findOne({ customerId: crm.body.data!.registerCustomer.id });
    const skeletonHex = Buffer.from(String(skeleton!['skeletonHash']).replace(/^[^:]*:/, ''), 'base64url').toString('hex');
    await app.graphql(agent, `query($id: ID!) { customer(id: $id) { id } }`, { id: crm.body.data!.registerCustomer.id }, { 'x-request-id': skeletonHex });
    // What is no digest is kept: a UUID, SHA-256 hex of anything else, a long operation name in camel case.
    const kept = ['123e4567-e89b-12d3-a456-426614174000', randomBytes(32).toString('hex'), 'GetCustomerConsentHistoryAndContextSnapshotForAgentConsoleV2'];
    for (const form of kept) await app.graphql(agent, `query GetCustomerConsentHistoryAndContextSnapshotForAgentConsoleV2 { __typename }`, undefined, { 'x-request-id': form });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const text = app.logs.text();
    for (const form of [...forms, ...names, prior, skeletonHex]) expect(text, form).not.toContain(form);
    for (const form of kept) expect(text, form).toContain(form);
  });

  // The stored-identifier screen read words only between separators: a stored address written in camel case passed as
  // a later request's id and operation name, and was logged (a probe).
  it('reads words run together in camel case when it screens a request id or operation name for stored addresses', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-camel');
    const tag = randomBytes(3).toString('hex').replace(/\d/g, 'q');
    const Tag = `${tag[0]!.toUpperCase()}${tag.slice(1)}`;
    const addresses = [`mary.smith.${tag}.k9@example.org`, `zq.leak.${tag}.7731@example.com`];
    const registered = await app.graphql(service, REGISTER, { input: { identifiers: addresses.map((value) => ({ kind: 'EMAIL', value })) } });
    expect(registered.body.errors).toBeUndefined();
    const camel = [`MarySmith${Tag}K9ExampleOrg`, `zqLeak${Tag}7731ExampleCom`, `Mary_Smith${Tag}K9_ExampleOrg`];
    const agent = await app.token(['customer:read'], 'agent-camel');
    for (const name of camel) {
      const res = await fetch(app.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json', 'x-request-id': name },
        body: JSON.stringify({ query: `query ${name} { __typename }`, operationName: name }),
      });
      expect(res.status).toBe(200);
    }
    // A name in camel case that spells no stored address is kept.
    const kept = await app.graphql(agent, 'query CustomerCardQuery { __typename }', undefined, { 'x-request-id': 'CustomerCardQuery7' });
    expect(kept.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const text = app.logs.text();
    for (const name of camel) expect(text).not.toContain(name);
    expect(text).toContain('CustomerCardQuery7');
  });

  // Neither an x-request-id nor an operation name can hold a `+`, nor an operation name a `-`: a plus-tagged address
  // written with another separator for its `+`, and a CRM id with its separators written as `_` or `.`, were logged
  // and kept in audit events (a probe).
  it('finds a stored plus-tagged address and a CRM id written with other separators in a request id or operation name', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-separators');
    const tag = randomBytes(3).toString('hex').replace(/\d/g, 'q');
    const TAG = tag.toUpperCase();
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: `Zq.Leak${tag}+news@Example.ORG` }, { kind: 'CRM_ID', value: `CRM-${TAG}-7731` }] },
    });
    expect(registered.body.errors).toBeUndefined();
    const id = registered.body.data!.registerCustomer.id;
    const agent = await app.token(['customer:read'], 'agent-separators');
    const named = [
      [`Zq.Leak${tag}.news.Example.ORG`, 'Plain'],
      [`zq-leak${tag}-news-example-org`, `zq_leak${tag}_news_example_org`],
      [`CRM.${TAG}.7731`, `CRM_${TAG}_7731`],
      [`crm_${tag}_7731`, 'Other'],
      // Leading words used up a cap on such forms in all (a regression probe).
      [`a.b.c.d.e.f.zq.leak${tag}.news.example.org`, `a_b_c_d_e_f_g_h_crm_${tag}_7731`],
      [`x.y.z.w.v.u.t.s.r.q.p.o.n.crm.${tag}.7731`, 'Padded'],
      // And trailing words used up a budget from each start (a second regression round).
      [`zq.leak${tag}.news.example.org.lookup.retry`, `zq_leak${tag}_news_example_org_lookup_retry`],
    ];
    for (const [requestId, operation] of named) {
      const res = await fetch(app.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json', 'x-request-id': requestId! },
        body: JSON.stringify({ query: `query ${operation} { customer(id: "${id}") { id } }`, operationName: operation }),
      });
      expect(res.status).toBe(200);
    }
    // A request id that only looks like them is kept.
    const kept = await app.graphql(agent, 'query Kept { __typename }', undefined, { 'x-request-id': `CRM_${TAG}_7732` });
    expect(kept.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(app.logs.text()).toContain(`CRM_${TAG}_7732`);
    const text = app.logs.text().toLowerCase();
    expect(text).not.toContain(`leak${tag}`);
    expect(text).not.toContain(`${tag}_7731`);
    expect(text).not.toContain(`${tag}.7731`);
    const events = await app.app.mongo.db.collection('audit_events').find({ chain: id }).toArray();
    for (const event of events) expect(String(event['requestId']).toLowerCase()).not.toContain(tag);
  });

  // A UUID was taken unscreened: one spelling a stored phone number in its digit groups was logged and kept in the
  // IDENTITY_RESOLUTION event, after an erasure too (a probe).
  it('screens a UUID or traceparent whose digit groups could spell a phone number, and keeps one that cannot', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-uuid');
    const phone = aPhone();
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'PHONE', value: phone }] } });
    const id = registered.body.data!.registerCustomer.id;
    const digits = phone.slice(1);
    const named = [
      `00000000-0000-4000-8000-${digits}`,
      `${digits.slice(0, 8)}-${digits.slice(8)}-4000-8000-000000000000`,
      `00-${'0'.repeat(20)}${digits}-${'a'.repeat(16)}-01`,
      // Inside the digit groups, starting and ending where no group does (a regression probe).
      `11${digits.slice(0, 6)}-${digits.slice(6, 10)}-${digits.slice(10)}11-abcd-efabcdefabcd`,
      `a1${digits.slice(0, 6)}-${digits.slice(6, 10)}-${digits.slice(10)}1a-bcde-fabcdefabcde`,
    ];
    const agent = await app.token(['customer:read'], 'agent-uuid');
    for (const requestId of named) {
      const res = await app.graphql(agent, `query { customer(id: "${id}") { id } }`, undefined, { 'x-request-id': requestId });
      expect(res.status).toBe(200);
      // Echoed to its caller all the same (a traceparent like this one is refused by its shape before: not echoed).
      if (!requestId.startsWith('00-')) expect(res.headers.get('x-request-id')).toBe(requestId);
    }
    const uuid = 'a3bb189e-8bf9-4888-9912-ace4e6543002';
    expect((await app.graphql(agent, '{ __typename }', undefined, { 'x-request-id': uuid })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const text = app.logs.text();
    expect(text).not.toContain(digits);
    expect(text).toContain(uuid);
  });

  // Only plain forms were read: a stored address, phone number and CRM id in base64 or hex, as request ids and
  // operation names, were logged, and the base64 of an address being registered was kept as its event's request id
  // (a probe).
  it('reads a request id or operation name that is, whole, base64 or hex of text as that text', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-encoded');
    const tag = randomBytes(3).toString('hex');
    const [email, phone, crmId] = [`qz.enc.${tag}@example.com`, aPhone(), `QZENC${tag.toUpperCase()}`];
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: phone }, { kind: 'CRM_ID', value: crmId }] },
    });
    const id = registered.body.data!.registerCustomer.id;
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const hex = (text: string) => Buffer.from(text).toString('hex');
    const crmHex = hex(crmId).padEnd(32, '0');
    // `echo address | base64` ends the text in a newline (a regression probe).
    const requestIds = [b64(email), b64(`${email}\n`), b64(` ${crmId} `), b64(phone), b64(crmId), hex(phone), hex(crmId), `${crmHex.slice(0, 8)}-${crmHex.slice(8, 12)}-${crmHex.slice(12, 16)}-${crmHex.slice(16, 20)}-${crmHex.slice(20)}`];
    const agent = await app.token(['customer:read'], 'agent-encoded');
    for (const requestId of requestIds) {
      expect((await app.graphql(agent, `query { customer(id: "${id}") { id } }`, undefined, { 'x-request-id': requestId })).status).toBe(200);
    }
    const operation = Buffer.from(crmId).toString('base64').replace(/=+$/, '');
    const named = await fetch(app.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: `query ${operation} { customer(id: "${id}") { id } }`, operationName: operation }),
    });
    expect(named.status).toBe(200);
    // The base64 of an address being registered, as that registration's request id.
    const fresh = `qz.fresh.${tag}@example.com`;
    const second = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: fresh }] } }, { 'x-request-id': b64(fresh) });
    const event = await app.app.mongo.db.collection('audit_events').findOne({ chain: second.body.data!.registerCustomer.id, type: 'CUSTOMER_REGISTERED' });
    expect(event!['requestId']).not.toBe(b64(fresh));
    // Base64 that decodes to no identifier is kept.
    const kept = b64(`trace ${tag} ok`);
    expect((await app.graphql(agent, '{ __typename }', undefined, { 'x-request-id': kept })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const text = app.logs.text();
    for (const encoded of [...requestIds, operation, b64(fresh)]) expect(text).not.toContain(encoded);
    expect(text).toContain(kept);
  });

  it('tells every cache to store no answer: GraphQL over GET and POST, health, metrics', async () => {
    const agent = await app.token(['customer:read'], 'agent-cache');
    const get = await fetch(`${app.baseUrl}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { authorization: `Bearer ${agent}`, 'apollo-require-preflight': 'true' },
    });
    expect(get.status).toBe(200);
    expect(get.headers.get('cache-control')).toBe('no-store');
    const post = await app.graphql(agent, '{ __typename }');
    expect(post.headers.get('cache-control')).toBe('no-store');
    // A persisted query, which Apollo answers with cache headers of its own.
    const miss = await fetch(`${app.baseUrl}/graphql?extensions=${encodeURIComponent(JSON.stringify({ persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } }))}`, {
      headers: { authorization: `Bearer ${agent}`, 'apollo-require-preflight': 'true' },
    });
    expect(((await miss.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    expect(miss.headers.get('cache-control')).toBe('no-store');
    for (const route of ['/health/live', '/metrics']) expect((await fetch(`${app.baseUrl}${route}`)).headers.get('cache-control'), route).toBe('no-store');
  });

  it('adds the requestId once to lines from loggers that do not carry it', () => {
    const capture = new LogCapture();
    const logger = createLogger('info', capture.stream);
    runInRequestScope({ requestId: 'req-1' }, () => {
      logger.info('from a process-wide service');
      logger.child({ requestId: 'req-1' }).info('from the request logger');
    });
    logger.info('outside any request');
    expect(capture.lines).toHaveLength(3);
    const [service, child, outside] = capture.lines;
    expect(JSON.parse(service!)).toMatchObject({ requestId: 'req-1' });
    expect(child!.match(/"requestId"/g)).toHaveLength(1);
    expect(JSON.parse(outside!)).not.toHaveProperty('requestId');
  });

  it('redacts authorization headers, tokens and identifier values handed to the logger', () => {
    const capture = new LogCapture();
    const logger = createLogger('info', capture.stream);
    const email = anEmail();
    logger.info({
      req: { headers: { authorization: 'Bearer secret-token', cookie: 'sid=secret-cookie' } },
      input: { identifier: { kind: 'EMAIL', value: email } },
      identifier: { value: email },
      variables: { value: email },
      token: 'secret-session-token',
      email,
    }, 'careless line');
    const text = capture.text();
    for (const secret of ['secret-token', 'secret-cookie', email, 'secret-session-token']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });
});

describe('metrics', () => {
  async function scrape(): Promise<string> {
    const res = await fetch(`${app.baseUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return res.text();
  }

  it('exposes request counts and latency by operation, policy outcomes by reason, audit and store failures', async () => {
    const text = await scrape();
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).toMatch(/veil_http_requests_total\{route="\/graphql",status="200"\} [1-9]/);
    expect(text).toMatch(/veil_http_requests_total\{route="\/graphql",status="401"\} [1-9]/);
    expect(text).toMatch(/veil_graphql_operations_total\{operation="resolveCustomer",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/veil_graphql_operations_total\{operation="resolveCustomer",outcome="error"\} [1-9]/);
    expect(text).toMatch(/veil_graphql_operation_duration_seconds_count\{operation="resolveCustomer"\} [1-9]/);
    expect(text).toMatch(/veil_graphql_errors_total\{code="BAD_USER_INPUT"\} [1-9]/);
    expect(text).toMatch(/veil_policy_outcomes_total\{outcome="masked",reason=""\} [1-9]/);
    expect(text).toMatch(/veil_policy_outcomes_total\{outcome="withheld",reason="MISSING_SCOPE"\} [1-9]/);
    expect(text).toMatch(/veil_rate_limit_decisions_total\{operation="resolveCustomer",outcome="allowed"\} [1-9]/);
    expect(text).toMatch(/^veil_audit_write_failures_total 0$/m);
    expect(text).toContain('# TYPE veil_store_errors_total counter');
  });

  it('counts failed MongoDB commands as store errors with MONGODB_COMMAND_MONITORING, and monitors no command without it', async () => {
    const count = (text: string) => Number(/veil_store_errors_total\{store="mongodb",kind="command"\} (\d+)/.exec(text)?.[1] ?? 0);
    const before = await scrape();
    await expect(app.app.mongo.db.command({ noSuchCommandAtAll: 1 })).rejects.toThrow();
    expect(count(await scrape())).toBe(count(before));
    const monitored = await startTestApp({ env: { MONGODB_COMMAND_MONITORING: 'true' } });
    try {
      const scrapeMonitored = async () => (await fetch(`${monitored.baseUrl}/metrics`)).text();
      const first = await scrapeMonitored();
      await expect(monitored.app.mongo.db.command({ noSuchCommandAtAll: 1 })).rejects.toThrow();
      expect(count(await scrapeMonitored())).toBe(count(first) + 1);
    } finally {
      await monitored.stop();
    }
  });

  it('labels operations by the root field they select, never by the caller-chosen name', () => {
    const labelOf = (source: string) => {
      const document = parse(source);
      return operationLabel(document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition'), document);
    };
    expect(labelOf('query Lookup_447700900123 { customer(id: "x") { id } }')).toBe('customer');
    expect(labelOf('{ a: customer(id: "x") { id } b: customer(id: "y") { id } }')).toBe('customer');
    expect(labelOf('query Q { ...F } fragment F on Query { ... on Query { _entities(representations: []) { __typename } } }')).toBe('_entities');
    expect(labelOf('{ customer(id: "x") { id } _service { sdl } }')).toBe('multiple');
    expect(labelOf('query Q { ...F } fragment F on Query { ...F }')).toBe('none');
    expect(operationLabel(undefined, undefined)).toBe('none');
  });

  it("gives an operation name's screen what is left of the request's screening budget, and records it once it is known", async () => {
    // A store that answers in 50 ms (that the name names nobody).
    const screen = new NameScreen(() => new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50)));
    // The x-request-id screen used the budget up (a hung MongoDB): the name is not waited for (it was, for another
    // 250 ms of its own; a probe).
    expect(await screen.clear('CardLookup', 0)).toBe(false);
    // The screen went on, and the name is known from then on.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await screen.clear('CardLookup', 0)).toBe(true);
    // With budget left, a new name is waited for.
    expect(await screen.clear('ProfileCard', 250)).toBe(true);
    expect(screen.knownVerdict('ProfileCard')).toBe(false);
  });

  it('remembers both verdicts, for a while, and forgets them when an identifier is filed', async () => {
    let lookups = 0;
    const screen = new NameScreen(
      async (name) => {
        lookups += 1;
        return name === 'CUST_1fddf0X';
      },
      { rememberMs: 200 },
    );
    expect(screen.knownVerdict('CardLookup')).toBeUndefined();
    expect(await screen.clear('CardLookup', 250)).toBe(true);
    expect(screen.knownVerdict('CardLookup')).toBe(false);
    // A name that is a stored identifier is remembered too: screened on every request, it cost a `find` each time,
    // which a caller could time (a probe).
    expect(await screen.clear('CUST_1fddf0X', 250)).toBe(false);
    expect(await screen.clear('CUST_1fddf0X', 250)).toBe(false);
    expect(screen.knownVerdict('CUST_1fddf0X')).toBe(true);
    expect(lookups).toBe(2);
    // Both verdicts are answered from memory alike; an unknown name has none.
    expect([screen.knownVerdict('CardLookup'), screen.knownVerdict('CUST_1fddf0X'), screen.knownVerdict('Other')]).toEqual([false, true, undefined]);
    // Kept under a keyed hash, never as the name.
    expect(JSON.stringify([...(screen as unknown as { verdicts: Map<string, unknown> }).verdicts.keys()])).not.toContain('CUST_1fddf0X');
    // An identifier filed by this process: every verdict is screened again.
    screen.forget();
    expect(screen.knownVerdict('CardLookup')).toBeUndefined();
    expect(await screen.clear('CardLookup', 250)).toBe(true);
    expect(lookups).toBe(3);
    // And after rememberMs (other replicas file identifiers too).
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(screen.knownVerdict('CardLookup')).toBeUndefined();
    // A screen that fails (MongoDB down) clears nothing and is not remembered.
    const failing = new NameScreen(() => Promise.reject(new Error('down')));
    expect(await failing.clear('CardLookup', 250)).toBe(false);
    expect(failing.knownVerdict('CardLookup')).toBeUndefined();
  });

  it("keeps a customer's CRM id used as an operation name out of the log line and the labels", async () => {
    // Shaped like any operation name, so only a screen against the stored identifiers can tell (a probe).
    const crmId = `CUST_${Math.random().toString(36).slice(2, 10)}X`;
    const service = await app.token(SERVICE_SCOPES, 'svc-op-name');
    const registered = await app.graphql(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: crmId }] } });
    expect(registered.body.errors).toBeUndefined();
    const agent = await app.token(['customer:read'], 'agent-op-name-crm');
    const from = app.logs.lines.length;
    for (const [name, id] of [[crmId, 'op-crm-1'], [crmId, 'op-crm-2'], ['CardLookup', 'op-crm-3']]) {
      const res = await app.graphql(agent, `query ${name} { __typename }`, undefined, { 'x-request-id': id! });
      expect(res.status).toBe(200);
    }
    // Refused before Apollo ran it, the name reaches only the log line, which screens it too.
    await app.graphql(agent, `query ${crmId} { __typename`, undefined, { 'x-request-id': 'op-crm-4' });
    const lines = app.logs.lines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
    const completed = (id: string) => lines.find((l) => l['requestId'] === id && l['msg'] === 'request completed');
    expect(completed('op-crm-1')?.['operationName']).toBeNull();
    expect(completed('op-crm-2')?.['operationName']).toBeNull();
    expect(completed('op-crm-3')?.['operationName']).toBe('CardLookup');
    expect(completed('op-crm-4')?.['operationName']).toBeNull();
    expect(app.logs.text()).not.toContain(crmId);
    const metrics = await (await fetch(`${app.baseUrl}/metrics`)).text();
    expect(metrics).not.toContain(crmId);
    expect(metrics).not.toContain('CardLookup');
  });

  it('stops logging a cleared operation name once it is registered as a CRM id, and screens a stored one once', async () => {
    const crmId = `CUST_${Math.random().toString(36).slice(2, 10)}Y`;
    const agent = await app.token(['customer:read'], 'agent-op-name-later');
    const run = async (id: string) => {
      expect((await app.graphql(agent, `query ${crmId} { __typename }`, undefined, { 'x-request-id': id })).status).toBe(200);
      // The log line waits for the screen after the response: let it be written.
      await new Promise((resolve) => setTimeout(resolve, 100));
    };
    // UUIDs that are taken unscreened (no seven digits in a row): the only `identifiers` finds are the name's screens.
    const traceId = (): string => {
      const id = randomUUID();
      return /\d(?:-?\d){6}/.test(id) ? traceId() : id;
    };
    const ids = [traceId(), traceId(), traceId(), traceId()] as const;
    await run(ids[0]);
    const service = await app.token(SERVICE_SCOPES, 'svc-op-name-later');
    expect((await app.graphql(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: crmId }] } })).body.errors).toBeUndefined();
    const lookupsBefore = app.mongoCommands.filter((c) => c.commandName === 'find' && c.command['find'] === 'identifiers').length;
    for (const id of ids.slice(1)) await run(id);
    const lines = app.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const completed = (id: string) => lines.find((l) => l['requestId'] === id && l['msg'] === 'request completed');
    expect(completed(ids[0])?.['operationName']).toBe(crmId);
    for (const id of ids.slice(1)) expect(completed(id)?.['operationName']).toBeNull();
    // One screen of the name after the registration, not one per request.
    const lookups = app.mongoCommands.filter((c) => c.commandName === 'find' && c.command['find'] === 'identifiers').length - lookupsBefore;
    expect(lookups).toBe(1);
  });

  it('tells the screens when an identifier is filed, before and after it is stored', async () => {
    // A screen that ran between a notice before the insert and the insert found nothing, and kept that (a probe).
    let notices = 0;
    app.app.services.customers.onIdentifierFiling(() => (notices += 1));
    const service = await app.token(SERVICE_SCOPES, 'svc-filing-notice');
    expect((await app.graphql(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: aCrmId() }] } })).body.errors).toBeUndefined();
    expect(notices).toBe(2);
  });

  it("gives a caller with no scopes no way to test guessed CRM ids through /metrics", async () => {
    // A stored CRM id as the operation name became `other` while any other name got its own label: /metrics, which
    // needs no token, confirmed guesses (a probe).
    const crmId = `VICTIMCRM${Math.random().toString().slice(2, 8)}`;
    const service = await app.token(SERVICE_SCOPES, 'svc-op-oracle');
    expect((await app.graphql(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: crmId }] } })).body.errors).toBeUndefined();
    const nobody = await app.token([], 'nobody-op-oracle');
    const before = await (await fetch(`${app.baseUrl}/metrics`)).text();
    const guess = `NOTREGISTERED${Math.random().toString().slice(2, 8)}`;
    for (const name of [crmId, guess]) expect((await app.graphql(nobody, `query ${name} { __typename }`)).status).toBe(200);
    const after = await (await fetch(`${app.baseUrl}/metrics`)).text();
    expect(after).not.toContain(crmId);
    expect(after).not.toContain(guess);
    const typenameOk = (text: string) => Number(/veil_graphql_operations_total\{operation="__typename",outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
    expect(typenameOk(after) - typenameOk(before)).toBe(2);
  });
});
