import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { COLLECTIONS } from '../src/storage/mongo.js';
import { anEmail, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { startTestApp, type GraphQLResponse, type TestApp } from './testkit/test-app.js';

const SESSION_MAX_TTL_SECONDS = 600;
const SESSIONS_PER_CUSTOMER_MAX = 8;
const SESSIONS_PER_CALLER_MAX = 5;

let app: TestApp;
let redis: Redis;
let service: string;
let agent: string;

const START = `mutation Start($id: ID!, $channel: Channel!, $ttl: Int) {
  startSupportSession(customerId: $id, channel: $channel, ttlSeconds: $ttl) { token expiresAt customerId channel }
}`;
const END = `mutation End($token: String!) { endSupportSession(token: $token) }`;
const SESSION_CONTEXT = `query Session($token: String!) {
  sessionContext(token: $token) { customerId sessionId channel generatedAt expiresAt openTickets { id status } lastInteractions { id channel } }
}`;

interface StartedSession {
  token: string;
  expiresAt: string;
  customerId: string;
  channel: string;
}
interface SessionSnapshot {
  customerId: string;
  sessionId: string | null;
  channel: string | null;
  expiresAt: string;
  openTickets: Array<{ id: string }> | null;
  lastInteractions: Array<{ id: string; channel: string }> | null;
}

const sessionKey = (token: string): string => `${app.config.redisKeyPrefix}session:${createHash('sha256').update(token).digest('base64url')}`;

async function registerWithActivity(): Promise<string> {
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('session') }] } });
  expect(res.body.errors).toBeUndefined();
  const id = res.body.data!.registerCustomer.id;
  const consent = await app.graphql(service, `mutation($id: ID!) { recordConsent(input: { customerId: $id, scopes: ["support_context"], source: "app" }) { version } }`, { id });
  expect(consent.body.errors).toBeUndefined();
  const pushed = await app.graphql(service, `mutation($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`, {
    input: {
      customerId: id,
      tickets: [{ id: 'T-1', status: 'open', openedAt: new Date(Date.now() - 3_600_000).toISOString() }],
      interactions: [{ id: 'I-1', channel: 'EMAIL', occurredAt: new Date(Date.now() - 60_000).toISOString() }],
    },
  });
  expect(pushed.body.errors).toBeUndefined();
  return id;
}

async function start(id: string, channel = 'WEBCHAT', ttl?: number): Promise<GraphQLResponse<{ startSupportSession: StartedSession }>> {
  return app.graphql(agent, START, { id, channel, ...(ttl === undefined ? {} : { ttl }) });
}

async function sessionContext(token: string): Promise<GraphQLResponse<{ sessionContext: SessionSnapshot | null }>> {
  return app.graphql(agent, SESSION_CONTEXT, { token });
}

beforeAll(async () => {
  app = await startTestApp({ env: { SESSION_TTL_SECONDS: '120', SESSION_MAX_TTL_SECONDS: String(SESSION_MAX_TTL_SECONDS), SESSIONS_PER_CUSTOMER_MAX: String(SESSIONS_PER_CUSTOMER_MAX), SESSIONS_PER_CALLER_MAX: String(SESSIONS_PER_CALLER_MAX) } });
  redis = new Redis(inject('redisUrl'));
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  agent = await app.token(['customer:read', 'context:read'], 'agent-session');
});
afterAll(async () => {
  redis?.disconnect();
  await app?.stop();
});

describe('support sessions', () => {
  it('returns an opaque token whose context is the customer’s snapshot with the session id and channel', async () => {
    const id = await registerWithActivity();
    const started = await start(id, 'WEBCHAT');
    expect(started.body.errors).toBeUndefined();
    const session = started.body.data!.startSupportSession;
    expect(session.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session).toMatchObject({ customerId: id, channel: 'WEBCHAT' });
    const ttlMs = new Date(session.expiresAt).getTime() - Date.now();
    expect(ttlMs).toBeGreaterThan(110_000);
    expect(ttlMs).toBeLessThanOrEqual(120_000);

    const read = await sessionContext(session.token);
    expect(read.body.errors).toBeUndefined();
    const snapshot = read.body.data!.sessionContext!;
    expect(snapshot.customerId).toBe(id);
    expect(snapshot.sessionId).toMatch(/^ses_[0-9A-HJKMNP-TV-Z]{26}$/);
    // The session's channel, not the channel of the last interaction (EMAIL).
    expect(snapshot.channel).toBe('WEBCHAT');
    // The session (120 s) ends before the snapshot (15 min): the view expires with the session.
    expect(snapshot.expiresAt).toBe(session.expiresAt);
    expect(snapshot.openTickets!.map((t) => t.id)).toEqual(['T-1']);
    expect(snapshot.lastInteractions!.map((x) => x.channel)).toEqual(['EMAIL']);
    const events = await app.app.mongo.db.collection(COLLECTIONS.auditEvents).find({ type: 'CONTEXT_READ', customerId: id }).toArray();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ channel: 'WEBCHAT' });
  });

  it('keeps only the SHA-256 of the token in Redis, with the session TTL, indexed under the customer', async () => {
    const id = await registerWithActivity();
    const { token } = (await start(id, 'VOICE', 60)).body.data!.startSupportSession;
    const pttl = await redis.pttl(sessionKey(token));
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    const stored = (await redis.get(sessionKey(token)))!;
    expect(JSON.parse(stored)).toMatchObject({ customerId: id, channel: 'VOICE' });
    expect(stored).not.toContain(token);
    expect(await redis.smembers(`${app.config.redisKeyPrefix}sessions-of:${id}`)).toEqual([sessionKey(token).slice(app.config.redisKeyPrefix.length)]);

    const keys = await redis.keys(`${app.config.redisKeyPrefix}*`);
    expect(keys.some((k) => k.includes(token))).toBe(false);
    for (const key of keys.filter((k) => k.includes(':session:'))) expect((await redis.get(key)) ?? '').not.toContain(token);
  });

  it('stops working once its TTL has passed', async () => {
    const id = await registerWithActivity();
    const { token } = (await start(id, 'SMS', 1)).body.data!.startSupportSession;
    expect((await sessionContext(token)).body.data!.sessionContext?.customerId).toBe(id);
    await sleep(1300);
    const expired = await sessionContext(token);
    expect(expired.body.errors).toBeUndefined();
    expect(expired.body.data!.sessionContext).toBeNull();
    expect(await redis.exists(sessionKey(token))).toBe(0);
  });

  it('keeps the customer\'s session index to live sessions, however long it is renewed', async () => {
    const id = await registerWithActivity();
    const index = `${app.config.redisKeyPrefix}sessions-of:${id}`;
    const member = (token: string) => sessionKey(token).slice(app.config.redisKeyPrefix.length);
    // A long session keeps the index alive while short ones come and go.
    const long = (await start(id, 'VOICE', 60)).body.data!.startSupportSession.token;
    for (let i = 0; i < 3; i++) expect((await start(id, 'SMS', 1)).body.errors).toBeUndefined();
    expect(await redis.scard(index)).toBe(4);
    await sleep(1300);
    // The next session drops the three that expired from the index.
    const { token } = (await start(id, 'VOICE', 60)).body.data!.startSupportSession;
    expect((await redis.smembers(index)).sort()).toEqual([member(long), member(token)].sort());
  });

  it('caps the live sessions of one customer, and of one caller for it, racing starts included', async () => {
    const id = await registerWithActivity();
    const other = await app.token(['customer:read', 'context:read'], 'agent-second');
    const startAs = (token: string, ttl: number) => app.graphql<{ startSupportSession: StartedSession }>(token, START, { id, channel: 'VOICE', ttl });
    const codes = (results: Array<GraphQLResponse<unknown>>) => results.map((r) => r.body.errors?.[0]?.extensions?.['code'] ?? 'ok');
    // A probe made 1,234 four-hour sessions for one customer in 90 s with one token; with a cap per customer alone,
    // one caller then filled it and locked every other agent out.
    const first = await Promise.all(Array.from({ length: SESSIONS_PER_CALLER_MAX + 3 }, () => startAs(agent, 300)));
    expect(codes(first).filter((c) => c === 'ok')).toHaveLength(SESSIONS_PER_CALLER_MAX);
    for (const r of first.filter((x) => x.body.errors)) {
      expect(r.body.errors![0]!.extensions?.['code']).toBe('RATE_LIMITED');
      expect(r.body.errors![0]!.message).toMatch(/^You have 5 live support sessions for this customer; retry after/);
      expect(r.body.errors![0]!.extensions?.['retryAfterSeconds']).toBeGreaterThan(290);
      expect(r.body.errors![0]!.extensions?.['retryAfterSeconds']).toBeLessThanOrEqual(300);
    }
    // Another caller gets the places left for the customer, then the customer's cap holds for everyone.
    const second = await Promise.all(Array.from({ length: 4 }, () => startAs(other, 120)));
    expect(codes(second).filter((c) => c === 'ok')).toHaveLength(SESSIONS_PER_CUSTOMER_MAX - SESSIONS_PER_CALLER_MAX);
    expect(second.find((r) => r.body.errors)!.body.errors![0]!.message).toMatch(/^This customer has 8 live support sessions; retry after/);
    expect(await redis.scard(`${app.config.redisKeyPrefix}sessions-of:${id}`)).toBe(SESSIONS_PER_CUSTOMER_MAX);
    // Ending one frees its place.
    const token = first.find((r) => !r.body.errors)!.body.data!.startSupportSession.token;
    expect((await app.graphql(agent, END, { token })).body.errors).toBeUndefined();
    expect(codes([await startAs(agent, 60), await startAs(agent, 60)])).toEqual(['ok', 'RATE_LIMITED']);
    // Another customer is not affected.
    expect((await start(await registerWithActivity(), 'VOICE', 60)).body.errors).toBeUndefined();
  });

  // The two-person rule takes `agent-a`, `Agent-A` and `ａｇｅｎｔ－ａ` for one person; the cap per caller counted each
  // subject as written, so one person held the cap once per spelling (a probe).
  it('counts the cap per caller by person, as the two-person rule does', async () => {
    const id = await registerWithActivity();
    const spellings = ['agent-cap', 'Agent-Cap', 'AGENT_CAP', '\uff41\uff47\uff45\uff4e\uff54\uff0d\uff43\uff41\uff50'];
    const results: string[] = [];
    for (let i = 0; i < SESSIONS_PER_CALLER_MAX + 3; i++) {
      const token = await app.token(['customer:read', 'context:read'], spellings[i % spellings.length]);
      const reply = await app.graphql(token, START, { id, channel: 'SMS', ttl: 120 });
      results.push(String(reply.body.errors?.[0]?.extensions?.['code'] ?? 'ok'));
    }
    expect(results).toEqual([...Array<string>(SESSIONS_PER_CALLER_MAX).fill('ok'), 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    // Another person still gets the customer's places left.
    const other = await app.token(['customer:read', 'context:read'], 'agent-cap-2');
    expect((await app.graphql(other, START, { id, channel: 'SMS', ttl: 120 })).body.errors).toBeUndefined();
  });

  it('counts startSupportSession against the caller\'s budget of sensitive operations', async () => {
    const limited = await startTestApp({ shareStoresWith: app, env: { RATE_LIMIT_SENSITIVE_MAX: '3' } });
    try {
      const caller = await limited.token(['customer:read', 'context:read'], 'agent-session-budget');
      const id = await registerWithActivity();
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await limited.graphql(caller, START, { id, channel: 'VOICE', ttl: 60 })).body.errors?.[0]?.extensions?.['code'] ?? 'ok');
      expect(codes).toEqual(['ok', 'ok', 'ok', 'RATE_LIMITED']);
    } finally {
      await limited.stop();
    }
  });

  it('refuses an operation that starts two sessions before starting either (a refused one would null the tokens of the others)', async () => {
    const id = await registerWithActivity();
    const caller = await app.token(['customer:read', 'context:read'], 'agent-session-aliases');
    const two = `mutation($id: ID!) {
      a: startSupportSession(customerId: $id, channel: VOICE) { token }
      b: startSupportSession(customerId: $id, channel: VOICE) { token }
    }`;
    const refused = await app.graphql(caller, two, { id });
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0]?.extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit: 'supportSessions', maximum: 1 });
    // Nothing was started: the caller's cap is untouched, and no session is listed for the customer.
    expect(await redis.keys(`${app.config.redisKeyPrefix}sessions-of:${id}*`)).toEqual([]);
    expect((await app.graphql(caller, START, { id, channel: 'VOICE', ttl: 60 })).body.errors).toBeUndefined();
  });

  it('stops working once it is ended, and ending it again says false', async () => {
    const id = await registerWithActivity();
    const { token } = (await start(id)).body.data!.startSupportSession;
    const ended = await app.graphql<{ endSupportSession: boolean }>(agent, END, { token });
    expect(ended.body.data!.endSupportSession).toBe(true);
    expect((await sessionContext(token)).body.data!.sessionContext).toBeNull();
    expect(await redis.exists(sessionKey(token))).toBe(0);
    expect(await redis.smembers(`${app.config.redisKeyPrefix}sessions-of:${id}`)).toEqual([]);
    const again = await app.graphql<{ endSupportSession: boolean }>(agent, END, { token });
    expect(again.body.data!.endSupportSession).toBe(false);
  });

  it('answers null, not an error, for unknown and garbage tokens', async () => {
    for (const token of ['', 'garbage', 'x'.repeat(43), 'A'.repeat(5000), '{"$ne": null}', '../../session:*']) {
      const res = await sessionContext(token);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.sessionContext).toBeNull();
    }
  });

  it('rejects a TTL below one second and cuts a longer one to SESSION_MAX_TTL_SECONDS', async () => {
    const id = await registerWithActivity();
    for (const ttl of [0, -5]) {
      const res = await start(id, 'VOICE', ttl);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    const long = await start(id, 'VOICE', 999_999);
    expect(long.body.errors).toBeUndefined();
    const ttlMs = new Date(long.body.data!.startSupportSession.expiresAt).getTime() - Date.now();
    expect(ttlMs).toBeLessThanOrEqual(SESSION_MAX_TTL_SECONDS * 1000);
    expect(ttlMs).toBeGreaterThan((SESSION_MAX_TTL_SECONDS - 10) * 1000);
    expect(await redis.pttl(sessionKey(long.body.data!.startSupportSession.token))).toBeLessThanOrEqual(SESSION_MAX_TTL_SECONDS * 1000);
  });

  it('refuses a session for an unknown customer, and one without context:read', async () => {
    const unknown = await start('cus_00000000000000000000000000');
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const id = await registerWithActivity();
    const res = await app.graphql(await app.token(['customer:read'], 'agent-no-context'), START, { id, channel: 'VOICE' });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('revokes every session of a customer through the erasure participants', async () => {
    const id = await registerWithActivity();
    const other = await registerWithActivity();
    const tokens = await Promise.all([start(id, 'VOICE'), start(id, 'EMAIL'), start(id, 'SMS')]).then((rs) => rs.map((r) => r.body.data!.startSupportSession.token));
    const otherToken = (await start(other, 'VOICE')).body.data!.startSupportSession.token;
    await sessionContext(tokens[0]!);

    const removed: Record<string, number> = {};
    for (const participant of app.app.services.erasureParticipants) removed[`${participant.store}:${participant.item}`] = await participant.erase(id);
    expect(removed).toMatchObject({ 'redis:support_sessions': 3, 'redis:context_snapshots': 1, 'mongodb:support_records': 2 });

    for (const token of tokens) expect((await sessionContext(token)).body.data!.sessionContext).toBeNull();
    expect(await redis.exists(`${app.config.redisKeyPrefix}sessions-of:${id}`)).toBe(0);
    expect(await redis.exists(`${app.config.redisKeyPrefix}snapshot:${id}`)).toBe(0);
    // Another customer's session is untouched.
    expect((await sessionContext(otherToken)).body.data!.sessionContext?.customerId).toBe(other);
  });

  it('gives no session context for a customer erased while the session was live', async () => {
    const id = await registerWithActivity();
    const { token } = (await start(id)).body.data!.startSupportSession;
    await app.app.mongo.db.collection(COLLECTIONS.customers).updateOne({ _id: id as never }, { $set: { status: 'ERASED' } });
    const res = await sessionContext(token);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.sessionContext).toBeNull();
  });
});
