import { createHash } from 'node:crypto';
import { buildSchema, execute, parse, type GraphQLSchema } from 'graphql';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { personOf } from '../src/auth/same-person.js';
import type { RequestContext } from '../src/context.js';
import { applyRateLimits } from '../src/hardening/rate-limited-fields.js';
import { RateLimiter } from '../src/hardening/rate-limiter.js';
import { loadTypeDefs } from '../src/schema-loader.js';
import { anEmail, aPhone, REGISTER } from './testkit/builders.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

const RESOLVE = `query Resolve($value: String!) {
  resolveCustomer(input: { identifier: { kind: EMAIL, value: $value }, channel: WEBCHAT }) { matchedBy auditEventId }
}`;
const LIMIT = 3;

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ env: { RATE_LIMIT_SENSITIVE_MAX: String(LIMIT), RATE_LIMIT_WINDOW_SECONDS: '3600', INTROSPECTION: 'false' } });
});
afterAll(async () => {
  await app?.stop();
});

async function redisKeys(pattern: string): Promise<string[]> {
  return app.app.redis.keys(pattern);
}

describe('rate limiting of sensitive operations', () => {
  it('refuses the call over the budget with RATE_LIMITED and retry information, before anything runs', async () => {
    const token = await app.token(['customer:read'], 'agent-enumerator');
    for (let i = 0; i < LIMIT; i++) {
      const res = await app.graphql(token, RESOLVE, { value: anEmail('probe') });
      expect(res.body.errors).toBeUndefined();
    }
    const resolutionsBefore = await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'IDENTITY_RESOLUTION' });
    const res = await app.graphql(token, RESOLVE, { value: anEmail('probe') });
    expect(res.body.data).toBeNull();
    const error = res.body.errors?.[0];
    expect(error?.extensions?.code).toBe('RATE_LIMITED');
    expect(error?.extensions?.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error?.extensions?.retryAfterSeconds).toBeLessThanOrEqual(3600);
    expect(res.headers.get('retry-after')).toBe(String(error?.extensions?.retryAfterSeconds));
    // Nothing executed: no resolution was audited for the refused call.
    expect(await app.app.mongo.db.collection('audit_events').countDocuments({ type: 'IDENTITY_RESOLUTION' })).toBe(resolutionsBefore);
  });

  // Each refused alias wrote a warn line of its own: 88 for 3 requests of 30 aliases (a probe). The metric counts them.
  it('logs one warning per request and operation past the budget, however many aliases it refuses', async () => {
    const token = await app.token(['customer:read'], 'agent-aliases');
    const aliased = `query($value: String!) { ${Array.from({ length: 6 }, (_v, i) => `r${i}: resolveCustomer(input: { identifier: { kind: EMAIL, value: $value } }) { auditEventId }`).join(' ')} }`;
    const warningsBefore = app.logs.lines.filter((l) => l.includes('"rate limit exceeded"')).length;
    const res = await app.graphql(token, aliased, { value: anEmail('aliases') }, { 'x-request-id': 'aliases-over-budget' });
    // resolveCustomer is non-null: the first refusal nulls `data`, and GraphQL reports that one.
    expect(res.body.errors?.[0]?.extensions?.['code']).toBe('RATE_LIMITED');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(app.logs.lines.filter((l) => l.includes('"rate limit exceeded"')).length - warningsBefore).toBe(1);
  });

  it('keeps separate budgets per caller and per operation', async () => {
    const first = await app.token(['customer:read', 'pii:read'], 'agent-budget-a');
    const second = await app.token(['customer:read'], 'agent-budget-b');
    for (let i = 0; i < LIMIT; i++) await app.graphql(first, RESOLVE, { value: anEmail() });
    expect((await app.graphql(first, RESOLVE, { value: anEmail() })).body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect((await app.graphql(second, RESOLVE, { value: anEmail() })).body.errors).toBeUndefined();
    // A budget is a person's: another spelling of the same subject (one person to the two-person rule) shares it.
    const sameAsFirst = await app.token(['customer:read'], 'Agent-Budget-A');
    expect((await app.graphql(sameAsFirst, RESOLVE, { value: anEmail() })).body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    // requestPiiAccess has a budget of its own: the refusal here is about the unknown customer, not the rate.
    const grant = await app.graphql(first, `mutation { requestPiiAccess(input: { customerId: "cus_00000000000000000000000000", fields: [EMAIL], justification: "Verifying the caller" }) { id } }`);
    expect(grant.body.errors?.[0]?.extensions?.code).not.toBe('RATE_LIMITED');
  });

  it('limits data-subject exports and erasures the same way', async () => {
    const service = await app.token(['identity:write'], 'svc-crm');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('dsar') }] } });
    const customerId = registered.body.data!.registerCustomer.id;
    const dpo = await app.token(['dsar:process'], 'dpo-budget');
    const exportQuery = `query($c: ID!) { dataSubjectAccess(customerId: $c) { customerId auditEventId } }`;
    for (let i = 0; i < LIMIT; i++) expect((await app.graphql(dpo, exportQuery, { c: customerId })).body.errors).toBeUndefined();
    const exports = () => app.app.mongo.db.collection('audit_events').countDocuments({ type: 'DSAR_EXPORT' });
    const exportsBefore = await exports();
    expect((await app.graphql(dpo, exportQuery, { c: customerId })).body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(await exports()).toBe(exportsBefore);

    const erase = `mutation($c: ID!, $r: String!) { eraseCustomer(customerId: $c, requestId: $r, reason: "Customer request") { alreadyErased } }`;
    for (let i = 0; i < LIMIT; i++) expect((await app.graphql(dpo, erase, { c: customerId, r: `dsar-${i}` })).body.errors).toBeUndefined();
    expect((await app.graphql(dpo, erase, { c: customerId, r: 'dsar-over' })).body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  // A probe's 20 concurrent requests of 3 verifications each of a 3,000-event chain held every other request of the
  // process for up to 46 s and failed its readiness check: each verification reads a whole chain.
  it('limits chain verifications per caller, and runs at most two at once in a process, the rest in turn', async () => {
    const service = await app.token(['identity:write'], 'svc-crm');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('verify') }] } });
    const customerId = registered.body.data!.registerCustomer.id;
    const verify = `query($c: ID!) { verifyAuditTrail(customerId: $c) { valid eventCount } }`;
    const audit = app.app.services.audit;
    const verifyChain = audit.verifyChain.bind(audit);
    let running = 0;
    let most = 0;
    audit.verifyChain = (async (chain: string) => {
      most = Math.max(most, ++running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return await verifyChain(chain);
      } finally {
        running -= 1;
      }
    }) as typeof audit.verifyChain;
    try {
      const auditors = await Promise.all(Array.from({ length: 4 }, (_, i) => app.token(['audit:read'], `auditor-${i}`)));
      const started = Date.now();
      const answers = await Promise.all(auditors.map((token) => app.graphql(token, `query($c: ID!) { a: verifyAuditTrail(customerId: $c) { valid } b: verifyAuditTrail(customerId: $c) { valid } c: verifyAuditTrail(customerId: $c) { valid } }`, { c: customerId })));
      expect(answers.map((a) => a.body)).toEqual(Array(4).fill({ data: { a: { valid: true }, b: { valid: true }, c: { valid: true } } }));
      expect(most).toBe(2);
      // 12 verifications of 50 ms, two at a time.
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      // Each auditor has spent its budget of LIMIT verifications; the next is refused before any runs.
      const over = await app.graphql(auditors[0]!, verify, { c: customerId });
      expect(over.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(running).toBe(0);
    } finally {
      audit.verifyChain = verifyChain;
    }
  });

  it('does not count calls that the field policy refuses', async () => {
    const unscoped = await app.token(['consent:read'], 'agent-without-scope');
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await app.graphql(unscoped, RESOLVE, { value: anEmail() });
      expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
  });

  it('keys counters by a hash of the caller id (as the person it names), never the id itself', async () => {
    const subject = 'jane.agent@example.org';
    const token = await app.token(['customer:read'], subject);
    await app.graphql(token, RESOLVE, { value: anEmail() });
    const keys = await redisKeys(`${app.config.redisKeyPrefix}rl:*`);
    const digest = createHash('sha256').update(personOf(subject)).digest('base64url');
    expect(keys.some((k) => k.includes(digest))).toBe(true);
    expect(keys.join(' ')).not.toContain('jane.agent');
  });

  it('starts a fresh count in the next window', async () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(app.app.redis, { windowSeconds: 10, max: 2, now: () => now });
    const caller = `caller-${aPhone()}`;
    expect((await limiter.consume(caller, 'resolveCustomer')).isAllowed).toBe(true);
    expect((await limiter.consume(caller, 'resolveCustomer')).isAllowed).toBe(true);
    const over = await limiter.consume(caller, 'resolveCustomer');
    expect(over).toMatchObject({ isAllowed: false, count: 3, retryAfterSeconds: 10 });
    now += 10_000;
    expect(await limiter.consume(caller, 'resolveCustomer')).toMatchObject({ isAllowed: true, count: 1 });
  });
});

describe('rate limiting while Redis is unreachable', () => {
  let unreachable: Redis;
  let schema: GraphQLSchema;
  const calls: string[] = [];

  beforeAll(() => {
    // A real client to a port nothing listens on: what the app sees while Redis is down.
    unreachable = new Redis(`${inject('redisUrl').replace(/:\d+$/, '')}:1`, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, retryStrategy: () => 60_000 });
    unreachable.on('error', () => undefined);
    schema = buildSchema('type Query { resolveCustomer: String dataSubjectAccess: String }');
    const fields = schema.getQueryType()!.getFields();
    fields['resolveCustomer']!.resolve = () => (calls.push('resolveCustomer'), 'resolved');
    fields['dataSubjectAccess']!.resolve = () => (calls.push('dataSubjectAccess'), 'exported');
    applyRateLimits(schema, { fields: { 'Query.resolveCustomer': 'fail-closed', 'Query.dataSubjectAccess': 'fail-open' } });
  });
  afterAll(() => unreachable.disconnect());

  it('fails closed for resolveCustomer and open for data-subject requests', async () => {
    const contextValue = {
      caller: { id: 'agent-1', kind: 'AGENT', scopes: new Set<string>() },
      services: { rateLimiter: new RateLimiter(unreachable, { windowSeconds: 60, max: 10 }) },
      log: pino({ level: 'silent' }),
    } as unknown as RequestContext;
    const closed = await execute({ schema, document: parse('{ resolveCustomer }'), contextValue });
    expect(closed.errors?.[0]?.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
    const open = await execute({ schema, document: parse('{ dataSubjectAccess }'), contextValue });
    expect(open.errors).toBeUndefined();
    expect(open.data).toEqual({ dataSubjectAccess: 'exported' });
    expect(calls).toEqual(['dataSubjectAccess']);
  });
});

describe('persisted queries and production settings', () => {
  const query = '{ __typename }';
  const sha256Hash = createHash('sha256').update(query).digest('hex');
  const apq = { persistedQuery: { version: 1, sha256Hash } };

  async function post(body: unknown): Promise<{ status: number; body: { data?: unknown; errors?: Array<{ extensions?: Record<string, unknown> }> } }> {
    const token = await app.token(['customer:read']);
    const res = await fetch(app.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as never };
  }

  it('serves no automatic persisted queries: a hash is neither stored nor looked up, for any caller', async () => {
    // One cache per process, shared by every caller: PERSISTED_QUERY_NOT_FOUND told a caller with no scope whether
    // anyone had sent a query (a lookup of a guessed email), and the cache kept its text (a probe).
    for (const body of [{ query, extensions: apq }, { extensions: apq }]) {
      const res = await post(body);
      expect(res.status).toBe(200);
      expect(res.body.data).toBeUndefined();
      expect(res.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    }
    const token = await app.token([]);
    const viaGet = await fetch(`${app.url}?extensions=${encodeURIComponent(JSON.stringify(apq))}`, {
      headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' },
    });
    expect(((await viaGet.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('PERSISTED_QUERY_NOT_SUPPORTED');
    // The query itself, sent as a query, is served.
    expect((await post({ query })).body).toEqual({ data: { __typename: 'Query' } });
  });

  it('reads a JSON body whatever the case of its media type, and no other media type as JSON', async () => {
    // Media types are case-insensitive (RFC 9110): `APPLICATION/JSON` was passed to Apollo unparsed, a 400 (a probe).
    const token = await app.token(['customer:read']);
    const send = (contentType: string) =>
      fetch(app.url, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
    for (const contentType of ['APPLICATION/JSON', 'Application/Json; charset=UTF-8', 'application/json', 'application/graphql+json']) {
      const res = await send(contentType);
      expect({ contentType, status: res.status, body: await res.json() }).toEqual({ contentType, status: 200, body: { data: { __typename: 'Query' } } });
    }
    for (const contentType of ['text/plain; x=json', 'application/jsonp', 'text/json']) {
      const res = await send(contentType);
      expect({ contentType, status: res.status }).toEqual({ contentType, status: 400 });
    }
  });

  it('refuses introspection and hides field suggestions when introspection is off', async () => {
    const introspection = await app.graphql(await app.token(['customer:read']), '{ __schema { types { name } } }');
    expect(introspection.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // Naming the variable that turns it on, not Apollo's "pass introspection: true to ApolloServer" (a probe).
    expect(introspection.body.errors?.[0]?.message).toBe('Introspection is off on this server (INTROSPECTION, off in production); the schema is served by _service { sdl }');
    expect(introspection.body.errors?.[0]?.extensions?.['validationErrorCode']).toBe('INTROSPECTION_DISABLED');
    const typo = await app.graphql(await app.token(['customer:read']), '{ custome(id: "x") { id } }');
    expect(typo.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
    expect(typo.body.errors?.[0]?.message).toContain('Cannot query field');
  });

  it('never includes stack traces in error responses', async () => {
    const res = await app.graphql(await app.token(['customer:read']), '{ customer(id: "bad") { id } }');
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace|at .*\.ts:\d+/);
  });
});

describe('connections answered before their body was read', () => {
  /**
   * Sends the head of a POST declaring a 100 MB body, then one byte every 200 ms, on a raw socket; resolves with what
   * came back and whether the server closed the connection, once it has or after `waitMs`.
   */
  async function trickle(headers: Record<string, string>, waitMs = 3_000): Promise<{ reply: string; closedByServer: boolean }> {
    const { createConnection } = await import('node:net');
    const { port } = new URL(app.baseUrl);
    return new Promise((resolve) => {
      const socket = createConnection(Number(port), '127.0.0.1');
      let reply = '';
      const head = Object.entries({ host: '127.0.0.1', 'content-type': 'application/json', 'content-length': '100000000', ...headers })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.write(`POST /graphql HTTP/1.1\r\n${head}\r\n{`);
      const drip = setInterval(() => socket.writable && socket.write(' '), 200);
      const finish = (closedByServer: boolean) => {
        clearInterval(drip);
        clearTimeout(timer);
        socket.destroy();
        resolve({ reply, closedByServer });
      };
      const timer = setTimeout(() => finish(false), waitMs);
      socket.on('data', (chunk) => (reply += chunk.toString('latin1')));
      socket.on('end', () => finish(true));
      socket.on('error', () => finish(true));
    });
  }

  it('closes the connection after a 401, however slowly the body it did not read keeps coming', async () => {
    const { reply, closedByServer } = await trickle({});
    expect(reply).toMatch(/^HTTP\/1\.1 401 /);
    expect(reply.toLowerCase()).toContain('connection: close');
    expect(closedByServer).toBe(true);
  });

  it('closes the connection after a 413 for a body declared over MAX_BODY_BYTES', async () => {
    const { reply, closedByServer } = await trickle({ authorization: `Bearer ${await app.token(['customer:read'])}` });
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(closedByServer).toBe(true);
  });

  it('keeps a connection whose request it read whole open for the next request', async () => {
    const { createConnection } = await import('node:net');
    const { port } = new URL(app.baseUrl);
    const token = await app.token(['customer:read']);
    const body = JSON.stringify({ query: '{ __typename }' });
    const replies = await new Promise<string>((resolve, reject) => {
      const socket = createConnection(Number(port), '127.0.0.1');
      let reply = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no second answer on the connection: ${reply}`));
      }, 5_000);
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1');
        if ((reply.match(/HTTP\/1\.1 200 /g) ?? []).length === 2) {
          clearTimeout(timer);
          socket.destroy();
          resolve(reply);
        }
      });
      const request = `POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
      socket.write(request);
      setTimeout(() => socket.write(request), 200);
    });
    expect(replies.toLowerCase()).not.toContain('connection: close');
  });

  it('keeps the connection of a request without a body answered at once (health, 404, 405), pipelined too', async () => {
    const { createConnection } = await import('node:net');
    const { port } = new URL(app.baseUrl);
    const requests = ['GET /health/live', 'GET /nope', 'POST /health/live', 'GET /health/live'].map((line) => `${line} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
    const replies = await new Promise<string>((resolve, reject) => {
      const socket = createConnection(Number(port), '127.0.0.1');
      let reply = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`not every request was answered on the connection: ${reply}`));
      }, 5_000);
      socket.on('data', (chunk) => {
        reply += chunk.toString('latin1');
        if ((reply.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === requests.length) {
          clearTimeout(timer);
          socket.destroy();
          resolve(reply);
        }
      });
      socket.write(requests.join(''));
    });
    expect(replies.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 404', 'HTTP/1.1 405', 'HTTP/1.1 200']);
    expect(replies.toLowerCase()).not.toContain('connection: close');
  });
});

describe('what one request asks of _entities', () => {
  const HISTORY = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { consentHistory { id customerId version scopes grantedAt expiresAt source supersedes } } } }`;
  const unknownIds = (count: number) => Array.from({ length: count }, (_, i) => ({ __typename: 'Customer', id: `cus_${String(i).padStart(26, '0')}` }));

  it('weighs each representation by its selection: every receipt of 160 customers is answered, of 200 refused', async () => {
    // Each weighs 1,502: the entity, consentHistory, and 100 receipts (its bound) of 8 fields, scopes counted for 5,
    // and a source of up to 64 characters for 3.
    const token = await app.token(['customer:read', 'consent:read']);
    const allowed = await app.graphql<{ _entities: unknown[] }>(token, HISTORY, { r: unknownIds(160) });
    expect(allowed.body.errors).toBeUndefined();
    expect(allowed.body.data!._entities).toHaveLength(160);
    app.resetCommands();
    // The same id 1,550 times with three aliases of consentHistory made a 169 MB answer (a regression probe).
    const refused = await app.graphql(token, HISTORY, { r: unknownIds(200) });
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight', maximum: 250_000 });
    expect(app.mongoCommands.filter((c) => c.commandName === 'find')).toHaveLength(0);
  });
});

describe('what lists under an entity are counted at', () => {
  const unknownIds = (count: number) => Array.from({ length: count }, (_, i) => ({ __typename: 'Customer', id: `cus_${String(i).padStart(26, '0')}` }));

  it("counts a page of the audit trail at its first, written in the query or passed as a variable", async () => {
    // Each weighs 3 + 11 x first (the two hashes 64 characters each): pages of 200 of one customer's trail, 1,550
    // times, made an 87 MB answer under the weight limit when edges were counted at 20 (a probe).
    const PAGES = `query($r: [_Any!]!, $f: Int) { _entities(representations: $r) { ... on Customer { auditTrail(first: $f) { edges { node { id type occurredAt sequence prevHash hash } } } } } }`;
    const token = await app.token(['audit:read']);
    const refused = await app.graphql(token, PAGES, { r: unknownIds(200), f: 200 });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
    const written = await app.graphql(token, PAGES.replace('first: $f', 'first: 200').replace(', $f: Int', ''), { r: unknownIds(200) });
    expect(written.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
    // The default page (50) and small pages pass.
    for (const f of [null, 20]) {
      const allowed = await app.graphql<{ _entities: unknown[] }>(token, PAGES, { r: unknownIds(400), f });
      expect(allowed.body.errors?.[0]?.extensions?.['limit']).toBeUndefined();
    }
  });

  // Each field weighed 1 whatever name it answered under: 300 aliases of 150 characters over 700 representations made
  // a 35 MB answer from a 95 KB request, and 30 aliases of 500 characters over 1,300 a 20 MB one (a probe).
  it('weighs a field by the length of the alias it answers under', async () => {
    const token = await app.token(['customer:read']);
    const query = (aliases: number, length: number, field: string) =>
      `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { ${Array.from({ length: aliases }, (_, i) => `${'a'.repeat(length)}${i}: ${field}`).join(' ')} } } }`;
    // 300 aliases are over MAX_ALIASES now, `__typename`'s too (they were not counted until a probe).
    const aliased = await app.graphql(token, query(300, 150, '__typename'), { r: unknownIds(700) });
    expect(aliased.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'aliases' });
    for (const [aliases, length, field, representations] of [
      [30, 500, '__typename', 1_300],
      [30, 500, 'status', 1_300],
    ] as const) {
      const refused = await app.graphql(token, query(aliases, length, field), { r: unknownIds(representations) });
      expect(refused.body.data).toBeNull();
      expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
      // The same selection under short names passes.
      const allowed = await app.graphql(token, query(aliases, 1, field), { r: unknownIds(representations) });
      expect(allowed.body.errors?.[0]?.extensions?.['limit']).toBeUndefined();
    }
    // Every name the schema has weighs 1: ordinary selections weigh what they did.
    const names = loadTypeDefs().definitions.flatMap((d) => ('fields' in d && d.fields ? d.fields.map((f) => f.name.value) : []));
    expect(names.length).toBeGreaterThan(100);
    expect(Math.max(...names.map((name) => name.length))).toBeLessThan(24);
  });

  // A unit of weight was a short value: 29 aliases of a 500-character `summary` over 1,500 representations of one
  // customer weighed 222,000 and made a 109 MB answer from a 96 KB request; 29 aliases of `context`, withheld from a
  // customer:read token, made 43,500 errors in 9 s (a regression probe).
  it('weighs long text by its length, and a field the caller may not read as the error it gets', async () => {
    const query = (selection: string) => `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { ${selection} } } }`;
    const aliased = (count: number, field: string) => Array.from({ length: count }, (_, i) => `s${i}: ${field}`).join(' ');
    const reader = await app.token(['customer:read', 'context:read']);
    const summaries = await app.graphql(reader, query(`context { lastInteractions { ${aliased(29, 'summary')} } }`), { r: unknownIds(1_500) });
    expect(summaries.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
    // A console page of a hundred customers with their interactions passes.
    const page = await app.graphql(reader, query('displayName email context { lastInteractions { id occurredAt summary outcome } }'), { r: unknownIds(100) });
    expect(page.body.errors?.[0]?.extensions?.['limit']).toBeUndefined();

    const maskedOnly = await app.token(['customer:read']);
    const withheld = await app.graphql(maskedOnly, query(aliased(29, 'context { __typename }')), { r: unknownIds(1_500) });
    expect(withheld.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
    // The same selection by a caller who may read it weighs what it selects.
    const allowed = await app.graphql(reader, query(aliased(29, 'context { __typename }')), { r: unknownIds(1_500) });
    expect(allowed.body.errors?.[0]?.extensions?.['limit']).toBeUndefined();

    // Then (a second regression round): an audit event's details, 148 MB from 3.5 KB; a 64-character consent source,
    // 23 MB; and a phone a pii:read token may only read with a grant, 48,050 ELEVATION_REQUIRED errors in 5.9 s.
    for (const [scopes, selection, representations] of [
      [['audit:read'], `auditTrail(first: 200) { edges { node { ${aliased(29, 'details')} } } }`, 38],
      [['customer:read', 'consent:read'], `consentHistory { ${aliased(25, 'source')} }`, 99],
      [['pii:read'], aliased(30, 'phone'), 1_500],
      // And arguments the resolver refuses, one error per selection (a third round: 48,050 errors in 3 s).
      [['audit:read'], aliased(30, 'auditTrail(after: "!") { __typename }'), 1_500],
      // Withheld fields at 10 each still made 21,000 errors in 4 s (a fourth round).
      [['identity:resolve'], aliased(14, 'email'), 1_500],
    ] as const) {
      const refused = await app.graphql(await app.token([...scopes]), query(selection), { r: unknownIds(representations) });
      expect(refused.body.errors?.[0]?.extensions, selection).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
    }
    // A phone that customer:read reads masked weighs a short value.
    const masked = await app.graphql(maskedOnly, query(aliased(30, 'phone')), { r: unknownIds(1_500) });
    expect(masked.body.errors?.[0]?.extensions?.['limit']).toBeUndefined();
  });

  it('counts Customer.identifiers at the most a customer may hold', async () => {
    const aliases = Array.from({ length: 5 }, (_, i) => `i${i}: identifiers { hash }`).join(' ');
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { ${aliases} } } }`;
    const token = await app.token(['identity:resolve']);
    const refused = await app.graphql(token, query, { r: unknownIds(1_000) });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'entityWeight' });
    const allowed = await app.graphql<{ _entities: unknown[] }>(token, query, { r: unknownIds(900) });
    expect(allowed.body.errors?.[0]?.extensions?.['limit']).toBeUndefined();
  });
});

describe('representations one request passes to _entities', () => {
  const aliased = (count: number) =>
    `query($r: [_Any!]!) { ${Array.from({ length: count }, (_, i) => `a${i}: _entities(representations: $r) { ... on Customer { id } }`).join(' ')} }`;
  const unknown = (count: number) => Array.from({ length: count }, (_, i) => ({ __typename: 'Customer', id: `cus_${String(i).padStart(26, '0')}` }));

  it('takes 2,000 in all, however the selections split them', async () => {
    const token = await app.token(['customer:read']);
    const res = await app.graphql<Record<string, unknown[]>>(token, aliased(2), { r: unknown(1_000) });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!['a1']).toHaveLength(1_000);
  });

  it('refuses every _entities of a request over 2,000, before resolving or checking any, for any caller', async () => {
    for (const scopes of [['customer:read'], []]) {
      app.resetCommands();
      const res = await app.graphql(await app.token(scopes), `${aliased(1)} fragment F on Query { again: _entities(representations: $r) { __typename } }`.replace('{ a0:', '{ ...F a0:'), { r: unknown(1_001) });
      expect(res.status).toBe(200);
      expect(res.body.data).toBeNull();
      // Refused as a whole (the field is non-null), not representation by representation (a scopeless caller got
      // 57,000 FORBIDDEN errors).
      expect(res.body.errors?.length).toBeGreaterThan(0);
      for (const error of res.body.errors ?? []) expect([error.extensions?.code, error.extensions?.limit, error.extensions?.maximum]).toEqual(['QUERY_TOO_COMPLEX', 'entityRepresentations', 2_000]);
      expect(app.mongoCommands.filter((c) => c.commandName === 'find')).toHaveLength(0);
    }
  });
});

describe('a graceful stop', () => {
  it('answers a request in flight on a keep-alive connection, then closes that connection and completes', async () => {
    const own = await startTestApp();
    const { Agent, request } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    const token = await own.token(['customer:read']);
    // The request is held in its customer read until the stop has begun.
    const repository = (own.app.services.customers as unknown as { repository: { findByIds: (...args: unknown[]) => Promise<unknown> } }).repository;
    const findByIds = repository.findByIds;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const inFlight = new Promise<void>((resolve) => (reached = resolve));
    repository.findByIds = async function (this: unknown, ...args: unknown[]) {
      reached();
      await gate;
      return findByIds.apply(this, args);
    };
    const body = JSON.stringify({ query: `{ customer(id: "cus_${'0'.repeat(26)}") { id } }` });
    const answer = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request(`${own.url}`, { method: 'POST', agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.end(body);
    });
    await inFlight;
    let stopped = false;
    const stopping = own.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    const answered = await answer;
    // A keep-alive connection stayed open after its answer, and the stop waited for it (a regression probe).
    await Promise.race([stopping, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    agent.destroy();
    expect(answered).toEqual({ status: 200, connection: 'close' });
    expect(stopped).toBe(true);
  });

  it('closes connections still sending their request, and does not wait for them', async () => {
    const own = await startTestApp();
    const { createConnection } = await import('node:net');
    const { port } = new URL(own.baseUrl);
    const token = await own.token(['customer:read']);
    const open = (head: string) => {
      const socket = createConnection(Number(port), '127.0.0.1');
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.write(head);
      const drip = setInterval(() => socket.writable && socket.write(head.includes('content-length') ? ' ' : 'x-slow: 1\r\n'), 300);
      closed.then(() => clearInterval(drip), () => clearInterval(drip));
      return closed;
    };
    // Headers a line at a time, with no token; a body a byte at a time, with one.
    const slowHeaders = open('POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    const slowBody = open(`POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 90000\r\n\r\n{`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    let stopped = false;
    const stopping = own.stop().then(() => (stopped = true));
    // Both are closed at once, and the stop completes (it waited for SHUTDOWN_GRACE_SECONDS, then exited 1; a probe).
    let closed = false;
    const bothClosed = Promise.all([slowHeaders, slowBody]).then(() => (closed = true));
    await Promise.race([Promise.all([bothClosed, stopping]), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    expect(closed).toBe(true);
    expect(stopped).toBe(true);
  });
});
