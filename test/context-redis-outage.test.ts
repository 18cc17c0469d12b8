import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevServices } from '../src/dev/services.js';
import { createLogger } from '../src/observability/logger.js';
import { runInRequestScope } from '../src/observability/request-scope.js';
import { logStoreTransitions } from '../src/observability/store-transitions.js';
import { connectRedis } from '../src/storage/redis.js';
import { anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { LogCapture } from './testkit/log-capture.js';
import { startPrivateServices } from './testkit/service-control.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

// A Redis and MongoDB of this file's own: stopping them disturbs no other test file.
let servers: DevServices;
let app: TestApp;
let service: string;
let agent: string;

const CUSTOMER = `query($id: ID!) { customer(id: $id) { id status country displayName consent { scopes } consentHistory { version } } }`;
const CONTEXT = `query($id: ID!) { customer(id: $id) { id status context { customerId generatedAt openTickets { id } } } }`;

beforeAll(async () => {
  servers = await startPrivateServices();
  app = await startTestApp({ redisUrl: servers.redisUrl, mongoUrl: servers.mongoUrl });
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  agent = await app.token(['customer:read', 'context:read', 'consent:read'], 'agent-outage');
});
afterAll(async () => {
  await app?.stop();
  await servers?.stop();
});

async function register(): Promise<string> {
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: { identifiers: [{ kind: 'EMAIL', value: anEmail('outage') }], displayName: 'Grace Hopper', country: 'US' },
  });
  expect(res.body.errors).toBeUndefined();
  const id = res.body.data!.registerCustomer.id;
  await app.graphql(service, `mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["support_context"], source: "app" }) { version } }`, { id });
  await app.graphql(service, `mutation($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`, {
    input: { customerId: id, tickets: [{ id: 'T-1', status: 'open', openedAt: new Date(Date.now() - 60_000).toISOString() }] },
  });
  return id;
}

describe('Redis outage', () => {
  it('keeps customer reads working, answers context null with SERVICE_UNAVAILABLE, and recovers by itself when Redis returns', async () => {
    const id = await register();
    const token = (await app.graphql<{ startSupportSession: { token: string } }>(agent, `mutation($id: ID!) { startSupportSession(customerId: $id, channel: VOICE) { token } }`, { id })).body.data!.startSupportSession.token;
    const warm = await app.graphql<{ customer: { context: { openTickets: Array<{ id: string }> } } }>(agent, CONTEXT, { id });
    expect(warm.body.errors).toBeUndefined();
    expect(warm.body.data!.customer.context.openTickets).toEqual([{ id: 'T-1' }]);

    const redisRequests = async () => Number(/veil_store_errors_total\{store="redis",kind="request"\} (\d+)/.exec(await (await fetch(`${app.baseUrl}/metrics`)).text())?.[1] ?? 0);
    const countedBefore = await redisRequests();
    await servers.stopRedis();
    try {
      const customer = await app.graphql<{ customer: { id: string; status: string; country: string; displayName: string; consent: { scopes: string[] } } }>(agent, CUSTOMER, { id });
      expect(customer.body.errors).toBeUndefined();
      expect(customer.body.data!.customer).toMatchObject({ id, status: 'ACTIVE', country: 'US', displayName: 'Grace H.', consent: { scopes: ['support_context'] } });

      const context = await app.graphql<{ customer: { id: string; context: null } }>(agent, CONTEXT, { id });
      expect(context.body.data!.customer).toMatchObject({ id, status: 'ACTIVE', context: null });
      expect(context.body.errors).toHaveLength(1);
      expect(context.body.errors![0]!.path).toEqual(['customer', 'context']);
      expect(context.body.errors![0]!.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'redis' });
      expect(context.body.errors![0]!.message).not.toMatch(/stream|enableOfflineQueue|ECONNREFUSED/i);

      const session = await app.graphql<{ sessionContext: null }>(agent, `query($t: String!) { sessionContext(token: $t) { customerId } }`, { t: token });
      expect(session.body.data?.sessionContext ?? null).toBeNull();
      expect(session.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');

      const started = await app.graphql(agent, `mutation($id: ID!) { startSupportSession(customerId: $id, channel: VOICE) { token } }`, { id });
      expect(started.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');

      const live = await fetch(`${app.baseUrl}/health/live`);
      expect(live.status).toBe(200);
      // Each of the three requests that met the outage counts once (the services answered SERVICE_UNAVAILABLE
      // themselves, not the error formatter); the customer read, which did not need Redis, does not count.
      expect((await redisRequests()) - countedBefore).toBe(3);
    } finally {
      await servers.startRedis();
    }

    // ioredis reconnects on its own (retry every 200 ms-2 s); no restart of the app.
    let recovered: { customer: { context: { customerId: string; openTickets: Array<{ id: string }> } | null } } | null = null;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const res = await app.graphql<{ customer: { context: { customerId: string; openTickets: Array<{ id: string }> } | null } }>(agent, CONTEXT, { id });
      if (!res.body.errors && res.body.data?.customer.context) {
        recovered = res.body.data;
        break;
      }
      await sleep(250);
    }
    expect(recovered?.customer.context).toMatchObject({ customerId: id, openTickets: [{ id: 'T-1' }] });
    // The test Redis keeps no data across a restart, so the old session is gone (null, not an error); new ones work.
    const SESSION = `query($t: String!) { sessionContext(token: $t) { customerId } }`;
    const old = await app.graphql<{ sessionContext: { customerId: string } | null }>(agent, SESSION, { t: token });
    expect(old.body.errors).toBeUndefined();
    expect(old.body.data!.sessionContext).toBeNull();
    const fresh = await app.graphql<{ startSupportSession: { token: string } }>(agent, `mutation($id: ID!) { startSupportSession(customerId: $id, channel: SMS) { token } }`, { id });
    expect(fresh.body.errors).toBeUndefined();
    const session = await app.graphql<{ sessionContext: { customerId: string } | null }>(agent, SESSION, { t: fresh.body.data!.startSupportSession.token });
    expect(session.body.errors).toBeUndefined();
    expect(session.body.data!.sessionContext?.customerId).toBe(id);
  });
});

describe('a Redis that stops answering on an open connection', () => {
  it('is logged once each way, with no request id, though the connection never closes', async () => {
    const logs = new LogCapture();
    const logger = createLogger('info', logs.stream);
    const redis = connectRedis(servers.redisUrl, 'stall:');
    const mongo = new MongoClient(servers.mongoUrl);
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
    // Set up while a request is being served, as the driver's monitor and ioredis can be: the lines it writes later
    // carried that request's id (a probe).
    const detach = runInRequestScope({ requestId: 'req-long-gone' }, () => logStoreTransitions(logger, { mongo, mongoVariable: 'MONGODB_URL', redis }, { redisCheckMs: 200 }));
    const pid = servers.pids().redis;
    expect(pid).toBeDefined();
    const waitFor = async (message: string) => {
      for (let i = 0; i < 100 && !logs.text().includes(message); i++) await sleep(100);
      return logs.lines.filter((line) => line.includes(message));
    };
    try {
      // A stopped process keeps its sockets open: no `close` for ioredis, only commands that time out (a probe
      // stopped redis-server with SIGSTOP and the log said nothing of it).
      process.kill(pid as number, 'SIGSTOP');
      const lost = await waitFor('Redis is not answering');
      expect(lost).toHaveLength(1);
      process.kill(pid as number, 'SIGCONT');
      const back = await waitFor('Redis is reachable again');
      expect(back).toHaveLength(1);
      await sleep(600);
      for (const line of logs.lines) expect(JSON.parse(line)).not.toHaveProperty('requestId');
      expect(logs.lines.filter((line) => line.includes('Redis is'))).toHaveLength(2);
    } finally {
      process.kill(pid as number, 'SIGCONT');
      detach();
      redis.disconnect();
      await mongo.close();
    }
  });
});
