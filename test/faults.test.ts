/**
 * Outages with real processes: this file's own redis-server and FerretDB
 * (startPrivateServices), stopped and started while requests keep coming.
 * The subgraph must not crash, must report readiness truthfully, must answer
 * with clear errors that name no internals, and must recover by itself.
 */
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevServices } from '../src/dev/services.js';
import { anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { startPrivateServices } from './testkit/service-control.js';
import { startTestApp, type GraphQLResponse, type TestApp } from './testkit/test-app.js';
import { AuditRepository } from '../src/audit/audit-repository.js';
import { classifyInfrastructureError } from '../src/http/infrastructure-errors.js';
import { SupportRecordRepository } from '../src/support-records/support-record-repository.js';

let services: DevServices;
let app: TestApp;
let agent: string;
let customerId: string;
let email: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const BY_ID = `query ById($id: ID!) { customer(id: $id) { id status email } }`;
const RESOLVE = `query Resolve($value: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $value } }) { matchedBy customer { id } } }`;
/** What a caller must never see in an error: driver and socket details. */
const INTERNALS = /ECONNREFUSED|127\.0\.0\.1|localhost|Mongo[A-Z]|ioredis|Stream isn't writeable|Connection is closed|\.ts:\d+|stack/;

async function readiness(): Promise<{ status: number; checks: Record<string, string> }> {
  const res = await fetch(`${app.baseUrl}/health/ready`);
  const body = (await res.json()) as { checks: Record<string, string> };
  return { status: res.status, checks: body.checks };
}

async function waitFor<T>(what: string, probe: () => Promise<T>, isDone: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (isDone(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

/** Warnings of a store going away and coming back: logged once per change (a probe found the outage nowhere in the log). */
const storeWarnings = async (store: string) =>
  app.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['store'] === store && l['level'] === 40).map((l) => l['msg'] as string);

const byId = () => app.graphql<{ customer: { id: string; email: string } | null }>(agent, BY_ID, { id: customerId });
const resolve = () => app.graphql<{ resolveCustomer: { customer: { id: string } | null } }>(agent, RESOLVE, { value: email });
const isOk = (res: GraphQLResponse) => res.status === 200 && res.body.errors === undefined;
const codesOf = (res: GraphQLResponse) => (res.body.errors ?? []).map((e) => e.extensions?.code);

/** Requests that keep running through every outage: their answers must all be data or a clear error. */
class BackgroundTraffic {
  readonly responses: GraphQLResponse[] = [];
  readonly failures: unknown[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor() {
    this.loop = (async () => {
      while (this.running) {
        try {
          this.responses.push(await byId(), await resolve());
        } catch (error) {
          this.failures.push(error);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  services = await startPrivateServices();
  app = await startTestApp({ mongoUrl: services.mongoUrl, redisUrl: services.redisUrl, env: { RATE_LIMIT_SENSITIVE_MAX: '100000' } });
  agent = await app.token(['customer:read'], 'agent-faults');
  email = anEmail('outage');
  const service = await app.token(SERVICE_SCOPES, 'svc-crm');
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }], displayName: 'Out Age' } });
  expect(res.body.errors).toBeUndefined();
  customerId = res.body.data!.registerCustomer.id;
});

afterAll(async () => {
  await app?.stop();
  await services?.stop();
  process.off('unhandledRejection', onUnhandled);
});

describe('outages of real servers while requests run', () => {
  it('keeps serving through a Redis outage: not ready, SERVICE_UNAVAILABLE for what needs Redis, then recovers', async () => {
    expect(await readiness()).toEqual({ status: 200, checks: { mongodb: 'ok', redis: 'ok' } });
    const traffic = new BackgroundTraffic();
    await services.stopRedis();

    const down = await waitFor('readiness to report redis down', readiness, (r) => r.status === 503);
    expect(down.checks).toEqual({ mongodb: 'ok', redis: 'down' });
    // resolveCustomer is rate limited in Redis and fails closed.
    const refused = await resolve();
    expect(refused.status).toBe(200);
    expect(refused.body.errors?.[0]?.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', service: 'redis' });
    expect(JSON.stringify(refused.body)).not.toMatch(INTERNALS);
    // A data-subject export is rate limited too, but fails open: the legal deadline does not wait for Redis.
    const dpo = await app.token(['dsar:process'], 'dpo-faults');
    const exported = await app.graphql<{ dataSubjectAccess: { customerId: string; email: string; supportSessions: null } }>(
      dpo,
      `query($c: ID!) { dataSubjectAccess(customerId: $c) { customerId email supportSessions { sessionId } } }`,
      { c: customerId },
    );
    // What lives in Redis (live sessions, grants) is missing, and the answer says so at its path.
    expect(exported.body.data!.dataSubjectAccess).toEqual({ customerId, email: email.toLowerCase(), supportSessions: null });
    expect(exported.body.errors).toEqual([
      expect.objectContaining({ path: ['dataSubjectAccess', 'supportSessions'], extensions: { code: 'SERVICE_UNAVAILABLE', service: 'redis' } }),
    ]);
    expect(app.logs.text()).toContain('rate limit not checked: redis unavailable');
    // The masked read needs MongoDB only, and keeps working, for a caller with pii:read too (no grant can be confirmed).
    const masked = await byId();
    expect(masked.body.errors).toBeUndefined();
    expect(masked.body.data!.customer!.email).toMatch(/^o\*\*\*@example\.com$/);
    const piiReader = await app.token(['customer:read', 'pii:read'], 'agent-pii-faults');
    const maskedForPiiReader = await app.graphql<{ customer: { email: string } }>(piiReader, `query($id: ID!) { customer(id: $id) { email } }`, { id: customerId });
    expect(maskedForPiiReader.body.errors).toBeUndefined();
    expect(maskedForPiiReader.body.data!.customer.email).toMatch(/^o\*\*\*@example\.com$/);
    // The background traffic runs at its own pace; let it meet the outage before it ends.
    await waitFor('background traffic to meet the outage', async () => traffic.responses.length, () => traffic.responses.some((r) => codesOf(r).includes('SERVICE_UNAVAILABLE')));

    expect(await storeWarnings('redis')).toEqual([expect.stringMatching(/^Redis connection lost/)]);

    await services.startRedis();
    await waitFor('readiness after redis restart', readiness, (r) => r.status === 200);
    const recovered = await waitFor('resolveCustomer after redis restart', resolve, isOk);
    expect(recovered.body.data!.resolveCustomer.customer!.id).toBe(customerId);
    expect(await storeWarnings('redis')).toEqual([expect.stringMatching(/^Redis connection lost/), 'Redis is reachable again']);

    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    for (const res of traffic.responses) {
      expect(res.status).toBe(200);
      for (const code of codesOf(res)) expect(code).toBe('SERVICE_UNAVAILABLE');
      expect(JSON.stringify(res.body)).not.toMatch(INTERNALS);
    }
  });

  it('takes a Redis that answers but cannot write (NOREPLICAS) as unavailable: rate limits fail closed or open, never INTERNAL_SERVER_ERROR', async () => {
    const admin = new Redis(services.redisUrl);
    try {
      await admin.config('SET', 'min-replicas-to-write', '1');
      const refused = await resolve();
      expect(refused.body.errors?.[0]?.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', service: 'redis' });
      const dpo = await app.token(['dsar:process'], 'dpo-noreplicas');
      const exported = await app.graphql<{ dataSubjectAccess: { customerId: string } }>(dpo, `query($c: ID!) { dataSubjectAccess(customerId: $c) { customerId } }`, { c: customerId });
      expect(exported.body.errors).toBeUndefined();
      expect(exported.body.data!.dataSubjectAccess.customerId).toBe(customerId);
      // Operators can tell the two apart: the refused lookup and the export that went ahead unchecked.
      const metrics = await (await fetch(`${app.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/veil_rate_limit_decisions_total\{operation="resolveCustomer",outcome="refused"\} [1-9]/);
      expect(metrics).toMatch(/veil_rate_limit_decisions_total\{operation="dataSubjectAccess",outcome="unchecked"\} [1-9]/);
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
      admin.disconnect();
    }
    expect((await waitFor('resolveCustomer once redis writes again', resolve, isOk)).body.data!.resolveCustomer.customer!.id).toBe(customerId);
  });

  it('records an erasure that Redis stopped half-way as incomplete at once, and the repeat finishes it, naming it', async () => {
    const service = await app.token(SERVICE_SCOPES, 'svc-faults-erasure');
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('halfway') }] } });
    const id = registered.body.data!.registerCustomer.id;
    const dpo = await app.token(['dsar:process'], 'dpo-halfway');
    const ERASE = `mutation($id: ID!, $r: String!) { eraseCustomer(customerId: $id, requestId: $r, reason: "Asked by letter") { alreadyErased auditEventId } }`;
    const deletions = () => app.app.mongo.db.collection('audit_events').find({ chain: id, type: 'DATA_DELETION' }).sort({ sequence: 1 }).toArray();
    const admin = new Redis(services.redisUrl);
    try {
      await admin.config('SET', 'min-replicas-to-write', '1');
      const failed = await app.graphql(dpo, ERASE, { id, r: 'DSR-HALFWAY-1' });
      expect(failed.body.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'redis' });
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
      admin.disconnect();
    }
    // The customer is erased already, and the trail says by whom, why, and that it is not finished.
    expect(await app.app.mongo.db.collection('customers').findOne({ _id: id as never })).toMatchObject({ status: 'ERASED' });
    const [incomplete] = await deletions();
    expect(incomplete).toMatchObject({ requestId: 'DSR-HALFWAY-1', justification: 'Asked by letter', actor: { id: 'dpo-halfway' } });
    expect(incomplete!['details']).toMatchObject({ complete: false, unavailable: 'redis' });

    const finished = await app.graphql<{ eraseCustomer: { alreadyErased: boolean } }>(dpo, ERASE, { id, r: 'DSR-HALFWAY-2' });
    expect(finished.body.errors).toBeUndefined();
    expect(finished.body.data!.eraseCustomer.alreadyErased).toBe(false);
    const all = await deletions();
    expect(all.map((e) => e['details'])).toEqual([
      expect.objectContaining({ complete: false }),
      expect.objectContaining({ complete: true, alreadyErased: false, resumesRequestId: 'DSR-HALFWAY-1' }),
    ]);
    const verification = await app.graphql<{ verifyAuditTrail: { valid: boolean } }>(
      await app.token(['audit:read'], 'auditor-halfway'),
      `query($id: ID!) { verifyAuditTrail(customerId: $id) { valid } }`,
      { id },
    );
    expect(verification.body.data!.verifyAuditTrail.valid).toBe(true);
  });

  // This takes about 10 s, but it hit the 60 s test timeout once in a full run on a loaded 2-CPU machine (the cause was
  // not found again in later runs); cut short, it left its traffic running and the store down, and the next test and
  // the file's teardown timed out too. Now it always stops its traffic and brings the store back.
  it('keeps serving through a MongoDB outage: not ready, SERVICE_UNAVAILABLE, then recovers', async () => {
    const traffic = new BackgroundTraffic();
    try {
      await runMongoOutage();
    } finally {
      await traffic.stop();
      // Cut short while the store was down: bring it back for the tests after this one.
      if ((await readiness()).checks['mongodb'] !== 'ok') await services.startMongo().catch(() => undefined);
    }
    expect(traffic.failures).toEqual([]);
    for (const res of traffic.responses) {
      expect(res.status).toBe(200);
      for (const code of codesOf(res)) expect(code).toBe('SERVICE_UNAVAILABLE');
      expect(JSON.stringify(res.body)).not.toMatch(INTERNALS);
    }
  }, 150_000);

  async function runMongoOutage(): Promise<void> {
    await services.stopMongo();

    const down = await waitFor('readiness to report mongodb down', readiness, (r) => r.status === 503);
    expect(down.checks).toEqual({ mongodb: 'down', redis: 'ok' });
    const refused = await byId();
    expect(refused.status).toBe(200);
    expect(refused.body.data?.customer ?? null).toBeNull();
    expect(refused.body.errors?.[0]?.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', service: 'mongodb' });
    expect(JSON.stringify(refused.body)).not.toMatch(INTERNALS);
    expect(codesOf(await resolve())).toEqual(['SERVICE_UNAVAILABLE']);
    // Liveness stays up: the process is fine, only a dependency is not.
    expect((await fetch(`${app.baseUrl}/health/live`)).status).toBe(200);
    // A request whose x-request-id cannot be screened (MongoDB is down) goes on at once with a generated id: it
    // waited for server selection, 3 s, even for what needs no MongoDB (a probe).
    const tracedAt = Date.now();
    const traced = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await app.token([], 'agent-traced')}`, 'x-request-id': 'gateway-trace-7' },
      // And its operation name cannot be screened either: the two screens share one budget.
      body: JSON.stringify({ query: 'query TracedDuringOutage { __typename }' }),
    });
    expect(traced.status).toBe(200);
    expect(Date.now() - tracedAt).toBeLessThan(2_000);
    expect(traced.headers.get('x-request-id')).toBe('gateway-trace-7');
    const completed = app.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'request completed');
    expect(completed.some((l) => l['requestId'] === 'gateway-trace-7')).toBe(false);
    expect(completed.some((l) => l['operationName'] === 'TracedDuringOutage')).toBe(false);
    expect(app.logs.lines.some((l) => l.includes('could not be screened for identifiers in time'))).toBe(true);
    await waitFor('the log to say MongoDB is unreachable', () => storeWarnings('mongodb'), (w) => w.length > 0);
    expect(await storeWarnings('mongodb')).toEqual([expect.stringMatching(/^MongoDB server unreachable/)]);

    await services.startMongo();
    await waitFor('readiness after mongodb restart', readiness, (r) => r.status === 200);
    await waitFor('the log to say MongoDB is back', () => storeWarnings('mongodb'), (w) => w.length === 2);
    expect(await storeWarnings('mongodb')).toEqual([expect.stringMatching(/^MongoDB server unreachable/), 'MongoDB server reachable again']);
    const recovered = await waitFor('customer(id) after mongodb restart', byId, isOk);
    expect(recovered.body.data!.customer!.id).toBe(customerId);
    expect((await waitFor('resolveCustomer after mongodb restart', resolve, isOk)).body.data!.resolveCustomer.customer!.id).toBe(customerId);
  }

  // insertMany wraps a failure to reach the server in a MongoBulkWriteError that keeps neither its class nor its cause:
  // audit events written together (two requests at once) then failed as INTERNAL_SERVER_ERROR in an outage (a CI
  // run under load caught it in the test above).
  it('fails audit events written together, and a support push, as MongoDB unavailable while it is down', async () => {
    const events = new AuditRepository(app.app.mongo.db);
    const records = new SupportRecordRepository(app.app.mongo.db);
    const event = (n: number) => ({
      id: `outage-batch-${n}-${Date.now()}`,
      chain: 'outage-batch',
      type: 'IDENTITY_RESOLUTION' as const,
      occurredAt: new Date(),
      customerId: null,
      actor: { kind: 'AGENT' as const, id: 'agent-faults' },
      channel: null,
      interactionId: null,
      resolutionSource: null,
      identifierHash: null,
      sealedIdentifierHash: null,
      fields: null,
      justification: null,
      requestId: null,
      details: {},
      sequence: n,
      prevHash: '0'.repeat(64),
      hash: 'f'.repeat(64),
    });
    await services.stopMongo();
    try {
      await waitFor('readiness to report mongodb down', readiness, (r) => r.status === 503);
      // Issued in one turn of the event loop: the repository sends them as one batch.
      const outcomes = await Promise.allSettled([1, 2, 3].map((n) => events.insert(event(n))));
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        expect(classifyInfrastructureError((outcome as PromiseRejectedResult).reason)).toBe('mongodb');
      }
      const push = { customerId, tickets: [{ id: 'T-OUTAGE', status: 'open', subject: null, openedAt: new Date(), updatedAt: null }], subscriptions: [], transactions: [], interactions: [], deviceFingerprint: null };
      const pushed = await records.insertActivities([push]).then(() => null, (error: unknown) => error);
      expect(classifyInfrastructureError(pushed)).toBe('mongodb');
    } finally {
      await services.startMongo();
    }
    await waitFor('readiness after mongodb restart', readiness, (r) => r.status === 200);
  }, 150_000);

  // The driver's server monitor can stall for good when MongoDB closes the monitor's connection just as a check is
  // sent (a stress run of FerretDB restarts under load: readiness stayed down for over 60 s while a fresh client
  // connected at once). That race cannot be caused on demand; a check that never ends is told to the watchdog by the
  // driver's own event, for an address no real check will end.
  it('connects the MongoDB client afresh when a server check stalls, and keeps serving', async () => {
    const watched = await startTestApp({ shareStoresWith: app, mongoUrl: services.mongoUrl, redisUrl: services.redisUrl, mongoStalledCheckMs: 1000 });
    try {
      const reader = await watched.token(['customer:read'], 'agent-watchdog');
      const read = () => watched.graphql<{ customer: { id: string } | null }>(reader, BY_ID, { id: customerId });
      expect((await read()).body.data!.customer!.id).toBe(customerId);
      const opened: unknown[] = [];
      watched.app.mongo.client.on('topologyOpening', (event) => opened.push(event));
      watched.app.mongo.client.emit('serverHeartbeatStarted', { connectionId: 'stalled.invalid:27017', awaited: false } as never);
      await waitFor('the watchdog to connect afresh', async () => opened.length, (n) => n > 0, 15_000);
      const served = await waitFor('customer(id) after the fresh connection', read, isOk, 15_000);
      expect(served.body.data!.customer!.id).toBe(customerId);
      expect(watched.logs.text()).toMatch(/server check stalled/);
      const metrics = await (await fetch(`${watched.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/veil_store_errors_total\{store="mongodb",kind="monitor"\} 1\b/);
    } finally {
      await watched.stop();
    }
  });

  // An operation whose reply never came waited for good, and its request with it (a probe restarting MongoDB under
  // load had a clear read hang for over 300 s). A proxy that stops passing MongoDB's replies on, with server checks
  // too far apart to notice, leaves only the request's deadline to end it (3 s here, 60 s by default).
  it('answers 503 SERVICE_UNAVAILABLE at its deadline a request whose MongoDB reply never comes, and keeps serving', async () => {
    const target = new URL(services.mongoUrl);
    let frozen = false;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      sockets.add(client).add(upstream);
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => frozen || client.write(chunk));
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as net.AddressInfo).port;
    const slow = await startTestApp({ shareStoresWith: app, mongoUrl: `mongodb://127.0.0.1:${port}/?heartbeatFrequencyMS=120000`, redisUrl: services.redisUrl, responseDeadlineMs: 3_000 });
    try {
      const reader = await slow.token(['customer:read'], 'agent-frozen');
      const read = () => slow.graphql<{ customer: { id: string } | null }>(reader, BY_ID, { id: customerId });
      expect((await read()).body.data!.customer!.id).toBe(customerId);
      frozen = true;
      const started = Date.now();
      const answer = await read();
      const took = Date.now() - started;
      expect(answer.status).toBe(503);
      expect(codesOf(answer)).toEqual(['SERVICE_UNAVAILABLE']);
      expect(took).toBeGreaterThanOrEqual(2_900);
      expect(took).toBeLessThan(6_000);
      expect(JSON.stringify(answer.body)).not.toMatch(INTERNALS);
      expect((await fetch(`${slow.baseUrl}/health/live`)).status).toBe(200);
      expect(slow.logs.text()).toContain('request still running at its deadline');
    } finally {
      frozen = false;
      for (const socket of sockets) socket.destroy();
      await slow.stop();
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 60_000);

  it('survives both servers down at once and counts the store errors', async () => {
    await Promise.all([services.stopRedis(), services.stopMongo()]);
    const down = await waitFor('readiness to report both down', readiness, (r) => r.checks['mongodb'] === 'down' && r.checks['redis'] === 'down');
    expect(down.status).toBe(503);
    expect(codesOf(await resolve())).toEqual(['SERVICE_UNAVAILABLE']);
    await Promise.all([services.startRedis(), services.startMongo()]);
    await waitFor('readiness after both restart', readiness, (r) => r.status === 200);
    await waitFor('resolveCustomer after both restart', resolve, isOk);

    const metrics = await (await fetch(`${app.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/veil_store_errors_total\{store="redis",kind="connection"\} [1-9]/);
    expect(metrics).toMatch(/veil_store_errors_total\{store="mongodb",kind="request"\} [1-9]/);
    expect(unhandled).toEqual([]);
  }, 150_000);
});

// A Redis that answers PING but refuses writes (out of memory, an ACL changed under a live connection) kept readiness
// up and logged nothing, and an ACL refusal answered INTERNAL_SERVER_ERROR (a probe).
describe('a Redis that answers but refuses writes', () => {
  it('reports not ready, warns once each way, answers SERVICE_UNAVAILABLE, and recovers', async () => {
    const admin = new Redis(services.redisUrl);
    try {
      expect(await readiness()).toEqual({ status: 200, checks: { mongodb: 'ok', redis: 'ok' } });
      for (const [refuse, restore, cause] of [
        [['CONFIG', 'SET', 'maxmemory-policy', 'noeviction', 'maxmemory', '1'], ['CONFIG', 'SET', 'maxmemory', '0'], 'OOM'],
        [['ACL', 'SETUSER', 'default', 'resetkeys', '~other:*'], ['ACL', 'SETUSER', 'default', 'allkeys'], 'NOPERM'],
      ] as const) {
        const before = app.logs.lines.length;
        await admin.call(...(refuse as unknown as [string, ...string[]]));
        const down = await waitFor('readiness to report redis down', readiness, (r) => r.status === 503);
        expect(down.checks).toEqual({ mongodb: 'ok', redis: 'down' });
        const refused = await resolve();
        expect(refused.body.errors?.[0]?.extensions, cause).toEqual({ code: 'SERVICE_UNAVAILABLE', service: 'redis' });
        await readiness();
        await admin.call(...(restore as unknown as [string, ...string[]]));
        await waitFor('readiness to recover', readiness, (r) => r.status === 200);
        expect(isOk(await resolve())).toBe(true);
        const warnings = app.logs.lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['store'] === 'redis' && l['level'] === 40);
        expect(warnings.map((l) => [l['msg'], l['cause'] ?? null])).toEqual([
          ['Redis refuses writes: readiness reports it down, and what writes to it answers SERVICE_UNAVAILABLE', cause],
          ['Redis takes writes again', null],
        ]);
      }
    } finally {
      await admin.call('CONFIG', 'SET', 'maxmemory', '0').catch(() => undefined);
      await admin.call('ACL', 'SETUSER', 'default', 'allkeys').catch(() => undefined);
      admin.disconnect();
    }
  });
});
