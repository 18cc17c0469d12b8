/**
 * The subgraph behind @apollo/gateway, composed with a second ("tickets")
 * subgraph that extends Customer: what front-end teams see must be exactly
 * what the subgraph answers directly, masks, withheld fields and error codes
 * included, also for customers first reached through the other subgraph.
 */
import { spawn } from 'node:child_process';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aPhone, anEmail, REGISTER, SERVICE_SCOPES } from '../testkit/builders.js';
import { runScript } from '../testkit/run-script.js';
import { startTestApp, type GraphQLResponse, type TestApp } from '../testkit/test-app.js';
import { repoRoot } from '../../scripts/production-runtime.js';
import { composeSupergraph, startGateway, type Gateway } from './supergraph-gateway.js';
import { startTicketsSubgraph, type TicketRecord, type TicketsSubgraph } from './tickets-subgraph.js';

let app: TestApp;
let tickets: TicketsSubgraph;
let gateway: Gateway;
let identitySdl: string;
let agent: string;
const customerIds: string[] = [];
const STALE_ID = 'cus_00000000000000000000000000';

const CUSTOMER_FIELDS = 'id status displayName email phone country createdAt identifiers { kind }';

type ErrorShape = { code: unknown; reason: unknown; path: string };

/** What a client acts on: code, reason and the field's path (below the entity it belongs to). */
function errorShapes(response: GraphQLResponse, dropPathPrefix: number): ErrorShape[] {
  return (response.body.errors ?? [])
    .map((e) => ({ code: e.extensions?.code, reason: e.extensions?.reason, path: (e.path ?? []).slice(dropPathPrefix).join('.') }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

async function register(displayName: string): Promise<string> {
  const service = await app.token(SERVICE_SCOPES, 'svc-crm');
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: { identifiers: [{ kind: 'EMAIL', value: anEmail('gw') }, { kind: 'PHONE', value: aPhone() }], displayName, country: 'gb' },
  });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.registerCustomer.id;
}

beforeAll(async () => {
  // What an @apollo/gateway deployment runs: the gateway refuses @requiresScopes, the subgraph enforces every scope itself.
  app = await startTestApp({ env: { POLICY_ROUTER_DIRECTIVES: 'false' } });
  agent = await app.token(['customer:read'], 'agent-gw');
  customerIds.push(await register('Jane Doe'), await register('Omar Khayyam Nishapuri'), await register('Erin Erased'));
  const records: TicketRecord[] = [
    { id: 'T-1', subject: 'Router keeps rebooting', status: 'OPEN', customerId: customerIds[0]! },
    { id: 'T-2', subject: 'Refund', status: 'CLOSED', customerId: customerIds[0]! },
    { id: 'T-3', subject: 'Change of plan', status: 'OPEN', customerId: customerIds[1]! },
    { id: 'T-4', subject: 'Imported from the old CRM', status: 'OPEN', customerId: STALE_ID },
    { id: 'T-5', subject: 'Please delete my data', status: 'CLOSED', customerId: customerIds[2]! },
  ];
  tickets = await startTicketsSubgraph(records);
  const sdl = await app.graphql<{ _service: { sdl: string } }>(agent, '{ _service { sdl } }');
  identitySdl = sdl.body.data!._service.sdl;
  const { supergraphSdl } = composeSupergraph([
    { name: 'identity', url: app.url, typeDefs: parse(identitySdl) },
    { name: 'tickets', url: tickets.url, typeDefs: tickets.typeDefs },
  ]);
  gateway = await startGateway(supergraphSdl);
});

afterAll(async () => {
  await gateway?.stop();
  await tickets?.stop();
  await app?.stop();
});

describe('composition', () => {
  it('composes the served SDL with a subgraph that extends Customer by key', () => {
    const { supergraphSdl } = composeSupergraph([
      { name: 'identity', url: app.url, typeDefs: parse(identitySdl) },
      { name: 'tickets', url: tickets.url, typeDefs: tickets.typeDefs },
    ]);
    const flat = supergraphSdl.replace(/\s+/g, ' ');
    expect(flat).toContain('@join__type(graph: IDENTITY, key: "id")');
    expect(flat).toContain('@join__type(graph: TICKETS, key: "id")');
    expect(flat).toMatch(/openTicketCount: Int! @join__field\(graph: TICKETS\)/);
  });

  // PageInfo is @shareable: a Relay-style subgraph's PageInfo has four fields, and with two here the supergraph could
  // not answer `hasPreviousPage` or `startCursor` through the audit trail, so composition failed (a probe).
  it("composes with another subgraph's Relay PageInfo", () => {
    const relay = parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable"])
      type PageInfo @shareable { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
      type Order @key(fields: "id") { id: ID! customer: Customer }
      type Customer @key(fields: "id", resolvable: false) { id: ID! }
      type OrderConnection { pageInfo: PageInfo! nodes: [Order!]! }
      type Query { orders(first: Int): OrderConnection! }
    `);
    const { supergraphSdl } = composeSupergraph([
      { name: 'identity', url: app.url, typeDefs: parse(identitySdl) },
      { name: 'orders', url: 'http://orders.invalid/graphql', typeDefs: relay },
    ]);
    expect(supergraphSdl.replace(/\s+/g, ' ')).toMatch(/type PageInfo @join__type\(graph: IDENTITY\) @join__type\(graph: ORDERS\)/);
  });

  it('composes the default SDL, @requiresScopes included, for the GraphOS Router, which @apollo/gateway refuses', async () => {
    const routerApp = await startTestApp({ shareStoresWith: app });
    const served = await routerApp.graphql<{ _service: { sdl: string } }>(agent, '{ _service { sdl } }');
    await routerApp.stop();
    expect(identitySdl).not.toContain('@requiresScopes');
    const { supergraphSdl } = composeSupergraph([
      { name: 'identity', url: app.url, typeDefs: parse(served.body.data!._service.sdl) },
      { name: 'tickets', url: tickets.url, typeDefs: tickets.typeDefs },
    ]);
    expect(supergraphSdl).toContain('https://specs.apollo.dev/requiresScopes/v0.1');
    // @apollo/gateway 2.14 refuses it: requiresScopes is "for: SECURITY"; hence POLICY_ROUTER_DIRECTIVES=false above.
    await expect(startGateway(supergraphSdl)).rejects.toThrow(/requiresScopes.*unsupported/);
  });
});

// The README's supergraph queries were runnable only by reading these tests (a probe): `npm run supergraph` serves them.
describe('npm run supergraph', () => {
  it('serves this subgraph and the tickets one through @apollo/gateway, the tickets naming Jane Doe of the demo data', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-crm');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: 'jane.doe@example.com' }], displayName: 'Jane Doe' },
    });
    const jane = registered.body.data!.registerCustomer.id;
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/supergraph-demo.ts', '--token', agent, '--subgraph', app.url, '--port', '0'], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await expect.poll(() => (child.exitCode === null ? output : `exited ${child.exitCode}: ${output}`), { timeout: 60_000, interval: 200 }).toMatch(/^(?!exited)[\s\S]*Stop with Ctrl-C/);
      const url = /served by @apollo\/gateway at (\S+)/.exec(output)![1]!;
      expect(output).toContain(`Jane Doe is ${jane}`);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${agent}` },
        body: JSON.stringify({ query: '{ openTickets { id customer { id displayName email } } }' }),
      });
      const body = (await response.json()) as { data: { openTickets: Array<{ id: string; customer: { id: string; displayName: string } | null }> } };
      expect(body.data.openTickets).toEqual([
        { id: 'T-1', customer: { id: jane, displayName: 'Jane D.', email: 'j***@example.com' } },
        // A key the tickets subgraph holds comes from it; this subgraph knows no such customer (see the README).
        { id: 'T-3', customer: { id: STALE_ID, displayName: null, email: null } },
      ]);
    } finally {
      child.kill('SIGINT');
    }
    await new Promise((resolve) => child.once('exit', resolve));
  }, 90_000);

  it('says to turn the router directives off when the subgraph serves them', async () => {
    const routerApp = await startTestApp({ shareStoresWith: app });
    try {
      const { code, output } = await runScript('scripts/supergraph-demo.ts', ['--token', agent, '--subgraph', routerApp.url, '--port', '0'], {});
      expect(code).toBe(2);
      expect(output).toContain('start it with POLICY_ROUTER_DIRECTIVES=false');
    } finally {
      await routerApp.stop();
    }
  }, 90_000);
});

describe('the same policy through the gateway', () => {
  it('forwards the caller Authorization header to the subgraphs', async () => {
    const before = tickets.receivedAuthorization.length;
    const res = await gateway.graphql(agent, '{ openTickets { id } }');
    expect(res.body.errors).toBeUndefined();
    expect(tickets.receivedAuthorization.slice(before)).toContain(`Bearer ${agent}`);
  });

  it('returns the same masked data and the same withheld errors as a direct call', async () => {
    const id = customerIds[0]!;
    const query = (extra: string) => `query($id: ID!) { customer(id: $id) { ${CUSTOMER_FIELDS} ${extra} } }`;
    const direct = await app.graphql<{ customer: Record<string, unknown> }>(agent, query(''), { id });
    const viaGateway = await gateway.graphql<{ customer: Record<string, unknown> }>(agent, query('openTicketCount tickets { id }'), { id });

    const { openTicketCount, tickets: customerTickets, ...identityPart } = viaGateway.body.data!.customer;
    expect(identityPart).toEqual(direct.body.data!.customer);
    expect(direct.body.data!.customer['email']).toMatch(/^g\*\*\*@example\.com$/);
    expect(direct.body.data!.customer['displayName']).toBe('Jane D.');
    expect(direct.body.data!.customer['phone']).toMatch(/^\+\*+\d{4}$/);
    expect(openTicketCount).toBe(1);
    expect(customerTickets).toEqual([{ id: 'T-1' }, { id: 'T-2' }]);

    expect(errorShapes(viaGateway, 0)).toEqual(errorShapes(direct, 0));
    expect(errorShapes(direct, 0)).toEqual([{ code: 'FORBIDDEN', reason: 'MISSING_SCOPE', path: 'customer.identifiers' }]);
    for (const error of viaGateway.body.errors ?? []) expect(error.message).not.toMatch(/@|\+\d{6}/);
  });

  it('applies the same policy to customers first reached through the tickets subgraph (_entities)', async () => {
    const viaGateway = await gateway.graphql<{ openTickets: Array<{ id: string; customer: Record<string, unknown> | null }> }>(
      agent,
      `{ openTickets { id customer { ${CUSTOMER_FIELDS} } } }`,
    );
    // The open tickets' customers, in ticket order: what the gateway sends to _entities.
    const representations = [customerIds[0], customerIds[1], STALE_ID].map((id) => ({ __typename: 'Customer', id }));
    const direct = await app.graphql<{ _entities: Array<Record<string, unknown> | null> }>(
      agent,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { ${CUSTOMER_FIELDS} } } }`,
      { r: representations },
    );
    expect(viaGateway.body.data!.openTickets.map((t) => t.id)).toEqual(['T-1', 'T-3', 'T-4']);
    expect(viaGateway.body.data!.openTickets.map((t) => t.customer)).toEqual(direct.body.data!._entities);
    // A stale key in the other subgraph is a null customer, not an error.
    expect(direct.body.data!._entities[2]).toBeNull();

    const shapes = (res: GraphQLResponse, prefix: string) =>
      errorShapes(res, 0).map((e) => ({ ...e, path: e.path.replace(prefix, '') }));
    const gatewayShapes = shapes(viaGateway, 'openTickets.').map((e) => ({ ...e, path: e.path.replace('.customer', '') }));
    expect(gatewayShapes).toEqual(shapes(direct, '_entities.'));
    expect(gatewayShapes).toEqual([
      { code: 'FORBIDDEN', reason: 'MISSING_SCOPE', path: '0.identifiers' },
      { code: 'FORBIDDEN', reason: 'MISSING_SCOPE', path: '1.identifiers' },
    ]);
  });

  it('shows a field in clear through the gateway only with an approved grant, and audits the read', async () => {
    const [granted, other] = customerIds as [string, string];
    const senior = await app.token(['customer:read', 'pii:read'], 'agent-senior-gw');
    const supervisor = await app.token(['customer:read', 'pii:approve'], 'supervisor-gw');
    const requested = await app.graphql<{ requestPiiAccess: { id: string } }>(
      senior,
      `mutation($c: ID!) { requestPiiAccess(input: { customerId: $c, fields: [EMAIL], justification: "Customer asked to confirm the address on file" }) { id } }`,
      { c: granted },
    );
    expect(requested.body.errors).toBeUndefined();
    const approved = await app.graphql(supervisor, `mutation($g: ID!) { approvePiiAccess(grantId: $g) { status } }`, { g: requested.body.data!.requestPiiAccess.id });
    expect(approved.body.errors).toBeUndefined();

    const audits = app.app.mongo.db.collection('audit_events');
    const before = await audits.countDocuments({ type: 'PII_ACCESS', customerId: granted });
    const res = await gateway.graphql<{ openTickets: Array<{ customer: { id: string; email: string } | null }> }>(
      senior,
      '{ openTickets { customer { id email } } }',
    );
    expect(res.body.errors).toBeUndefined();
    const emails = new Map(res.body.data!.openTickets.filter((t) => t.customer).map((t) => [t.customer!.id, t.customer!.email]));
    expect(emails.get(granted)).toMatch(/^gw\.\d+\.[0-9a-f]+@example\.com$/);
    expect(emails.get(other)).toMatch(/^g\*\*\*@example\.com$/);
    expect(await audits.countDocuments({ type: 'PII_ACCESS', customerId: granted })).toBe(before + 1);
  });

  it('withholds support context without the customer consent, through the gateway as directly', async () => {
    const [consenting, silent] = customerIds as [string, string];
    const service = await app.token(SERVICE_SCOPES, 'svc-crm');
    const consent = await app.graphql(service, `mutation($c: ID!) { recordConsent(input: { customerId: $c, scopes: ["support_context"], source: "ivr" }) { id } }`, { c: consenting });
    expect(consent.body.errors).toBeUndefined();
    const contextAgent = await app.token(['customer:read', 'context:read'], 'agent-context-gw');
    const fields = 'id context { customerId openTickets { id } lastInteractions { id } }';

    const viaGateway = await gateway.graphql<{ openTickets: Array<{ customer: { id: string; context: Record<string, unknown> | null } | null }> }>(
      contextAgent,
      `{ openTickets { customer { ${fields} } } }`,
    );
    const direct = await app.graphql<{ _entities: Array<{ id: string; context: Record<string, unknown> | null } | null> }>(
      contextAgent,
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { ${fields} } } }`,
      { r: [consenting, silent, STALE_ID].map((id) => ({ __typename: 'Customer', id })) },
    );
    const gatewayCustomers = viaGateway.body.data!.openTickets.map((t) => t.customer);
    expect(gatewayCustomers.slice(0, 2)).toEqual(direct.body.data!._entities.slice(0, 2));
    // The stale key: the gateway keeps the tickets subgraph's reference; this subgraph adds nothing to it.
    expect(gatewayCustomers[2]).toEqual({ id: STALE_ID, context: null });
    expect(direct.body.data!._entities[2]).toBeNull();
    const silentContext = direct.body.data!._entities[1]!.context!;
    expect(silentContext).toMatchObject({ customerId: silent, openTickets: null, lastInteractions: null });
    const consentingContext = direct.body.data!._entities[0]!.context!;
    expect(consentingContext['openTickets']).toEqual(expect.any(Array));

    const shapes = errorShapes(direct, 0).map((e) => ({ ...e, path: e.path.replace(/^_entities\./, '') }));
    const gatewayShapes = errorShapes(viaGateway, 0).map((e) => ({ ...e, path: e.path.replace(/^openTickets\.(\d+)\.customer\./, '$1.') }));
    expect(gatewayShapes).toEqual(shapes);
    expect(shapes).toEqual([
      { code: 'FORBIDDEN', reason: 'CONSENT_REQUIRED', path: '1.context.lastInteractions' },
      { code: 'FORBIDDEN', reason: 'CONSENT_REQUIRED', path: '1.context.openTickets' },
    ]);
  });

  it('shows an erased customer as ERASED with every personal field null, through the gateway as directly', async () => {
    const erasedId = customerIds[2]!;
    const dpo = await app.token(['dsar:process', 'customer:read'], 'dpo-gw');
    const erased = await app.graphql(dpo, `mutation($c: ID!) { eraseCustomer(customerId: $c, requestId: "dsar-gw-1", reason: "Customer request") { customerId } }`, { c: erasedId });
    expect(erased.body.errors).toBeUndefined();
    const senior = await app.token(['customer:read', 'pii:read'], 'agent-senior-gw');
    const fields = 'id status displayName email phone country preferredLanguage';
    const viaGateway = await gateway.graphql<{ ticket: { customer: Record<string, unknown> } }>(senior, `{ ticket(id: "T-5") { customer { ${fields} openTicketCount } } }`);
    const direct = await app.graphql<{ customer: Record<string, unknown> }>(senior, `query($id: ID!) { customer(id: $id) { ${fields} } }`, { id: erasedId });
    const { openTicketCount: _count, ...identityPart } = viaGateway.body.data!.ticket.customer;
    expect(identityPart).toEqual(direct.body.data!.customer);
    expect(direct.body.data!.customer).toEqual({ id: erasedId, status: 'ERASED', displayName: null, email: null, phone: null, country: null, preferredLanguage: null });
    expect(errorShapes(viaGateway, 0).map((e) => e.code)).toEqual(errorShapes(direct, 0).map((e) => e.code));
  });

  it('refuses a caller without a token with UNAUTHENTICATED and returns no customer data', async () => {
    const res = await gateway.graphql<{ customer: unknown }>(null, `query($id: ID!) { customer(id: $id) { id email } }`, { id: customerIds[0] });
    expect(res.body.data?.customer ?? null).toBeNull();
    expect(res.body.errors?.map((e) => e.extensions?.code)).toContain('UNAUTHENTICATED');
    expect(JSON.stringify(res.body)).not.toContain(customerIds[0]!.slice(4));
  });
});
