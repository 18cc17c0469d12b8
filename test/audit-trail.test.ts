import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCrmId, anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let service: string;
let auditor: string;

interface Edge {
  cursor: string;
  node: { id: string; type: string; sequence: number; occurredAt: string; prevHash: string; hash: string; identifierHash: string | null; actor: { kind: string; id: string } };
}
interface TrailResponse {
  customer: { auditTrail: { edges: Edge[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } } | null } | null;
}

const TRAIL = `query Trail($id: ID!, $first: Int, $after: String, $from: DateTime, $to: DateTime) {
  customer(id: $id) {
    auditTrail(first: $first, after: $after, from: $from, to: $to) {
      edges { cursor node { id type sequence occurredAt prevHash hash identifierHash actor { kind id } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}`;
const VERIFY = `query Verify($id: ID!) { verifyAuditTrail(customerId: $id) { customerId valid eventCount firstBrokenSequence headSequence headHash } }`;
const LINK = `mutation Link($id: ID!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: CRM_ID, value: $v }) { id } }`;

async function registerWithEvents(extraLinks: number): Promise<string> {
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('trail') }] } });
  expect(res.body.errors).toBeUndefined();
  const id = res.body.data!.registerCustomer.id;
  for (let i = 0; i < extraLinks; i++) {
    const link = await app.graphql(service, LINK, { id, v: aCrmId() });
    expect(link.body.errors).toBeUndefined();
  }
  return id;
}

async function readAll(id: string, pageSize: number): Promise<{ edges: Edge[]; pages: number }> {
  const edges: Edge[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const res: { body: { data?: TrailResponse | null; errors?: unknown } } = await app.graphql<TrailResponse>(auditor, TRAIL, { id, first: pageSize, after });
    expect(res.body.errors).toBeUndefined();
    const trail = res.body.data!.customer!.auditTrail!;
    edges.push(...trail.edges);
    pages += 1;
    // Relay's PageInfo in full: paging forward, every page after the first has events before it.
    expect(trail.pageInfo.startCursor).toBe(trail.edges[0]?.cursor ?? null);
    expect(trail.pageInfo.hasPreviousPage).toBe(after !== null);
    if (!trail.pageInfo.hasNextPage) return { edges, pages };
    expect(trail.pageInfo.endCursor).toBe(trail.edges.at(-1)!.cursor);
    after = trail.pageInfo.endCursor;
  }
}

beforeAll(async () => {
  app = await startTestApp();
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  auditor = await app.token(['customer:read', 'audit:read'], 'auditor-1');
});
afterAll(async () => {
  await app?.stop();
});

describe('Customer.auditTrail', () => {
  it('pages through a chain with opaque cursors, in sequence order, without gaps or repeats', async () => {
    const id = await registerWithEvents(6);
    const { edges, pages } = await readAll(id, 3);
    expect(pages).toBe(3);
    expect(edges.map((e) => e.node.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(edges.map((e) => e.node.type)).toEqual(['CUSTOMER_REGISTERED', ...Array(6).fill('IDENTIFIER_LINKED')]);
    for (let i = 1; i < edges.length; i++) expect(edges[i]!.node.prevHash).toBe(edges[i - 1]!.node.hash);
    for (const edge of edges) {
      expect(edge.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Number.isNaN(Number(edge.cursor))).toBe(true);
      expect(edge.node.actor).toEqual({ kind: 'SERVICE', id: 'svc-crm' });
    }
  });

  it('answers the default page of 50 and accepts the maximum of 200', async () => {
    const id = await registerWithEvents(1);
    const byDefault = await app.graphql<TrailResponse>(auditor, `query($id: ID!) { customer(id: $id) { auditTrail { edges { node { sequence } } pageInfo { hasNextPage } } } }`, { id });
    expect(byDefault.body.errors).toBeUndefined();
    expect(byDefault.body.data!.customer!.auditTrail!.edges).toHaveLength(2);
    const largest = await app.graphql<TrailResponse>(auditor, TRAIL, { id, first: 200 });
    expect(largest.body.errors).toBeUndefined();
    const edges = largest.body.data!.customer!.auditTrail!.edges;
    expect(largest.body.data!.customer!.auditTrail!.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: false, startCursor: edges[0]!.cursor, endCursor: edges[1]!.cursor });
  });

  it('rejects first above 200, zero, negative, and cursors it did not issue with BAD_USER_INPUT', async () => {
    const id = await registerWithEvents(0);
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    const cases: Array<Record<string, unknown>> = [
      { first: 201 },
      { first: 0 },
      { first: -1 },
      { after: 'not a cursor!' },
      { after: forged('seq:-0') },
      { after: forged('seq:') },
      { after: forged('seq:abc') },
      { after: forged('offset:5') },
      // Not as the trail writes a position (a tampered position past Int is one it writes: an empty page after it).
      { after: forged('seq:1e3') },
      { after: forged('seq:01') },
      { after: forged('seq:1.0') },
      { after: forged(`seq:${'9'.repeat(30)}`) },
    ];
    for (const variables of cases) {
      const res = await app.graphql<TrailResponse>(auditor, TRAIL, { id, ...variables });
      expect(res.body.data!.customer!.auditTrail, JSON.stringify(variables)).toBeNull();
      expect(res.body.errors?.[0]?.extensions?.['code'], JSON.stringify(variables)).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0]?.path).toEqual(['customer', 'auditTrail']);
    }
  });

  it('keeps only the events inside a date range, and refuses a range that ends before it starts', async () => {
    const id = await registerWithEvents(5);
    const { edges } = await readAll(id, 50);
    const from = edges[2]!.node.occurredAt;
    const to = edges[4]!.node.occurredAt;
    const expected = edges.filter((e) => e.node.occurredAt >= from && e.node.occurredAt <= to).map((e) => e.node.sequence);
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(expected.length).toBeLessThan(edges.length);

    const res = await app.graphql<TrailResponse>(auditor, TRAIL, { id, from, to });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.customer!.auditTrail!.edges.map((e) => e.node.sequence)).toEqual(expected);

    // A cursor and a range together: the page after the first in-range event.
    const after = res.body.data!.customer!.auditTrail!.edges[0]!.cursor;
    const next = await app.graphql<TrailResponse>(auditor, TRAIL, { id, from, to, after, first: 1 });
    expect(next.body.data!.customer!.auditTrail!.edges.map((e) => e.node.sequence)).toEqual([expected[1]]);
    expect(next.body.data!.customer!.auditTrail!.pageInfo.hasNextPage).toBe(true);
    // `from` may have left the events before the cursor out of the range: not claimed.
    expect(next.body.data!.customer!.auditTrail!.pageInfo.hasPreviousPage).toBe(false);

    const backwards = await app.graphql<TrailResponse>(auditor, TRAIL, { id, from: to, to: edges[0]!.node.occurredAt });
    expect(backwards.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
  });

  it('withholds the trail and its verification from callers without audit:read', async () => {
    const id = await registerWithEvents(0);
    const agent = await app.token(['customer:read'], 'agent-no-audit');
    const trail = await app.graphql<TrailResponse>(agent, TRAIL, { id });
    expect(trail.body.data!.customer!.auditTrail).toBeNull();
    expect(trail.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const verify = await app.graphql(agent, VERIFY, { id });
    expect(verify.body.data).toBeNull();
    expect(verify.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });
});

describe('AuditEvent as a federated entity', () => {
  it('pages the trails of at most 10 customers in one request; the rest are null with QUERY_TOO_COMPLEX', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await registerWithEvents(0));
    const res = await app.graphql<{ _entities: Array<{ id: string; auditTrail: { edges: Edge[] } | null }> }>(
      auditor,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id auditTrail(first: 1) { edges { node { type } } } } } }`,
      { r: ids.map((id) => ({ __typename: 'Customer', id })) },
    );
    expect(res.status).toBe(200);
    const entities = res.body.data!._entities;
    expect(entities.map((e) => e.id)).toEqual(ids);
    expect(entities.filter((e) => e.auditTrail !== null)).toHaveLength(10);
    for (const entity of entities.slice(0, 10)) expect(entity.auditTrail!.edges[0]!.node.type).toBe('CUSTOMER_REGISTERED');
    expect(res.body.errors).toHaveLength(2);
    for (const error of res.body.errors!) {
      expect(error.extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit: 'auditTrails', maximum: 10 });
      expect(error.path?.slice(-1)).toEqual(['auditTrail']);
    }
  });

  // Twelve representations of one customer were refused as "more customers than the limit" (a probe).
  it('reads a page asked for again once, and does not count it again', async () => {
    const id = await registerWithEvents(0);
    app.resetCommands();
    const res = await app.graphql<{ _entities: Array<{ id: string; auditTrail: { edges: Edge[] } | null }> }>(
      auditor,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id auditTrail(first: 1) { edges { node { type } } } } } }`,
      { r: Array.from({ length: 12 }, () => ({ __typename: 'Customer', id })) },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!._entities.map((e) => e.auditTrail?.edges[0]?.node.type)).toEqual(Array(12).fill('CUSTOMER_REGISTERED'));
    expect(app.mongoCommands.filter((c) => c.commandName === 'find' && (c.command as { find?: string }).find === 'audit_events')).toHaveLength(1);
    // Eleven different pages of one customer are eleven reads: the eleventh is refused.
    const pages = Array.from({ length: 11 }, (_, i) => `p${i}: auditTrail(first: ${i + 1}) { edges { node { type } } }`).join(' ');
    const many = await app.graphql<{ customer: Record<string, unknown> }>(auditor, `query($id: ID!) { customer(id: $id) { ${pages} } }`, { id });
    expect(many.body.errors?.map((e) => e.extensions?.['limit'])).toEqual(['auditTrails']);
    expect(many.body.errors?.[0]?.message).toContain('more distinct audit trail pages');
  });

  // A regression probe: the second link's trail was the page read before it linked, without its own event.
  it('reads the page afresh in each field of a mutation, which runs them one after another', async () => {
    const id = await registerWithEvents(0);
    const writer = await app.token(['identity:write', 'audit:read'], 'svc-linker');
    const link = (alias: string, crm: string) => `${alias}: linkIdentifier(customerId: $id, identifier: { kind: CRM_ID, value: "${crm}" }) { auditTrail(first: 50) { edges { node { type } } } }`;
    const res = await app.graphql<Record<string, { auditTrail: { edges: Edge[] } }>>(writer, `mutation($id: ID!) { ${link('a', `CRM-A${Date.now()}`)} ${link('b', `CRM-B${Date.now()}`)} }`, { id });
    expect(res.body.errors).toBeUndefined();
    const linked = (alias: string) => res.body.data![alias]!.auditTrail.edges.filter((e) => e.node.type === 'IDENTIFIER_LINKED').length;
    expect([linked('a'), linked('b')]).toEqual([1, 2]);
  });

  it('verifies at most 3 chains in one operation: more are refused before any runs, aliases and fragments counted', async () => {
    const id = await registerWithEvents(0);
    const verify = (n: number) => Array.from({ length: n }, (_, i) => `v${i}: verifyAuditTrail(customerId: $id) { valid }`).join(' ');
    const three = await app.graphql<Record<string, { valid: boolean }>>(auditor, `query($id: ID!) { ${verify(3)} }`, { id });
    expect(three.body.errors).toBeUndefined();
    expect(Object.values(three.body.data!).map((v) => v.valid)).toEqual([true, true, true]);
    app.resetCommands();
    for (const query of [`query($id: ID!) { ${verify(30)} }`, `query($id: ID!) { ...A ...B } fragment A on Query { ${verify(2)} } fragment B on Query { w: verifyAuditTrail(customerId: $id) { valid } x: verifyAuditTrail(customerId: $id) { eventCount } }`]) {
      const refused = await app.graphql(auditor, query, { id });
      expect(refused.status).toBe(400);
      expect(refused.body.data ?? null).toBeNull();
      expect(refused.body.errors?.[0]?.extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit: 'auditVerifications', maximum: 3 });
    }
    expect(app.mongoCommands.filter((c) => c.commandName === 'find')).toHaveLength(0);
  });

  it('resolves AuditEvent references through _entities in key order, with null for unknown or malformed ids', async () => {
    const id = await registerWithEvents(2);
    const { edges } = await readAll(id, 50);
    const representations = [
      { __typename: 'AuditEvent', id: edges[2]!.node.id },
      { __typename: 'AuditEvent', id: 'aud_00000000000000000000000000' },
      { __typename: 'AuditEvent', id: 'not-an-id' },
      { __typename: 'AuditEvent', id: edges[0]!.node.id },
    ];
    app.resetCommands();
    const res = await app.graphql<{ _entities: Array<{ id: string; type: string; sequence: number; customerId: string; hash: string } | null> }>(
      auditor,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on AuditEvent { id type sequence customerId hash } } }`,
      { r: representations },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!._entities).toEqual([
      { id: edges[2]!.node.id, type: 'IDENTIFIER_LINKED', sequence: 3, customerId: id, hash: edges[2]!.node.hash },
      null,
      null,
      { id: edges[0]!.node.id, type: 'CUSTOMER_REGISTERED', sequence: 1, customerId: id, hash: edges[0]!.node.hash },
    ]);
    const finds = app.mongoCommands.filter((c) => c.commandName === 'find' && c.command['find'] === 'audit_events');
    expect(finds).toHaveLength(1);
  });
});

describe('identifier hashes in the trail', () => {
  // A reviewer saw a grant's approver but not its requester, nor whether an erasure completed: details were only in the
  // export's download (a probe). The JSON keeps its keys sorted, as the hash covers it.
  it('shows each event\'s details as sorted JSON text', async () => {
    const id = await registerWithEvents(1);
    const res = await app.graphql<{ customer: { auditTrail: { edges: Array<{ node: { type: string; details: string } }> } } }>(
      auditor,
      `query($id: ID!) { customer(id: $id) { auditTrail { edges { node { type details } } } } }`,
      { id },
    );
    expect(res.body.errors).toBeUndefined();
    const nodes = res.body.data!.customer.auditTrail.edges.map((e) => e.node);
    const stored = await app.app.mongo.db.collection('audit_events').find({ chain: id }).sort({ sequence: 1 }).toArray();
    expect(nodes.map((n) => JSON.parse(n.details) as unknown)).toEqual(stored.map((e) => e['details'] as unknown));
    for (const node of nodes) {
      const keys = Object.keys(JSON.parse(node.details) as Record<string, unknown>);
      expect(keys).toEqual([...keys].sort());
    }
    expect(nodes.find((n) => n.type === 'CUSTOMER_REGISTERED')!.details).toContain('kinds');
  });

  it('stores a customer event’s identifier hash sealed, and shows it opened to auditors', async () => {
    const id = await registerWithEvents(1);
    const identifiers = await app.graphql<{ customer: { identifiers: Array<{ kind: string; hash: string }> } }>(
      await app.token(['customer:read', 'identity:resolve'], 'svc-resolver'),
      `query($id: ID!) { customer(id: $id) { identifiers { kind hash } } }`,
      { id },
    );
    const hashes = identifiers.body.data!.customer.identifiers.map((i) => i.hash);
    expect(hashes).toHaveLength(2);

    const { edges } = await readAll(id, 50);
    expect(edges.map((e) => e.node.identifierHash).sort()).toEqual([...hashes].sort());

    const stored = await app.app.mongo.db.collection('audit_events').find({ chain: id }).toArray();
    expect(stored).toHaveLength(2);
    const text = JSON.stringify(stored);
    for (const hash of hashes) expect(text).not.toContain(hash.split(':')[1]);
    for (const doc of stored) {
      expect(doc['identifierHash']).toBeNull();
      expect(doc['sealedIdentifierHash']).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    }
  });

  it('writes unmatched resolutions to the anonymous chain, which verifies on its own', async () => {
    const id = await registerWithEvents(0);
    const before = await app.graphql<{ verifyAuditTrail: { eventCount: number } }>(auditor, VERIFY, { id });
    const resolver = await app.token(['identity:resolve'], 'svc-ivr');
    const eventIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await app.graphql<{ resolveCustomer: { customer: null; auditEventId: string } }>(
        resolver,
        `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: VOICE }) { customer { id } auditEventId } }`,
        { v: anEmail('stranger') },
      );
      expect(res.body.data!.resolveCustomer.customer).toBeNull();
      eventIds.push(res.body.data!.resolveCustomer.auditEventId);
    }
    const anonymous = await app.app.mongo.db.collection('audit_events').find({ chain: '_anonymous' }).toArray();
    expect(anonymous.length).toBeGreaterThanOrEqual(3);
    for (const doc of anonymous) {
      expect(doc['customerId']).toBeNull();
      expect(doc['type']).toBe('IDENTITY_RESOLUTION');
      // Sealed under a key of the lookup's own (anonymous_lookups), which an erasure of whoever registers later deletes.
      expect(doc['identifierHash']).toBeNull();
      expect(doc['sealedIdentifierHash']).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    }
    const read = await app.graphql<{ _entities: Array<{ identifierHash: string | null }> }>(
      auditor,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on AuditEvent { identifierHash } } }`,
      { r: eventIds.map((id) => ({ __typename: 'AuditEvent', id })) },
    );
    expect(read.body.errors).toBeUndefined();
    for (const event of read.body.data!._entities) expect(event.identifierHash).toMatch(/^v1:[A-Za-z0-9_-]{43}$/);
    const anon = await app.graphql<{ verifyAuditTrail: { valid: boolean; eventCount: number } }>(auditor, VERIFY, { id: '_anonymous' });
    expect(anon.body.data!.verifyAuditTrail).toMatchObject({ valid: true, eventCount: anonymous.length });
    const after = await app.graphql<{ verifyAuditTrail: { eventCount: number } }>(auditor, VERIFY, { id });
    expect(after.body.data!.verifyAuditTrail.eventCount).toBe(before.body.data!.verifyAuditTrail.eventCount);
  });
});

describe('verifyAuditTrail', () => {
  it('reports a valid chain with its count and head', async () => {
    const id = await registerWithEvents(3);
    const { edges } = await readAll(id, 50);
    const res = await app.graphql<{ verifyAuditTrail: Record<string, unknown> }>(auditor, VERIFY, { id });
    expect(res.body.data!.verifyAuditTrail).toEqual({
      customerId: id,
      valid: true,
      eventCount: 4,
      firstBrokenSequence: null,
      headSequence: 4,
      headHash: edges[3]!.node.hash,
    });
  });

  it('answers NOT_FOUND for an id nobody has and BAD_USER_INPUT for a malformed one', async () => {
    const unknown = await app.graphql(auditor, VERIFY, { id: 'cus_00000000000000000000000000' });
    expect(unknown.body.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    const malformed = await app.graphql(auditor, VERIFY, { id: 'someone@example.com' });
    expect(malformed.body.errors?.[0]?.extensions?.['code']).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(malformed.body)).not.toContain('someone@example.com');
  });
});
