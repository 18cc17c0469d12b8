/**
 * PII access grants ("break-glass"): request, two-person approval, clear
 * reads with their audit events, scoping to one agent and one customer, and
 * expiry, against real MongoDB-compatible and Redis servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskedEmailOf, maskedPhoneOf, registerJane, type SeededCustomer } from './policy-fixtures.js';
import { aCrmId, anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

const MAX_TTL_SECONDS = 60;
const DEFAULT_TTL_SECONDS = 30;

let app: TestApp;
let jane: SeededCustomer;
let other: SeededCustomer;

interface Grant {
  id: string;
  customerId: string;
  fields: string[];
  status: string;
  expiresAt: string;
  requestedBy: string;
  approvedBy: string | null;
  justification: string;
}

const REQUEST = `mutation($input: PiiAccessRequestInput!) {
  requestPiiAccess(input: $input) { id customerId fields status expiresAt requestedBy approvedBy justification }
}`;
const APPROVE = `mutation($id: ID!) { approvePiiAccess(grantId: $id) { id status approvedBy requestedBy } }`;
const PII = `query($id: ID!) { customer(id: $id) { displayName email phone } }`;

beforeAll(async () => {
  app = await startTestApp({ env: { PII_GRANT_TTL_SECONDS: String(DEFAULT_TTL_SECONDS), PII_GRANT_MAX_TTL_SECONDS: String(MAX_TTL_SECONDS) } });
  const service = await app.token(SERVICE_SCOPES, 'svc-crm');
  jane = await registerJane(app, service);
  other = await registerJane(app, service, { displayName: 'Ada Lovelace King' });
});
afterAll(async () => {
  await app?.stop();
});

const agentToken = (sub: string) => app.token(['customer:read', 'pii:read'], sub);
const approverToken = (sub = 'supervisor-kim') => app.token(['customer:read', 'pii:approve'], sub);

async function requestGrant(token: string, input: Record<string, unknown>) {
  return app.graphql<{ requestPiiAccess: Grant }>(token, REQUEST, {
    input: { customerId: jane.id, fields: ['EMAIL'], justification: 'Customer asked us to confirm the address on file', ...input },
  });
}

async function piiOf(token: string, customerId: string): Promise<Record<string, unknown>> {
  const res = await app.graphql<{ customer: Record<string, unknown> }>(token, PII, { id: customerId });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.customer;
}

const masksOf = (c: SeededCustomer) => ({
  displayName: c.displayName === 'Jane Doe' ? 'Jane D.' : 'Ada K.',
  email: maskedEmailOf(c.email),
  phone: maskedPhoneOf(c.phone),
});

function errorOf(res: { body: { errors?: Array<{ path?: unknown; extensions?: Record<string, unknown>; message: string }> } }) {
  const [error] = res.body.errors ?? [];
  return { path: error?.path, code: error?.extensions?.['code'], reason: error?.extensions?.['reason'] };
}

describe('requesting PII access', () => {
  it('refuses a caller without pii:read with FORBIDDEN and MISSING_SCOPE', async () => {
    const res = await requestGrant(await app.token(['customer:read'], 'agent-plain'), {});
    expect(res.body.data).toBeNull();
    expect(errorOf(res)).toEqual({ path: ['requestPiiAccess'], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('rejects a blank justification with BAD_USER_INPUT', async () => {
    const res = await requestGrant(await agentToken('agent-blank'), { justification: '   ' });
    expect(errorOf(res).code).toBe('BAD_USER_INPUT');
  });

  it('rejects a justification that contains an email address, without echoing it', async () => {
    const res = await requestGrant(await agentToken('agent-leaky'), { justification: `Customer wrote from ${jane.email} about a refund` });
    expect(errorOf(res).code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(res.body)).not.toContain(jane.email);
    const stored = await app.app.mongo.db.collection('audit_events').find({ customerId: jane.id, type: 'PII_ACCESS_GRANTED' }).toArray();
    expect(JSON.stringify(stored)).not.toContain(jane.email);
  });

  it('rejects a request that names no PII field, or a TTL below one second', async () => {
    const token = await agentToken('agent-sloppy');
    expect(errorOf(await requestGrant(token, { fields: [] })).code).toBe('BAD_USER_INPUT');
    expect(errorOf(await requestGrant(token, { ttlSeconds: 0 })).code).toBe('BAD_USER_INPUT');
  });

  it('caps the TTL at PII_GRANT_MAX_TTL_SECONDS, in the answer and in Redis', async () => {
    const before = Date.now();
    const res = await requestGrant(await agentToken('agent-greedy'), { ttlSeconds: 86_400 });
    expect(res.body.errors).toBeUndefined();
    const grant = res.body.data!.requestPiiAccess;
    const lifetime = new Date(grant.expiresAt).getTime() - before;
    expect(lifetime).toBeGreaterThan((MAX_TTL_SECONDS - 5) * 1000);
    expect(lifetime).toBeLessThanOrEqual(MAX_TTL_SECONDS * 1000 + 1000);
    const pttl = await app.app.redis.pttl(`grant:${grant.id}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(MAX_TTL_SECONDS * 1000);
    // The customer's index of grant keys (for erasure) expires with its longest grant: no key outlives them.
    const index = await app.app.redis.pttl(`grants-of:${grant.customerId}`);
    expect(index).toBeGreaterThan(0);
    expect(index).toBeLessThanOrEqual(MAX_TTL_SECONDS * 1000);
  });

  it('lasts PII_GRANT_TTL_SECONDS when no TTL is asked for', async () => {
    const before = Date.now();
    const res = await requestGrant(await agentToken('agent-default'), {});
    const lifetime = new Date(res.body.data!.requestPiiAccess.expiresAt).getTime() - before;
    expect(lifetime).toBeGreaterThan((DEFAULT_TTL_SECONDS - 5) * 1000);
    expect(lifetime).toBeLessThanOrEqual(DEFAULT_TTL_SECONDS * 1000 + 1000);
  });
});

describe('a DISPLAY_NAME-only grant', () => {
  it('needs a second person like every grant, then shows the name in clear, and nothing else', async () => {
    const token = await agentToken('agent-name');
    const res = await requestGrant(token, { fields: ['DISPLAY_NAME'] });
    expect(res.body.errors).toBeUndefined();
    const grant = res.body.data!.requestPiiAccess;
    expect(grant).toMatchObject({ status: 'PENDING', requestedBy: 'agent-name', approvedBy: null, fields: ['DISPLAY_NAME'] });
    expect(await piiOf(token, jane.id)).toEqual(masksOf(jane));
    const selfApproval = await app.graphql(await app.token(['pii:read', 'pii:approve'], 'agent-name'), APPROVE, { id: grant.id });
    expect(errorOf(selfApproval)).toEqual({ path: ['approvePiiAccess'], code: 'FORBIDDEN', reason: 'ELEVATION_REQUIRED' });
    expect((await app.graphql(await approverToken(), APPROVE, { id: grant.id })).body.errors).toBeUndefined();
    expect(await piiOf(token, jane.id)).toEqual({ ...masksOf(jane), displayName: 'Jane Doe' });
  });
});

describe('two grants read in one request', () => {
  it('writes one PII_ACCESS event naming every field and the reason of each grant', async () => {
    const token = await agentToken('agent-two-grants');
    for (const [fields, justification] of [[['EMAIL'], 'Customer asked us to confirm the address on file'], [['DISPLAY_NAME'], 'Spelling of the name for a refund cheque']] as const) {
      const requested = await requestGrant(token, { fields, justification });
      expect((await app.graphql(await approverToken(), APPROVE, { id: requested.body.data!.requestPiiAccess.id })).body.errors).toBeUndefined();
    }
    const before = new Date();
    expect(await piiOf(token, jane.id)).toEqual({ ...masksOf(jane), displayName: 'Jane Doe', email: jane.email.toLowerCase() });
    const events = await app.app.mongo.db.collection('audit_events').find({ customerId: jane.id, type: 'PII_ACCESS', 'actor.id': 'agent-two-grants', occurredAt: { $gte: before } }).toArray();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      fields: ['DISPLAY_NAME', 'EMAIL'],
      justification: 'Customer asked us to confirm the address on file | Spelling of the name for a refund cheque',
    });
  });
  it("names the call's channel and interaction id on a clear read through resolveCustomer, and not on one through customer(id:)", async () => {
    const token = await agentToken('agent-on-a-call');
    const requested = await requestGrant(token, { fields: ['EMAIL'] });
    expect((await app.graphql(await approverToken(), APPROVE, { id: requested.body.data!.requestPiiAccess.id })).body.errors).toBeUndefined();
    const before = new Date();
    const read = await app.graphql<{ onCall: { customer: { email: string } }; direct: { email: string } }>(
      token,
      `query($v: String!, $id: ID!) {
        onCall: resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: WHATSAPP, interactionId: "wa-conv-77abc" }) { customer { email } }
        direct: customer(id: $id) { email }
      }`,
      { v: jane.email, id: jane.id },
    );
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data).toEqual({ onCall: { customer: { email: jane.email.toLowerCase() } }, direct: { email: jane.email.toLowerCase() } });
    const events = await app.app.mongo.db
      .collection('audit_events')
      .find({ customerId: jane.id, type: { $in: ['PII_ACCESS', 'IDENTITY_RESOLUTION'] }, 'actor.id': 'agent-on-a-call', occurredAt: { $gte: before } })
      .toArray();
    const pick = (e: Record<string, unknown>) => ({ type: e['type'], channel: e['channel'], interactionId: e['interactionId'], fields: e['fields'] });
    expect(events.map(pick).sort((a, b) => `${a.type}${a.channel}`.localeCompare(`${b.type}${b.channel}`))).toEqual([
      { type: 'IDENTITY_RESOLUTION', channel: 'WHATSAPP', interactionId: 'wa-conv-77abc', fields: null },
      { type: 'PII_ACCESS', channel: null, interactionId: null, fields: ['EMAIL'] },
      { type: 'PII_ACCESS', channel: 'WHATSAPP', interactionId: 'wa-conv-77abc', fields: ['EMAIL'] },
    ]);
  });
});

describe('an EMAIL and PHONE grant', () => {
  const requester = 'agent-sam';
  let grant: Grant;

  beforeAll(async () => {
    const res = await requestGrant(await agentToken(requester), { fields: ['EMAIL', 'PHONE'] });
    expect(res.body.errors).toBeUndefined();
    grant = res.body.data!.requestPiiAccess;
  });

  it('waits for a second person: PENDING, and the values stay masked', async () => {
    expect(grant).toMatchObject({ status: 'PENDING', approvedBy: null, requestedBy: requester, customerId: jane.id });
    expect(await piiOf(await agentToken(requester), jane.id)).toEqual(masksOf(jane));
  });

  it('cannot be approved by its requester, even one holding pii:approve: FORBIDDEN with ELEVATION_REQUIRED', async () => {
    const selfApprover = await app.token(['customer:read', 'pii:read', 'pii:approve'], requester);
    const res = await app.graphql(selfApprover, APPROVE, { id: grant.id });
    expect(res.body.data).toBeNull();
    expect(errorOf(res)).toEqual({ path: ['approvePiiAccess'], code: 'FORBIDDEN', reason: 'ELEVATION_REQUIRED' });
    expect(await piiOf(await agentToken(requester), jane.id)).toEqual(masksOf(jane));
  });

  it("cannot be approved by the requester's subject in another case or compatibility form", async () => {
    // Identity providers whose user names ignore case issue `agent-a` and `Agent-A` for one person (a probe).
    for (const variant of [requester.toUpperCase(), requester.replace(/^./, (c) => c.toUpperCase()), requester.replace('-', '\uFF0D'), requester.replace('-', '\u2010')]) {
      const res = await app.graphql(await app.token(['pii:approve'], variant), APPROVE, { id: grant.id });
      expect(errorOf(res)).toEqual({ path: ['approvePiiAccess'], code: 'FORBIDDEN', reason: 'ELEVATION_REQUIRED' });
    }
    expect(await piiOf(await agentToken(requester), jane.id)).toEqual(masksOf(jane));
  });

  it('cannot be approved by a caller without pii:approve', async () => {
    const res = await app.graphql(await agentToken('agent-peer'), APPROVE, { id: grant.id });
    expect(errorOf(res)).toEqual({ path: ['approvePiiAccess'], code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(res.body.errors?.[0]?.message).toBe('Not authorised to call Mutation.approvePiiAccess: a required scope is missing');
  });

  it('once approved by another person, shows the requester the clear values and writes a PII_ACCESS event naming the fields', async () => {
    const approved = await app.graphql<{ approvePiiAccess: { status: string; approvedBy: string } }>(await approverToken(), APPROVE, { id: grant.id });
    expect(approved.body.errors).toBeUndefined();
    expect(approved.body.data!.approvePiiAccess).toMatchObject({ status: 'APPROVED', approvedBy: 'supervisor-kim' });

    const events = app.app.mongo.db.collection('audit_events');
    const before = await events.countDocuments({ customerId: jane.id, type: 'PII_ACCESS' });
    const seen = await piiOf(await agentToken(requester), jane.id);
    expect(seen).toEqual({ displayName: 'Jane D.', email: jane.email, phone: jane.phone });

    const reads = await events.find({ customerId: jane.id, type: 'PII_ACCESS' }).toArray();
    expect(reads).toHaveLength(before + 1);
    const read = reads.find((e) => (e['actor'] as { id: string }).id === requester);
    expect(read).toMatchObject({ customerId: jane.id, fields: ['EMAIL', 'PHONE'], actor: { kind: 'AGENT', id: requester } });
    // The event names fields, never their values.
    expect(JSON.stringify(reads)).not.toContain(jane.email);
    expect(JSON.stringify(reads)).not.toContain(jane.phone.slice(1));

    const granted = await events.findOne({ customerId: jane.id, type: 'PII_ACCESS_GRANTED', 'details.grantId': grant.id });
    expect(granted).toMatchObject({ fields: ['EMAIL', 'PHONE'] });
    const index = await app.app.redis.pttl(`grants-of:${jane.id}`);
    expect(index).toBeGreaterThan(0);
    expect(index).toBeLessThanOrEqual(MAX_TTL_SECONDS * 1000);
  });

  it('reads the clear values with one find on customers (the wrapped data key comes with them) and one audit insert', async () => {
    const token = await agentToken(requester);
    app.resetCommands();
    expect(await piiOf(token, jane.id)).toEqual({ displayName: 'Jane D.', email: jane.email, phone: jane.phone });
    const commands = app.mongoCommands.map((c) => `${c.commandName} ${String(c.command[c.commandName])}`);
    expect(commands.sort()).toEqual(['find customers', 'insert audit_events']);
  });

  it('fails only the field whose ciphertext was altered in the store, not the whole read', async () => {
    const customers = app.app.mongo.db.collection('customers');
    const stored = await customers.findOne({ _id: jane.id as never });
    const ct = Buffer.from((stored!['encrypted'] as { EMAIL: { ct: { buffer: Uint8Array } } }).EMAIL.ct.buffer);
    const altered = Buffer.from(ct);
    altered[0] = altered[0]! ^ 0xff;
    await customers.updateOne({ _id: jane.id as never }, { $set: { 'encrypted.EMAIL.ct': altered } });
    try {
      const res = await app.graphql<{ customer: Record<string, unknown> }>(await agentToken(requester), PII, { id: jane.id });
      expect(res.body.data!.customer).toMatchObject({ email: null, phone: jane.phone, displayName: 'Jane D.' });
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors![0]).toMatchObject({ path: ['customer', 'email'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    } finally {
      await customers.updateOne({ _id: jane.id as never }, { $set: { 'encrypted.EMAIL.ct': ct } });
    }
    expect(await piiOf(await agentToken(requester), jane.id)).toEqual({ displayName: 'Jane D.', email: jane.email, phone: jane.phone });
  });

  it('does not write a PII_ACCESS event for a read that stays masked', async () => {
    const events = app.app.mongo.db.collection('audit_events');
    const before = await events.countDocuments({ type: 'PII_ACCESS' });
    await piiOf(await agentToken('agent-without-grant'), jane.id);
    expect(await events.countDocuments({ type: 'PII_ACCESS' })).toBe(before);
  });

  it('names in PII_ACCESS only the fields that had a value to show, and writes none when no field had one', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-crm');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: aCrmId() }] } });
    const nameless = registered.body.data!.registerCustomer.id;
    const token = await agentToken('agent-nameless');
    const granted = await app.graphql<{ requestPiiAccess: Grant }>(token, REQUEST, {
      input: { customerId: nameless, fields: ['DISPLAY_NAME'], justification: 'Customer asked us to confirm the name on file' },
    });
    expect((await app.graphql(await approverToken(), APPROVE, { id: granted.body.data!.requestPiiAccess.id })).body.errors).toBeUndefined();
    const events = app.app.mongo.db.collection('audit_events');
    expect(await piiOf(token, nameless)).toMatchObject({ displayName: null });
    expect(await events.countDocuments({ customerId: nameless, type: 'PII_ACCESS' })).toBe(0);
  });

  it('keeps another customer masked for the same agent', async () => {
    expect(await piiOf(await agentToken(requester), other.id)).toEqual(masksOf(other));
  });

  it('keeps the customer masked for another agent with pii:read', async () => {
    expect(await piiOf(await agentToken('agent-other'), jane.id)).toEqual(masksOf(jane));
  });

  it('shows the clear value through _entities too', async () => {
    const res = await app.graphql<{ _entities: Array<Record<string, unknown>> }>(
      await agentToken(requester),
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { email } } }`,
      { r: [{ __typename: 'Customer', id: jane.id }, { __typename: 'Customer', id: other.id }] },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!._entities).toEqual([{ email: jane.email }, { email: maskedEmailOf(other.email) }]);
  });

  it('keeps grants in Redis only, without a raw identifier', async () => {
    const prefix = app.config.redisKeyPrefix;
    const keys = (await app.app.redis.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).filter((k) => k.startsWith('grant:') || k.startsWith('access:'));
    expect(keys.length).toBeGreaterThan(0);
    const values = await Promise.all(keys.map((k) => app.app.redis.get(k)));
    const text = values.join('\n');
    expect(text).toContain(jane.id);
    expect(text).not.toContain(jane.email);
    expect(text).not.toContain(jane.phone.slice(1));
    expect(await app.app.mongo.db.listCollections({ name: /grant/i }).toArray()).toEqual([]);
  });
});

describe('approvers racing on one grant', () => {
  it('lets exactly one approve it: one PII_ACCESS_GRANTED event, and every answer names that first approver', async () => {
    const approvers = await Promise.all(['supervisor-kim', 'supervisor-lee', 'supervisor-max'].map((sub) => approverToken(sub)));
    for (let round = 0; round < 3; round++) {
      const requested = await requestGrant(await agentToken(`agent-race-${round}`), { fields: ['EMAIL'], justification: 'Rückruf/Bestätigung der Adresse – Kundin "Ø"' });
      const grant = requested.body.data!.requestPiiAccess;
      const answers = await Promise.all(approvers.map((token) => app.graphql<{ approvePiiAccess: { status: string; approvedBy: string } }>(token, APPROVE, { id: grant.id })));
      for (const answer of answers) expect(answer.body.errors).toBeUndefined();
      const approvedBy = new Set(answers.map((a) => a.body.data!.approvePiiAccess.approvedBy));
      expect(approvedBy.size, `round ${round}`).toBe(1);
      const events = await app.app.mongo.db.collection('audit_events').find({ type: 'PII_ACCESS_GRANTED', 'details.grantId': grant.id }).toArray();
      expect(events).toHaveLength(1);
      expect((events[0]!['actor'] as { id: string }).id).toBe([...approvedBy][0]);
      const stored = JSON.parse((await app.app.redis.get(`grant:${grant.id}`))!) as Grant;
      expect(stored).toMatchObject({ status: 'APPROVED', approvedBy: [...approvedBy][0], justification: grant.justification, fields: ['EMAIL'] });
    }
  });
});

describe('a grant whose customer was erased', () => {
  it('cannot be approved, and leaves nothing usable in Redis', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-crm');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'CRM_ID', value: aCrmId() }], displayName: 'Gone Soon' } });
    const id = registered.body.data!.registerCustomer.id;
    const requested = await app.graphql<{ requestPiiAccess: Grant }>(await agentToken('agent-late'), REQUEST, {
      input: { customerId: id, fields: ['DISPLAY_NAME'], justification: 'Customer asked us to confirm the name on file' },
    });
    const grant = requested.body.data!.requestPiiAccess;
    const raw = (await app.app.redis.get(`grant:${grant.id}`))!;
    const dpo = await app.token(['dsar:process'], 'dpo-grants');
    const erased = await app.graphql(dpo, `mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-G1", reason: "Asked by letter") { customerId } }`, { id });
    expect(erased.body.errors).toBeUndefined();
    // A request that landed in the erasure's window leaves its grant behind, until its TTL.
    await app.app.redis.set(`grant:${grant.id}`, raw, 'EX', 60);
    for (const approver of ['supervisor-kim', 'supervisor-lee']) {
      const res = await app.graphql(await approverToken(approver), APPROVE, { id: grant.id });
      expect(res.body.data).toBeNull();
      expect(errorOf(res).code).toBe('BAD_USER_INPUT');
    }
    const prefix = app.config.redisKeyPrefix;
    expect(await app.app.redis.keys(`${prefix}access:*:${id}:*`)).toEqual([]);
    expect(JSON.parse((await app.app.redis.get(`grant:${grant.id}`))!)).toMatchObject({ status: 'PENDING', approvedBy: null });
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ chain: id, type: 'PII_ACCESS_GRANTED' })).toBe(0);
  });
});

describe('a clear read overtaken by the erasure of its customer', () => {
  it('says so on each field, CONFLICT, instead of a bare null beside status ACTIVE', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-crm');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail('overtaken') }], displayName: 'Olive Tanner' },
    });
    const id = registered.body.data!.registerCustomer.id;
    const agent = await agentToken('agent-overtaken');
    const requested = await app.graphql<{ requestPiiAccess: Grant }>(agent, REQUEST, { input: { customerId: id, fields: ['EMAIL'], justification: 'Customer asked us to confirm the address' } });
    expect((await app.graphql(await approverToken(), APPROVE, { id: requested.body.data!.requestPiiAccess.id })).body.errors).toBeUndefined();
    // The erasure lands between the read of the customer and its PII_ACCESS event (two replicas, in the probe).
    const dpo = await app.token(['dsar:process'], 'dpo-overtaken');
    const audit = app.app.services.audit;
    const append = audit.append.bind(audit);
    audit.append = async (input) => {
      if (input.type === 'PII_ACCESS' && input.customerId === id) {
        const erased = await app.graphql(dpo, `mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-OVERTAKEN", reason: "Asked by letter") { customerId } }`, { id });
        expect(erased.body.errors).toBeUndefined();
      }
      return append(input);
    };
    try {
      const res = await app.graphql<{ customer: Record<string, unknown> }>(agent, `query($id: ID!) { customer(id: $id) { status email } }`, { id });
      expect(res.body.data!.customer).toEqual({ status: 'ACTIVE', email: null });
      expect(res.body.errors?.map((e) => [e.path, e.extensions?.['code']])).toEqual([[['customer', 'email'], 'CONFLICT']]);
    } finally {
      audit.append = append;
    }
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ chain: id, type: 'PII_ACCESS' })).toBe(0);
    // Read again: ERASED, every personal field null, no error.
    const after = await app.graphql<{ customer: Record<string, unknown> }>(agent, `query($id: ID!) { customer(id: $id) { status email } }`, { id });
    expect(after.body).toEqual({ data: { customer: { status: 'ERASED', email: null } } });
  });
});

describe('an expired grant', () => {
  it('masks the value again after its TTL', async () => {
    const requester = 'agent-brief';
    const res = await requestGrant(await agentToken(requester), { fields: ['EMAIL'], ttlSeconds: 2 });
    expect(res.body.errors).toBeUndefined();
    const grant = res.body.data!.requestPiiAccess;
    const approved = await app.graphql(await approverToken(), APPROVE, { id: grant.id });
    expect(approved.body.errors).toBeUndefined();
    expect((await piiOf(await agentToken(requester), jane.id))['email']).toBe(jane.email);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, new Date(grant.expiresAt).getTime() - Date.now()) + 300));
    expect((await piiOf(await agentToken(requester), jane.id))['email']).toBe(maskedEmailOf(jane.email));
  });

  it('can no longer be approved: NOT_FOUND', async () => {
    const res = await requestGrant(await agentToken('agent-late'), { fields: ['PHONE'], ttlSeconds: 1 });
    const grant = res.body.data!.requestPiiAccess;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, new Date(grant.expiresAt).getTime() - Date.now()) + 300));
    const approved = await app.graphql(await approverToken(), APPROVE, { id: grant.id });
    expect(errorOf(approved)).toEqual({ path: ['approvePiiAccess'], code: 'NOT_FOUND', reason: undefined });
  });
});
