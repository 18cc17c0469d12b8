/**
 * The acceptance cases of the field-policy issue, exactly as written there,
 * against a real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aJaneEmail, registerJane, type SeededCustomer } from './policy-fixtures.js';
import { SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let jane: SeededCustomer;
let agent: string;

const CUSTOMER = `query($id: ID!) {
  customer(id: $id) {
    id displayName email phone
    identifiers { kind hash }
    consentHistory { version }
    auditTrail { edges { node { id } } }
  }
}`;

beforeAll(async () => {
  app = await startTestApp();
  // Each test app has its own database, so the contract's example number is free here.
  jane = await registerJane(app, await app.token(SERVICE_SCOPES, 'svc-crm'), { email: aJaneEmail(), phone: '+447700900123', displayName: 'Jane Doe' });
  agent = await app.token(['customer:read'], 'agent-alex');
});
afterAll(async () => {
  await app?.stop();
});

describe('an agent with customer:read', () => {
  it('sees j***@example.com, +********0123 and Jane D.', async () => {
    const res = await app.graphql<{ customer: Record<string, unknown> }>(agent, `query($id: ID!) { customer(id: $id) { displayName email phone } }`, { id: jane.id });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.customer).toEqual({ displayName: 'Jane D.', email: 'j***@example.com', phone: '+********0123' });
  });

  it('sees the same masks when a router resolves the customer through _entities', async () => {
    const res = await app.graphql<{ _entities: Array<Record<string, unknown>> }>(
      agent,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { displayName email phone } } }`,
      { r: [{ __typename: 'Customer', id: jane.id }] },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!._entities).toEqual([{ displayName: 'Jane D.', email: 'j***@example.com', phone: '+********0123' }]);
  });

  it('sees the same masks on the customer an identity resolution returns', async () => {
    const res = await app.graphql<{ resolveCustomer: { customer: Record<string, unknown> } }>(
      agent,
      `query($v: String!) { resolveCustomer(input: { identifier: { kind: PHONE, value: $v }, channel: VOICE }) { customer { displayName email phone } } }`,
      { v: '+44 7700 900123' },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.resolveCustomer.customer).toEqual({ displayName: 'Jane D.', email: 'j***@example.com', phone: '+********0123' });
  });

  it('gets identifiers, consentHistory and auditTrail withheld with MISSING_SCOPE, each at its own path', async () => {
    const res = await app.graphql<{ customer: Record<string, unknown> }>(agent, CUSTOMER, { id: jane.id });
    expect(res.status).toBe(200);
    expect(res.body.data!.customer).toEqual({
      id: jane.id,
      displayName: 'Jane D.',
      email: 'j***@example.com',
      phone: '+********0123',
      identifiers: null,
      consentHistory: null,
      auditTrail: null,
    });
    const withheld = (res.body.errors ?? []).map((e) => ({ path: e.path, code: e.extensions?.['code'], reason: e.extensions?.['reason'] }));
    expect(withheld).toEqual(
      expect.arrayContaining([
        { path: ['customer', 'identifiers'], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' },
        { path: ['customer', 'consentHistory'], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' },
        { path: ['customer', 'auditTrail'], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' },
      ]),
    );
    expect(withheld).toHaveLength(3);
  });

  it('gets no raw identifier in any withheld-field error message', async () => {
    const res = await app.graphql(agent, CUSTOMER, { id: jane.id });
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(jane.email);
    expect(text).not.toContain('447700900123');
  });
});

describe('a token without customer:read', () => {
  it('gets FORBIDDEN with MISSING_SCOPE on customer and no customer data', async () => {
    const res = await app.graphql<{ customer: unknown }>(await app.token(['context:read', 'consent:read'], 'agent-no-customer'), CUSTOMER, { id: jane.id });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ customer: null });
    expect(res.body.errors?.map((e) => ({ path: e.path, code: e.extensions?.['code'], reason: e.extensions?.['reason'] }))).toEqual([
      { path: ['customer'], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' },
    ]);
  });
});
