import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import { createHash } from 'node:crypto';
import { canonicalise, computeEventHash, GENESIS_HASH, verifyChain } from '../src/audit/audit-chain.js';
import type { AuditEventRecord } from '../src/audit/audit-types.js';
import { AuditLog } from '../src/audit/audit-log.js';
import { AuditRepository } from '../src/audit/audit-repository.js';
import { aCrmId, anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { grantPii } from './policy-fixtures.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let second: TestApp;
let service: string;
let auditor: string;

const VERIFY = `query Verify($id: ID!) { verifyAuditTrail(customerId: $id) { valid eventCount firstBrokenSequence headSequence headHash } }`;

interface Verification {
  valid: boolean;
  eventCount: number;
  firstBrokenSequence: number | null;
  headSequence: number | null;
  headHash: string | null;
}

async function verify(id: string): Promise<Verification> {
  const res = await app.graphql<{ verifyAuditTrail: Verification }>(auditor, VERIFY, { id });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.verifyAuditTrail;
}

async function register(email = anEmail('chain')): Promise<string> {
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }], displayName: 'Chain Person' } });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.registerCustomer.id;
}

function events() {
  return app.app.mongo.db.collection('audit_events');
}

async function storedChain(id: string): Promise<Document[]> {
  return events().find({ chain: id }).sort({ sequence: 1 }).toArray();
}

const LINK_CRM_ID = `mutation($c: ID!, $v: String!) { linkIdentifier(customerId: $c, identifier: { kind: CRM_ID, value: $v }) { id } }`;

/** A customer whose chain holds five events (its registration and four links), and how to link one more through an app. */
async function customerWithFiveEvents(): Promise<{ own: string; link: (via: TestApp) => Promise<void>; stored: Document[] }> {
  const own = await register();
  const link = async (via: TestApp) => expect((await via.graphql(service, LINK_CRM_ID, { c: own, v: aCrmId() })).body.errors).toBeUndefined();
  for (let i = 0; i < 4; i++) await link(app);
  return { own, link, stored: await storedChain(own) };
}

/** Every event id of a chain's trail, walked one page of one at a time with `after` (at most 30 pages). */
async function walkTrail(id: string): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 30; page++) {
    const res: { body: { errors?: unknown; data?: { customer: { auditTrail: { edges: Array<{ node: { id: string } }>; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null } } } } | null } } = await app.graphql(
      auditor,
      `query($id: ID!, $after: String) { customer(id: $id) { auditTrail(first: 1, after: $after) { edges { node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }`,
      { id, after: cursor },
    );
    expect(res.body.errors).toBeUndefined();
    const { edges, pageInfo } = res.body.data!.customer.auditTrail;
    // Every page after the first has one before it, tampered positions (`0.5`, `1.2345e-7`) included (a regression probe).
    expect(pageInfo.hasPreviousPage).toBe(page > 0);
    seen.push(...edges.map((e) => e.node.id));
    if (!pageInfo.hasNextPage || edges.length === 0) break;
    cursor = pageInfo.endCursor;
  }
  return seen;
}

/** Checks positions 1..n, links, and that no position was claimed twice. */
function expectGapFreeChain(docs: readonly Document[], expectedLength: number): void {
  expect(docs).toHaveLength(expectedLength);
  expect(docs.map((d) => d['sequence'])).toEqual(Array.from({ length: expectedLength }, (_v, i) => i + 1));
  expect(new Set(docs.map((d) => d['_id'])).size).toBe(expectedLength);
  docs.forEach((doc, i) => expect(doc['prevHash']).toBe(i === 0 ? GENESIS_HASH : docs[i - 1]!['hash']));
}

/** One character of a string, swapped for another: the smallest change a tamperer could make. */
function flipOneCharacter(value: string, position = Math.floor(value.length / 2)): string {
  const current = value[position];
  const replacement = current === 'a' ? 'b' : 'a';
  return value.slice(0, position) + replacement + value.slice(position + 1);
}

beforeAll(async () => {
  app = await startTestApp();
  second = await startTestApp({ shareStoresWith: app });
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  auditor = await app.token(['customer:read', 'audit:read'], 'auditor-1');
});
afterAll(async () => {
  await second?.stop();
  await app?.stop();
});

describe('concurrent writers on one customer', () => {
  it('16 AuditLog instances (separate head caches, like separate processes) appending at once leave a gap-free chain 1..n that verifies', async () => {
    const id = await register();
    const writers = Array.from({ length: 16 }, () => new AuditLog(new AuditRepository(app.app.mongo.db)));
    const perWriter = 6;
    await Promise.all(
      writers.map(async (log, w) => {
        for (let i = 0; i < perWriter; i++) {
          await log.append({
            type: 'PII_ACCESS',
            customerId: id,
            actor: { kind: 'AGENT', id: `agent-${w}` },
            fields: ['DISPLAY_NAME'],
            justification: `writer ${w} read ${i}`,
            requestId: `req-${w}-${i}`,
          });
        }
      }),
    );
    const docs = await storedChain(id);
    expectGapFreeChain(docs, 1 + 16 * perWriter);
    // Every append landed exactly once.
    const written = docs.filter((d) => d['type'] === 'PII_ACCESS').map((d) => d['requestId'] as string);
    expect(new Set(written).size).toBe(16 * perWriter);
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 97, firstBrokenSequence: null, headSequence: 97 });
    // Times follow positions: stamped before the queue and the retries, events bore earlier times than the ones before
    // them, and a reader polling with `from` skipped them (a probe).
    const times = docs.map((d) => (d['occurredAt'] as Date).getTime());
    expect(times.filter((t, i) => i > 0 && t < times[i - 1]!)).toEqual([]);
  });

  // A duplicate key from an index this service did not create was taken for a position another writer had taken:
  // 200 attempts, 6.5 s and a diagnosis of contention (a probe).
  it('fails at once when a unique index other than its own refuses an event', async () => {
    const own = await startTestApp();
    try {
      const db = own.app.mongo.db;
      await db.collection('audit_events').createIndex({ justification: 1 }, { unique: true, sparse: true });
      const log = new AuditLog(new AuditRepository(db));
      const event = (customerId: string) => ({ type: 'PII_ACCESS' as const, customerId, actor: { kind: 'AGENT' as const, id: 'agent-index' }, fields: ['EMAIL' as const], justification: 'the same words twice' });
      await log.append(event('cus_00000000000000000000000001'));
      const started = Date.now();
      await expect(log.append(event('cus_00000000000000000000000002'))).rejects.toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await db.collection('audit_events').countDocuments({ chain: 'cus_00000000000000000000000002' })).toBe(0);
    } finally {
      await own.stop();
    }
  });

  it('batches the inserts of one event-loop turn, and a duplicate position in a batch fails only that event, which retries', async () => {
    const id = await register();
    const repository = new AuditRepository(app.app.mongo.db);
    // Two logs over one repository: their inserts share a batch, and both aim at the same next position.
    const [a, b] = [new AuditLog(repository), new AuditLog(repository)];
    const event = (requestId: string) => ({
      type: 'PII_ACCESS' as const,
      customerId: id,
      actor: { kind: 'AGENT' as const, id: 'agent-batch' },
      fields: ['EMAIL' as const],
      justification: 'batched write',
      requestId,
    });
    await Promise.all([a.append(event('req-a')), b.append(event('req-b'))]);
    const docs = await storedChain(id);
    expectGapFreeChain(docs, 3);
    expect(docs.slice(1).map((d) => d['requestId']).sort()).toEqual(['req-a', 'req-b']);
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 3 });
  });

  it('lands after the existing events when the new-chain hint is wrong, without forking the chain', async () => {
    const id = await register();
    const stranger = new AuditLog(new AuditRepository(app.app.mongo.db));
    await stranger.append({
      type: 'PII_ACCESS',
      customerId: id,
      actor: { kind: 'AGENT', id: 'agent-hint' },
      fields: ['EMAIL'],
      justification: 'checking a wrong hint',
      requestId: 'req-hint',
      expectsNewChain: true,
    });
    const docs = await storedChain(id);
    expectGapFreeChain(docs, 2);
    expect(docs.at(-1)?.['requestId']).toBe('req-hint');
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 2 });
  });

  it('32 concurrent GraphQL operations through two subgraph instances over the same stores keep one gap-free chain', async () => {
    const email = anEmail('busy');
    const id = await register(email);
    const resolver = await app.token(['identity:resolve'], 'svc-ivr');
    const resolverOnSecond = await second.token(['identity:resolve'], 'svc-ivr');
    const serviceOnSecond = await second.token(SERVICE_SCOPES, 'svc-crm');
    const operations = Array.from({ length: 16 }, (_v, i) => {
      const target = i % 2 === 0 ? app : second;
      return [
        target.graphql(i % 2 === 0 ? service : serviceOnSecond, `mutation($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: CRM_ID, value: $v }) { id } }`, { id, v: aCrmId() }),
        target.graphql<{ resolveCustomer: { customer: { id: string } | null } }>(
          i % 2 === 0 ? resolver : resolverOnSecond,
          `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: WEBCHAT, interactionId: "chat-${i}" }) { customer { id } } }`,
          { v: email },
        ),
      ];
    }).flat();
    const results = await Promise.all(operations);
    for (const r of results) expect(r.body.errors).toBeUndefined();
    const docs = await storedChain(id);
    expectGapFreeChain(docs, 1 + 16 + 16);
    expect(docs.filter((d) => d['type'] === 'IDENTIFIER_LINKED')).toHaveLength(16);
    expect(docs.filter((d) => d['type'] === 'IDENTITY_RESOLUTION')).toHaveLength(16);
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 33, firstBrokenSequence: null });
  });
});

describe('a unique index the stored events break', () => {
  /** The error a second start over `own`'s stores, after `tamper` changed audit_events, stops with (null: it started). */
  async function startupErrorAfter(tamper: (stored: ReturnType<typeof events>) => Promise<unknown>): Promise<Error | null> {
    const own = await startTestApp();
    try {
      const stored = own.app.mongo.db.collection('audit_events');
      await stored.dropIndex('chain_sequence_unique');
      await tamper(stored);
      return await startTestApp({ shareStoresWith: own }).then(
        async (started) => {
          await started.stop();
          return null;
        },
        (e: unknown) => e as Error,
      );
    } finally {
      await own.stop();
    }
  }

  // Two events at one chain position, written while chain_sequence_unique was dropped: every start threw the server's
  // raw error (a probe). It stops with one line saying what is wrong, and builds no app without the index.
  it('stops start-up with one line naming the store when two events hold one chain position', async () => {
    const error = await startupErrorAfter((stored) => stored.insertMany([{ _id: 'aud_dup_1', chain: 'c-dup', sequence: 1 }, { _id: 'aud_dup_2', chain: 'c-dup', sequence: 1 }] as never));
    expect(error?.name).toBe('StartupError');
    expect(error?.message).toMatch(/^MONGODB_URL: a unique index cannot be built because stored documents break it/);
    expect(error?.message).not.toMatch(/sqlite|\.go:/i);
  });

  // FerretDB keeps an index of the same name and keys made without `unique`, and says nothing: every replica started
  // and two events could take one chain position (a regression probe).
  it('stops start-up when chain_sequence_unique exists but is not unique', async () => {
    const error = await startupErrorAfter((stored) => stored.createIndex({ chain: 1, sequence: 1 }, { name: 'chain_sequence_unique' }));
    expect(error?.message).toBe('MONGODB_URL: the index audit_events.chain_sequence_unique exists but is not unique (made by hand?): drop it, and the next start builds it unique');
  });
});

describe('tamper evidence', () => {
  let id: string;
  let chain: Document[];

  beforeAll(async () => {
    id = await register();
    for (let i = 0; i < 3; i++) {
      await grantPii(app, id, 'agent-tamper', ['DISPLAY_NAME'], {
        justification: `Customer on the phone about order number ${i}`,
        approvalHeaders: { 'x-request-id': `tamper-req-${i}` },
      });
    }
    chain = await storedChain(id);
    expect(chain.map((d) => d['type'])).toEqual(['CUSTOMER_REGISTERED', 'PII_ACCESS_GRANTED', 'PII_ACCESS_GRANTED', 'PII_ACCESS_GRANTED']);
  });

  const cases: Array<{ field: string; sequence: number; change: (doc: Document) => Document }> = [
    { field: 'justification', sequence: 2, change: (d) => ({ justification: flipOneCharacter(d['justification'] as string) }) },
    { field: 'requestId', sequence: 3, change: (d) => ({ requestId: flipOneCharacter(d['requestId'] as string, 0) }) },
    { field: 'occurredAt', sequence: 2, change: (d) => ({ occurredAt: new Date((d['occurredAt'] as Date).getTime() + 1) }) },
    { field: 'sequence', sequence: 3, change: (d) => ({ sequence: (d['sequence'] as number) + 64 }) },
    { field: 'sequence of the newest event', sequence: 4, change: (d) => ({ sequence: (d['sequence'] as number) + 64 }) },
    { field: 'prevHash', sequence: 3, change: (d) => ({ prevHash: flipOneCharacter(d['prevHash'] as string) }) },
    { field: 'hash', sequence: 2, change: (d) => ({ hash: flipOneCharacter(d['hash'] as string) }) },
    { field: 'hash of the newest event', sequence: 4, change: (d) => ({ hash: flipOneCharacter(d['hash'] as string) }) },
    { field: 'actor.id', sequence: 2, change: (d) => ({ 'actor.id': flipOneCharacter((d['actor'] as { id: string }).id) }) },
    { field: 'type', sequence: 3, change: () => ({ type: 'PII_ACCESS' }) },
    { field: 'fields', sequence: 2, change: () => ({ fields: ['EMAIL'] }) },
    { field: 'details', sequence: 2, change: (d) => ({ 'details.grantId': flipOneCharacter((d['details'] as { grantId: string }).grantId) }) },
    { field: 'customerId', sequence: 3, change: () => ({ customerId: 'cus_00000000000000000000000000' }) },
    { field: 'sealedIdentifierHash', sequence: 1, change: (d) => ({ sealedIdentifierHash: flipOneCharacter(d['sealedIdentifierHash'] as string) }) },
    { field: 'chain (an event moved out of its chain)', sequence: 2, change: () => ({ chain: 'cus_00000000000000000000000000' }) },
    // Text fields the API reads as null unless they are text: a null overwritten with another type was not noticed.
    { field: 'interactionId (null to a number)', sequence: 2, change: () => ({ interactionId: 12345 }) },
    { field: 'resolutionSource (null to a boolean)', sequence: 3, change: () => ({ resolutionSource: true }) },
    { field: 'channel (null to a number)', sequence: 2, change: () => ({ channel: 7 }) },
    { field: 'fields (null to a string)', sequence: 1, change: () => ({ fields: 'EMAIL' }) },
    { field: 'details (to null)', sequence: 2, change: () => ({ details: null }) },
  ];

  it.each(cases)('reports the first broken sequence when one byte of $field is changed in MongoDB, and valid again once restored', async ({ sequence, change }) => {
    const original = chain[sequence - 1]!;
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 4 });
    const altered = change(original);
    const restore = Object.fromEntries(Object.keys(altered).map((path) => [path, path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], original)]));
    await events().updateOne({ _id: original['_id'] }, { $set: altered });
    try {
      const result = await verify(id);
      expect(result.valid).toBe(false);
      expect(result.firstBrokenSequence).toBe(sequence);
    } finally {
      await events().updateOne({ _id: original['_id'] }, { $set: restore });
    }
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 4, firstBrokenSequence: null });
  });

  // Built on a plain object, the canonical form set the prototype for a stored `__proto__` key instead of keeping it:
  // an event forged that way verified, and the download showed the forged value (a regression probe).
  it('reports a __proto__ key added to an event\'s details', async () => {
    const original = chain[1]!;
    const details = { ...(original['details'] as Record<string, unknown>) };
    Object.defineProperty(details, '__proto__', { value: { forged: 'approvedBy=mallory' }, enumerable: true, writable: true, configurable: true });
    await events().updateOne({ _id: original['_id'] }, { $set: { details } });
    try {
      expect((await events().findOne({ _id: original['_id'] }))!['details']).toHaveProperty('__proto__');
      expect(await verify(id)).toMatchObject({ valid: false, firstBrokenSequence: 2 });
    } finally {
      await events().updateOne({ _id: original['_id'] }, { $set: { details: original['details'] } });
    }
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 4 });
  });

  // A date no clock holds in the details failed the whole page of the trail, and the export (a regression probe).
  it('reads an event whose details hold a date past any clock as unreadable, and the page around it whole', async () => {
    const auditor = await app.token(['customer:read', 'audit:read'], 'auditor-dates');
    const original = chain[2]!;
    class FarDate extends Date {
      override getTime(): number {
        return 9e15;
      }
    }
    await events().updateOne({ _id: original['_id'] }, { $set: { 'details.when': new FarDate() } });
    try {
      const res = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { sequence: number; details: string } }> } } }>(
        auditor,
        `query($id: ID!) { customer(id: $id) { auditTrail { edges { node { sequence details } } } } }`,
        { id },
      );
      expect(res.body.errors).toBeUndefined();
      const nodes = res.body.data!.customer.auditTrail.edges.map((e) => e.node);
      expect(nodes.map((n) => n.sequence)).toEqual([1, 2, 3, 4]);
      expect(JSON.parse(nodes[2]!.details)).toHaveProperty('unreadable');
      expect(await verify(id)).toMatchObject({ valid: false, firstBrokenSequence: 3 });
    } finally {
      await events().updateOne({ _id: original['_id'] }, { $unset: { 'details.when': '' } });
    }
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 4 });
  });

  it('reports an event with its actor removed or a forged one without any, and the trail and the export still read', async () => {
    // A customer of its own: the exports below append to its chain.
    const own = await register();
    const auditor = await app.token(['customer:read', 'audit:read'], 'auditor-tamper');
    const dpo = await app.token(['dsar:process'], 'dpo-tamper');
    const read = async () => {
      const trail = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { sequence: number; actor: { kind: string; id: string } } }> } } }>(
        auditor,
        `query($id: ID!) { customer(id: $id) { auditTrail(first: 50) { edges { node { sequence type actor { kind id } hash } } } } }`,
        { id: own },
      );
      const exported = await app.graphql(dpo, `query($id: ID!) { dataSubjectAccess(customerId: $id) { customerId } }`, { id: own });
      expect(trail.body.errors).toBeUndefined();
      expect(exported.body.errors).toBeUndefined();
      return trail.body.data!.customer.auditTrail.edges.map((e) => e.node);
    };
    const [registered] = await storedChain(own);
    await events().updateOne({ _id: registered!['_id'] }, { $unset: { actor: '' } });
    expect(await verify(own)).toMatchObject({ valid: false, eventCount: 1, firstBrokenSequence: 1 });
    expect((await read())[0]!.actor).toEqual({ kind: 'SYSTEM', id: '(missing)' });
    await events().updateOne({ _id: registered!['_id'] }, { $set: { actor: registered!['actor'] } });
    // Whole again: the export above appended its DSAR_EXPORT event behind the restored one.
    expect(await verify(own)).toMatchObject({ valid: true, eventCount: 2 });

    await events().insertOne({ _id: 'aud_FORGED0000000000000000000A' as never, chain: own, sequence: 3, type: 'PII_ACCESS' });
    expect(await verify(own)).toMatchObject({ valid: false, eventCount: 3, firstBrokenSequence: 3 });
    expect((await read()).map((e) => e.sequence)).toEqual([1, 2, 3]);
    // The export still appends behind the forged event (the log takes the next free position).
    expect((await storedChain(own)).map((d) => d['sequence'])).toEqual([1, 2, 3, 4]);
  });

  it('reads values the schema cannot show as placeholders, pages past tampered positions, and appends after the highest number', async () => {
    const { own, link, stored } = await customerWithFiveEvents();
    const dpo = await app.token(['dsar:process'], 'dpo-tamper');
    expect(stored.map((d) => d['sequence'])).toEqual([1, 2, 3, 4, 5]);

    // Values outside the schema's enums and types: one such event made the whole page and the whole export null.
    await events().updateOne({ _id: stored[2]!['_id'] }, { $set: { type: 'BOGUS', channel: 'CARRIER_PIGEON', fields: ['EMAIL', 'SHOE_SIZE'], interactionId: 42 } });
    const trail = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { sequence: number; type: string; channel: string | null; fields: string[] | null; interactionId: string | null } }> } } }>(
      auditor,
      `query($id: ID!) { customer(id: $id) { auditTrail(first: 50) { edges { node { sequence type channel fields interactionId } } } } }`,
      { id: own },
    );
    expect(trail.body.errors).toBeUndefined();
    expect(trail.body.data!.customer.auditTrail.edges.map((e) => e.node.type)).toEqual(['CUSTOMER_REGISTERED', 'IDENTIFIER_LINKED', 'UNKNOWN', 'IDENTIFIER_LINKED', 'IDENTIFIER_LINKED']);
    expect(trail.body.data!.customer.auditTrail.edges[2]!.node).toEqual({ sequence: 3, type: 'UNKNOWN', channel: null, fields: ['EMAIL'], interactionId: null });
    const exported = await app.graphql(dpo, `query($id: ID!) { dataSubjectAccess(customerId: $id) { customerId auditEvents { sequence type } } }`, { id: own });
    expect(exported.body.errors).toBeUndefined();
    expect(await verify(own)).toMatchObject({ valid: false, firstBrokenSequence: 3 });

    // A date the API cannot answer (invalid, or past year 9999) and an _id that is no string blanked both too (a probe).
    await events().updateOne({ _id: stored[3]!['_id'] }, { $set: { occurredAt: new Date(Date.UTC(20000, 0, 1)) } });
    const moved = { ...stored[4]!, _id: 2.5 as never };
    await events().deleteOne({ _id: stored[4]!['_id'] });
    await events().insertOne(moved);
    const odd = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { id: string; occurredAt: string } }> } } }>(
      auditor,
      `query($id: ID!) { customer(id: $id) { auditTrail(first: 50) { edges { node { id occurredAt } } } } }`,
      { id: own },
    );
    expect(odd.body.errors).toBeUndefined();
    expect(odd.body.data!.customer.auditTrail.edges.slice(3, 5).map((e) => e.node)).toEqual([
      { id: String(stored[3]!['_id']), occurredAt: '1970-01-01T00:00:00.000Z' },
      { id: '2.5', occurredAt: (stored[4]!['occurredAt'] as Date).toISOString() },
    ]);
    expect((await app.graphql(dpo, `query($id: ID!) { dataSubjectAccess(customerId: $id) { auditEvents { id occurredAt } } }`, { id: own })).body.errors).toBeUndefined();
    expect(await verify(own)).toMatchObject({ valid: false, firstBrokenSequence: 3 });
    await events().deleteOne({ _id: 2.5 as never });
    await events().insertOne(stored[4]!);
    await events().updateOne({ _id: stored[3]!['_id'] }, { $set: { occurredAt: stored[3]!['occurredAt'] } });

    // A sequence stored as a string sorts above every number: taken for the head, it made appends write "41", "411".
    await events().updateOne({ _id: stored[3]!['_id'] }, { $set: { sequence: '4' } });
    const before = (await storedChain(own)).length;
    await link(second); // a process that reads the head from the store
    await link(second);
    const after = await events().find({ chain: own }).toArray();
    expect(after).toHaveLength(before + 2);
    const numbers = after.map((d) => d['sequence']).filter((s): s is number => typeof s === 'number').sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3, 5, 6, 7, 8, 9]);
    expect((await verify(own)).headSequence).toBe(9);

    // A forged fraction between two events: the walk goes on past it, every numbered event once, in order.
    await events().insertOne({ ...stored[1]!, _id: 'aud_FORGED0000000000000000000B' as never, sequence: 2.5 });
    const seen = await walkTrail(own);
    const numbered = (await events().find({ chain: own }).toArray()).filter((d) => typeof d['sequence'] === 'number').sort((a, b) => a['sequence'] - b['sequence']);
    expect(seen.filter((id) => numbered.some((d) => String(d['_id']) === id))).toEqual(numbered.map((d) => String(d['_id'])));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('keeps pages, exports and appends whole past sequences out of Int range, and walks past any tampered position', async () => {
    const { own, link, stored } = await customerWithFiveEvents();
    const dpo = await app.token(['dsar:process'], 'dpo-tamper');
    // Past GraphQL's Int (a whole page and the export were null), past 2^53 (1e20 + 1 === 1e20: every append was a
    // duplicate and the customer's audited writes were refused), and a fraction written with an exponent.
    await events().updateOne({ _id: stored[2]!['_id'] }, { $set: { sequence: 2_147_483_648 } });
    await events().updateOne({ _id: stored[3]!['_id'] }, { $set: { sequence: 1e20 } });
    await events().updateOne({ _id: stored[1]!['_id'] }, { $set: { sequence: 1.2345e-7 } });
    const exported = await app.graphql(dpo, `query($id: ID!) { dataSubjectAccess(customerId: $id) { auditEvents { sequence type } } }`, { id: own });
    expect(exported.body.errors).toBeUndefined();
    await link(second);
    await link(second);
    const numbers = (await events().find({ chain: own }).toArray()).map((d) => d['sequence'] as number).sort((a, b) => a - b);
    // 6 is the export's DSAR_EXPORT event (written by `app`, which knows the head it wrote); `second` reads the head
    // from the store: the highest number that one more can follow, and goes on from there.
    expect(numbers).toEqual([1.2345e-7, 1, 5, 6, 2_147_483_648, 2_147_483_649, 2_147_483_650, 1e20]);
    // A forged 0 sorts before every genuine event: the walk goes on past it too (its cursor was refused).
    await events().insertOne({ ...stored[0]!, _id: 'aud_FORGED0000000000000000000C' as never, sequence: 0 });
    const seen = await walkTrail(own);
    expect(seen).toHaveLength(9);
    expect(new Set(seen).size).toBe(9);
  });

  it('goes on appending, from any process, after a forged sequence at the top of Int', async () => {
    const own = await register();
    const [first] = await storedChain(own);
    await events().insertOne({ ...first!, _id: 'aud_FORGED0000000000000000000D' as never, sequence: 2_147_483_647 });
    // Each a process of its own, reading the head from the store (a cap at Int made the second and every later one
    // fail: its successor existed, every append a duplicate).
    for (let i = 0; i < 3; i++) {
      const fresh = await startTestApp({ shareStoresWith: app });
      try {
        expect((await fresh.graphql(service, LINK_CRM_ID, { c: own, v: aCrmId() })).body.errors).toBeUndefined();
      } finally {
        await fresh.stop();
      }
    }
    expect(await events().countDocuments({ chain: own })).toBe(5);
  });

  // Documented limit: a forged event within one of 2^53 leaves no number to follow it. Such writes fail at once, with
  // SERVICE_UNAVAILABLE naming the audit trail, instead of after 200 attempts and 6 s (a probe).
  it('refuses at once the writes of a chain forged up to the last safe number, and names the position in verification', async () => {
    const own = await register();
    const [first] = await storedChain(own);
    await events().insertOne({ ...first!, _id: 'aud_FORGED0000000000000000000E' as never, sequence: Number.MAX_SAFE_INTEGER - 1 });
    const answers: Array<string | undefined> = [];
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      const fresh = await startTestApp({ shareStoresWith: app });
      try {
        for (let j = 0; j < 2; j++) answers.push((await fresh.graphql(service, LINK_CRM_ID, { c: own, v: aCrmId() })).body.errors?.[0]?.extensions?.['code'] as string | undefined);
      } finally {
        await fresh.stop();
      }
    }
    // The first write takes the last safe number; every later one is refused.
    expect(answers[0]).toBeUndefined();
    expect(answers.slice(1)).toEqual(Array(5).fill('SERVICE_UNAVAILABLE'));
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await verify(own)).toMatchObject({ valid: false });
  });

  it("verifies an event of a type this release does not know (a newer release's), and reads it as UNKNOWN", async () => {
    const own = await register();
    const [head] = await storedChain(own);
    const { _id: _headId, hash: headHash, ...rest } = head!;
    const later = { ...rest, type: 'CONSENT_EXPIRED', channel: 'RCS', sequence: (rest['sequence'] as number) + 1, prevHash: headHash as string };
    const id = 'aud_NEWERRELEASE00000000000000A';
    const hash = computeEventHash({ id, ...later } as unknown as Omit<AuditEventRecord, 'hash'>);
    await events().insertOne({ _id: id as never, ...later, hash });
    expect(await verify(own)).toMatchObject({ valid: true, eventCount: 2, firstBrokenSequence: null, headSequence: 2, headHash: hash });
    const trail = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { type: string; channel: string | null } }> } } }>(
      auditor,
      `query($id: ID!) { customer(id: $id) { auditTrail(first: 5) { edges { node { type channel } } } } }`,
      { id: own },
    );
    expect(trail.body.errors).toBeUndefined();
    expect(trail.body.data!.customer.auditTrail.edges.map((e) => e.node)).toEqual([{ type: 'CUSTOMER_REGISTERED', channel: null }, { type: 'UNKNOWN', channel: null }]);
  });

  it('reports the position of an event deleted from the middle of the chain', async () => {
    const victim = chain[1]!;
    await events().deleteOne({ _id: victim['_id'] });
    try {
      expect(await verify(id)).toMatchObject({ valid: false, eventCount: 3, firstBrokenSequence: 2 });
    } finally {
      await events().insertOne(victim);
    }
    expect(await verify(id)).toMatchObject({ valid: true, eventCount: 4 });
  });

  it('cannot see that the newest event was deleted, but a head published earlier can', async () => {
    const anchored = await verify(id);
    expect(anchored.headSequence).toBe(4);
    const newest = chain[3]!;
    await events().deleteOne({ _id: newest['_id'] });
    try {
      // The limitation: a truncated chain is a valid, shorter chain.
      const truncated = await verify(id);
      expect(truncated).toMatchObject({ valid: true, eventCount: 3, headSequence: 3 });
      // What an anchor check does: the published head must still be in the chain, with the same hash.
      const isAnchorStillPresent = truncated.headSequence! >= anchored.headSequence! ;
      expect(isAnchorStillPresent).toBe(false);
    } finally {
      await events().insertOne(newest);
    }
    expect(await verify(id)).toEqual(anchored);
  });
});

describe('events written before identifier hashes were sealed', () => {
  it('still verify: the sealed field enters the hash only when it is set', () => {
    // Exactly what the first version of the chain hashed: no sealedIdentifierHash key at all.
    const legacyBody = {
      id: 'aud_0000000000000000000000000A',
      chain: '_anonymous',
      type: 'IDENTITY_RESOLUTION' as const,
      occurredAt: new Date('2026-01-05T10:00:00Z'),
      customerId: null,
      actor: { kind: 'SERVICE' as const, id: 'svc-ivr' },
      channel: 'VOICE' as const,
      interactionId: 'call-1',
      resolutionSource: 'identifier_hash',
      identifierHash: 'v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      fields: null,
      justification: null,
      requestId: 'req-1',
      details: { matched: false },
      sequence: 1,
    };
    const legacyHash = createHash('sha256').update(canonicalise(legacyBody)).update('\n').update(GENESIS_HASH).digest('hex');
    const asReadToday: AuditEventRecord = { ...legacyBody, sealedIdentifierHash: null, prevHash: GENESIS_HASH, hash: legacyHash };
    expect(verifyChain([asReadToday])).toMatchObject({ valid: true, eventCount: 1 });
    expect(verifyChain([{ ...asReadToday, sealedIdentifierHash: 'v1.x.y' }])).toMatchObject({ valid: false, firstBrokenSequence: 1 });
  });
});
