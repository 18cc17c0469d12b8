import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildSnapshot } from '../src/context-snapshots/snapshot-builder.js';
import { SnapshotCache } from '../src/context-snapshots/snapshot-cache.js';
import { ServiceUnavailableError } from '../src/errors.js';
import { COLLECTIONS } from '../src/storage/mongo.js';
import { aCrmId, anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { findsOn, startTestApp, type GraphQLResponse, type TestApp } from './testkit/test-app.js';

const SNAPSHOT_TTL_SECONDS = 300;

let app: TestApp;
let redis: Redis;
let service: string;
let agent: string;
let fraudAgent: string;
const rawIdentifiers: string[] = [];

const PUSH = `mutation Push($input: SupportActivityInput!) { recordSupportActivity(input: $input) }`;
const RECORD_CONSENT = `mutation($input: RecordConsentInput!) { recordConsent(input: $input) { version } }`;
const CONTEXT_FIELDS = `customerId generatedAt expiresAt channel sessionId
  openTickets { id status subject openedAt updatedAt }
  activeSubscriptions { id plan status startedAt renewsAt }
  recentTransactions { id status amountMinor currency occurredAt description }
  lastInteractions { id channel occurredAt summary outcome }`;
const CONTEXT = `query($id: ID!) { customer(id: $id) { id status context { ${CONTEXT_FIELDS} } } }`;

interface Snapshot {
  customerId: string;
  generatedAt: string;
  expiresAt: string;
  channel: string | null;
  sessionId: string | null;
  openTickets: Array<{ id: string; status: string; subject: string | null }> | null;
  activeSubscriptions: Array<{ id: string; plan: string; status: string }> | null;
  recentTransactions: Array<{ id: string; amountMinor: number; currency: string; occurredAt: string }> | null;
  lastInteractions: Array<{ id: string; channel: string; occurredAt: string }> | null;
}

const daysAgo = (days: number): string => new Date(Date.now() - days * 86_400_000).toISOString();
const snapshotKey = (customerId: string): string => `${app.config.redisKeyPrefix}snapshot:${customerId}`;

async function register(withPhone = true): Promise<string> {
  const email = anEmail('ctx');
  const phone = aPhone();
  rawIdentifiers.push(email, ...(withPhone ? [phone] : []));
  const identifiers = [{ kind: 'EMAIL', value: email }, ...(withPhone ? [{ kind: 'PHONE', value: phone }] : [])];
  const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: { identifiers, displayName: 'Ada Lovelace' },
  });
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.registerCustomer.id;
}

async function consent(customerId: string, scopes: string[]): Promise<void> {
  const res = await app.graphql(service, RECORD_CONSENT, { input: { customerId, scopes, source: 'ivr-prompt' } });
  expect(res.body.errors).toBeUndefined();
}

async function push(input: Record<string, unknown>): Promise<GraphQLResponse<{ recordSupportActivity: boolean }>> {
  return app.graphql<{ recordSupportActivity: boolean }>(service, PUSH, { input });
}

async function readContext(customerId: string, token = agent): Promise<GraphQLResponse<{ customer: { id: string; status: string; context: Snapshot | null } }>> {
  return app.graphql(token, CONTEXT, { id: customerId });
}

function countAudit(type: string): Promise<number> {
  return app.app.mongo.db.collection(COLLECTIONS.auditEvents).countDocuments({ type });
}

beforeAll(async () => {
  app = await startTestApp({ env: { SNAPSHOT_TTL_SECONDS: String(SNAPSHOT_TTL_SECONDS) } });
  redis = new Redis(inject('redisUrl'), { lazyConnect: false });
  service = await app.token(SERVICE_SCOPES, 'svc-crm');
  agent = await app.token(['customer:read', 'context:read'], 'agent-ctx');
  fraudAgent = await app.token(['customer:read', 'context:read', 'fraud:read'], 'agent-fraud');
});
afterAll(async () => {
  redis?.disconnect();
  await app?.stop();
});

describe('building the snapshot', () => {
  it('shows open tickets, active subscriptions and the five most recent transactions and interactions, newest first', async () => {
    const id = await register();
    await consent(id, ['support_context']);
    const res = await push({
      customerId: id,
      tickets: [
        { id: 'T-1', status: 'open', subject: 'Router keeps rebooting', openedAt: daysAgo(10) },
        { id: 'T-2', status: 'closed', subject: 'Billing question', openedAt: daysAgo(9) },
        { id: 'T-3', status: 'Resolved', subject: 'Password reset', openedAt: daysAgo(8) },
        // Done in the words of other helpdesks (Zendesk solved, Jira done, ServiceNow canceled...): not open either.
        ...['solved', 'done', 'cancelled', 'canceled', 'completed'].map((status, i) => ({ id: `T-X${i}`, status, openedAt: daysAgo(7) })),
        { id: 'T-4', status: 'pending', subject: 'Refund for order 1234', openedAt: daysAgo(20), updatedAt: daysAgo(1) },
      ],
      subscriptions: [
        { id: 'S-1', plan: 'Fibre 500', status: 'active', startedAt: daysAgo(400), renewsAt: new Date(Date.now() + 30 * 86_400_000).toISOString() },
        { id: 'S-2', plan: 'TV Sports', status: 'cancelled', startedAt: daysAgo(300) },
      ],
      transactions: Array.from({ length: 7 }, (_, i) => ({
        id: `TX-${i + 1}`,
        status: 'settled',
        amountMinor: 1999 + i,
        currency: 'gbp',
        occurredAt: daysAgo(i + 1),
        description: 'Monthly plan',
      })),
      interactions: [
        { id: 'I-1', channel: 'EMAIL', occurredAt: daysAgo(6) },
        { id: 'I-2', channel: 'VOICE', occurredAt: daysAgo(5), summary: 'Asked about the refund', outcome: 'escalated' },
        { id: 'I-3', channel: 'WEBCHAT', occurredAt: daysAgo(4) },
        { id: 'I-4', channel: 'SMS', occurredAt: daysAgo(3) },
        { id: 'I-5', channel: 'VOICE', occurredAt: daysAgo(2) },
        { id: 'I-6', channel: 'WHATSAPP', occurredAt: daysAgo(0.5), summary: 'Sent a photo of the router' },
      ],
      deviceFingerprint: 'dfp_9f2c41aa7b3e',
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.recordSupportActivity).toBe(true);

    const read = await readContext(id);
    expect(read.body.errors).toBeUndefined();
    const snapshot = read.body.data!.customer.context!;
    expect(snapshot.customerId).toBe(id);
    expect(snapshot.sessionId).toBeNull();
    expect(snapshot.channel).toBe('WHATSAPP');
    expect(snapshot.openTickets!.map((t) => t.id)).toEqual(['T-4', 'T-1']);
    expect(snapshot.activeSubscriptions!.map((s) => s.id)).toEqual(['S-1']);
    expect(snapshot.recentTransactions!.map((t) => t.id)).toEqual(['TX-1', 'TX-2', 'TX-3', 'TX-4', 'TX-5']);
    expect(snapshot.recentTransactions![0]).toMatchObject({ amountMinor: 1999, currency: 'GBP' });
    expect(snapshot.lastInteractions!.map((x) => x.id)).toEqual(['I-6', 'I-5', 'I-4', 'I-3', 'I-2']);
    expect(new Date(snapshot.expiresAt).getTime() - new Date(snapshot.generatedAt).getTime()).toBe(SNAPSHOT_TTL_SECONDS * 1000);

    const withoutFraud = await app.graphql<{ customer: { context: { deviceFingerprint: string | null } } }>(agent, `query($id: ID!) { customer(id: $id) { context { deviceFingerprint } } }`, { id });
    expect(withoutFraud.body.data!.customer.context.deviceFingerprint).toBeNull();
    expect(withoutFraud.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const withFraud = await app.graphql<{ customer: { context: { deviceFingerprint: string } } }>(fraudAgent, `query($id: ID!) { customer(id: $id) { context { deviceFingerprint } } }`, { id });
    expect(withFraud.body.errors).toBeUndefined();
    expect(withFraud.body.data!.customer.context.deviceFingerprint).toBe('dfp_9f2c41aa7b3e');
  });

  // A CRM that sends dates only: the record pushed last was cut off behind five of the same day, and `channel` showed
  // the oldest interaction of that day (a probe).
  it('shows, among records of the same time, the ones received last first', async () => {
    const id = await register();
    await consent(id, ['support_context']);
    const day = daysAgo(1);
    const first = await push({
      customerId: id,
      tickets: Array.from({ length: 5 }, (_, i) => ({ id: `T-OLD-${i}`, status: 'open', openedAt: day })),
      interactions: Array.from({ length: 5 }, (_, i) => ({ id: `I-OLD-${i}`, channel: 'EMAIL', occurredAt: day })),
    });
    expect(first.body.errors).toBeUndefined();
    const second = await push({ customerId: id, tickets: [{ id: 'T-NEW', status: 'open', openedAt: day }], interactions: [{ id: 'I-NEW', channel: 'VOICE', occurredAt: day }] });
    expect(second.body.errors).toBeUndefined();
    const snapshot = (await readContext(id)).body.data!.customer.context!;
    expect(snapshot.openTickets!.map((t) => t.id)).toEqual(['T-NEW', 'T-OLD-4', 'T-OLD-3', 'T-OLD-2', 'T-OLD-1']);
    expect(snapshot.lastInteractions!.map((x) => x.id)).toEqual(['I-NEW', 'I-OLD-4', 'I-OLD-3', 'I-OLD-2', 'I-OLD-1']);
    expect(snapshot.channel).toBe('VOICE');
  });

  it('caches the snapshot in Redis with the configured TTL', async () => {
    const id = await register();
    await consent(id, ['support_context']);
    await push({ customerId: id, tickets: [{ id: 'T-9', status: 'open', openedAt: daysAgo(1) }] });
    expect(await redis.exists(snapshotKey(id))).toBe(0);
    await readContext(id);
    const pttl = await redis.pttl(snapshotKey(id));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(SNAPSHOT_TTL_SECONDS * 1000);
    expect(pttl).toBeGreaterThan((SNAPSHOT_TTL_SECONDS - 10) * 1000);
    const stored = JSON.parse((await redis.get(snapshotKey(id)))!) as { customerId: string; openTickets: Array<{ id: string }> };
    expect(stored.customerId).toBe(id);
    expect(stored.openTickets.map((t) => t.id)).toEqual(['T-9']);
  });

  it('treats a cached value it cannot read as a miss, rebuilds it from MongoDB, and serves the rebuilt one from Redis', async () => {
    const id = await register();
    await consent(id, ['support_context']);
    await push({
      customerId: id,
      tickets: [{ id: 'T-7', status: 'open', subject: 'Router offline', openedAt: daysAgo(2), updatedAt: daysAgo(1) }],
      subscriptions: [{ id: 'S-7', plan: 'fibre-500', status: 'active', startedAt: daysAgo(90) }],
      transactions: [{ id: 'TX-7', status: 'settled', amountMinor: 4599, currency: 'EUR', occurredAt: daysAgo(3) }],
      interactions: [{ id: 'I-7', channel: 'VOICE', occurredAt: daysAgo(1), summary: 'Called about the router' }],
    });
    const first = await readContext(id);
    expect(first.body.errors).toBeUndefined();
    const good = JSON.parse((await redis.get(snapshotKey(id)))!) as Record<string, unknown>;
    const ticket = (good['openTickets'] as Array<Record<string, unknown>>)[0]!;
    // Another release's format, a partial write, or a key written by hand: JSON that parses, fields that do not read.
    const NOT_JSON = Symbol('not JSON');
    const unreadable: Array<[string, unknown]> = [
      ['a date that does not parse', { ...good, generatedAt: 'x', expiresAt: 'garbage' }],
      ['a ticket without openedAt', { ...good, openTickets: [{ ...ticket, openedAt: undefined }] }],
      ['a ticket date that does not parse', { ...good, openTickets: [{ ...ticket, openedAt: 'bad' }] }],
      ['a number for a date', { ...good, generatedAt: 12, expiresAt: undefined }],
      ['a null item', { ...good, openTickets: [null] }],
      ['an item that is a string', { ...good, lastInteractions: ['I-7'] }],
      ['a channel outside the enum', { ...good, channel: 'PIGEON' }],
      ['an interaction channel outside the enum', { ...good, lastInteractions: [{ id: 'I-7', channel: 'FAX', occurredAt: daysAgo(1), summary: null, outcome: null }] }],
      ['an amount that is not a whole number', { ...good, recentTransactions: [{ id: 'TX-7', status: 'settled', amountMinor: '4599', currency: 'EUR', occurredAt: daysAgo(3), description: null }] }],
      ['a section that is not a list', { ...good, activeSubscriptions: {} }],
      // A regression round: an amount past GraphQL's 32-bit Int, a date the DateTime scalar cannot write, one in
      // another form, and a snapshot past its expiry, each failed or was served.
      ['an amount past a 32-bit Int', { ...good, recentTransactions: [{ id: 'TX-7', status: 'settled', amountMinor: 3_000_000_000, currency: 'EUR', occurredAt: daysAgo(3), description: null }] }],
      ['a date past year 9999', { ...good, generatedAt: '+275760-09-13T00:00:00.000Z' }],
      ['a date in another form', { ...good, generatedAt: 'Tue Dec 1 2026' }],
      ['a snapshot past its expiry', { ...good, expiresAt: '2020-01-01T00:05:00.000Z' }],
      ['a list instead of an object', [good]],
      ['JSON that does not parse', NOT_JSON],
    ];
    for (const [what, value] of unreadable) {
      await redis.set(snapshotKey(id), value === NOT_JSON ? '{"customerId":' : JSON.stringify(value), 'EX', 100);
      const read = await readContext(id);
      expect(read.body.errors, what).toBeUndefined();
      const context = read.body.data!.customer.context!;
      expect(context.customerId, what).toBe(id);
      expect(context.openTickets!.map((t) => t.id), what).toEqual(['T-7']);
      expect(context.activeSubscriptions!.map((s) => s.id), what).toEqual(['S-7']);
      expect(context.recentTransactions!.map((t) => [t.id, t.amountMinor]), what).toEqual([['TX-7', 4599]]);
      expect(context.lastInteractions!.map((x) => [x.id, x.channel]), what).toEqual([['I-7', 'VOICE']]);
      // The rebuilt snapshot replaced the unreadable value...
      expect((JSON.parse((await redis.get(snapshotKey(id)))!) as { generatedAt: string }).generatedAt, what).toBe(context.generatedAt);
      // ...and the next read takes it from Redis: no support-records read.
      app.resetCommands();
      const again = await readContext(id);
      expect(again.body.data!.customer.context!.generatedAt, what).toBe(context.generatedAt);
      expect(findsOn(app.mongoCommands, COLLECTIONS.supportRecords), what).toHaveLength(0);
    }
    // Fields this release does not know (a newer one may add some) do not make a value unreadable.
    await redis.set(snapshotKey(id), JSON.stringify({ ...good, addedLater: 1, openTickets: [{ ...ticket, priority: 'high' }] }), 'EX', 100);
    app.resetCommands();
    const newer = await readContext(id);
    expect(newer.body.data!.customer.context!.openTickets!.map((t) => t.id)).toEqual(['T-7']);
    expect(newer.body.data!.customer.context!.generatedAt).toBe(good['generatedAt']);
    expect(findsOn(app.mongoCommands, COLLECTIONS.supportRecords)).toHaveLength(0);
  });

  it('keeps every push as new documents, drops the cached snapshot on each push, and shows the latest version of a record', async () => {
    const id = await register();
    await consent(id, ['support_context']);
    await push({ customerId: id, tickets: [{ id: 'T-1', status: 'open', subject: 'No dial tone', openedAt: daysAgo(3) }] });
    expect((await readContext(id)).body.data!.customer.context!.openTickets!.map((t) => t.id)).toEqual(['T-1']);
    expect(await redis.exists(snapshotKey(id))).toBe(1);

    app.resetCommands();
    await push({ customerId: id, tickets: [{ id: 'T-1', status: 'closed', subject: 'No dial tone', openedAt: daysAgo(3), updatedAt: daysAgo(0) }, { id: 'T-2', status: 'open', openedAt: daysAgo(0) }] });
    expect(await redis.exists(snapshotKey(id))).toBe(0);
    const writes = app.mongoCommands.filter((c) => c.command[c.commandName] === COLLECTIONS.supportRecords && c.commandName !== 'find');
    expect(writes.map((c) => c.commandName)).toEqual(['insert']);
    expect(await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments({ customerId: id, recordId: 'T-1' })).toBe(2);

    const after = (await readContext(id)).body.data!.customer.context!;
    expect(after.openTickets!.map((t) => t.id)).toEqual(['T-2']);
  });

  it('keeps SUPPORT_RECORDS_KEPT_PER_KIND versions of each kind per customer: earlier versions go first, then the records received longest ago', async () => {
    const capped = await startTestApp({ shareStoresWith: app, env: { SUPPORT_RECORDS_KEPT_PER_KIND: '100' } });
    try {
      const id = await register();
      await consent(id, ['support_context']);
      const crm = await capped.token(SERVICE_SCOPES, 'svc-crm-capped');
      const pushTickets = async (tickets: Array<Record<string, unknown>>) => {
        const res = await capped.graphql(crm, PUSH, { input: { customerId: id, tickets } });
        expect(res.body.errors).toBeUndefined();
      };
      const tickets = (prefix: string, status: string) => Array.from({ length: 60 }, (_v, i) => ({ id: `${prefix}-${i}`, status, openedAt: daysAgo((prefix === 'U' ? 10 : 20) - i / 10) }));
      const records = app.app.mongo.db.collection(COLLECTIONS.supportRecords);
      const held = async () => (await records.find({ customerId: id, kind: 'ticket' }).toArray()).map((r) => r['recordId'] as string);

      // A ticket pushed once, then 60 tickets pushed twice: 121 versions, and the 21 dropped are earlier versions.
      await pushTickets([{ id: 'A', status: 'open', openedAt: daysAgo(30) }]);
      await pushTickets(tickets('T', 'open'));
      await pushTickets(tickets('T', 'pending'));
      let kept = await held();
      expect(kept).toHaveLength(100);
      expect(kept).toContain('A');
      expect(new Set(kept.filter((r) => r.startsWith('T-'))).size).toBe(60);
      const statuses = (await records.find({ customerId: id, kind: 'ticket', recordId: 'T-0' }).toArray()).map((r) => (r['data'] as { status: string }).status);
      expect(statuses).toContain('pending');

      // 60 more: the remaining 39 earlier versions go, then the 21 records received longest ago (A first).
      await pushTickets(tickets('U', 'open'));
      kept = await held();
      expect(kept).toHaveLength(100);
      expect(new Set(kept).size).toBe(100);
      expect(kept).not.toContain('A');
      expect(kept.filter((r) => r.startsWith('U-'))).toHaveLength(60);
      const context = (await readContext(id)).body.data!.customer.context!;
      expect(context.openTickets!.map((t) => t.id)).toEqual(['U-59', 'U-58', 'U-57', 'U-56', 'U-55']);
    } finally {
      await capped.stop();
    }
  });

  it('does not let a rebuild that began before an invalidation write its stale snapshot back', async () => {
    const id = await register();
    const cache = new SnapshotCache(app.app.redis, SNAPSHOT_TTL_SECONDS * 1000);
    const options = { ttlSeconds: SNAPSHOT_TTL_SECONDS, recentItems: 5 };
    // A reader misses and starts rebuilding from MongoDB...
    const read = await cache.readMany([id]);
    expect(read.snapshots).toEqual([null]);
    // ...meanwhile support_context is withdrawn (or new activity arrives) and the customer is invalidated...
    await cache.invalidate(id);
    // ...so the rebuilt snapshot, based on what MongoDB held before, is not cached.
    expect(await cache.writeMany([{ snapshot: buildSnapshot(id, [], options), epoch: read.epochs[0]! }])).toBe(0);
    expect(await redis.exists(snapshotKey(id))).toBe(0);
    // A rebuild that began after the invalidation is cached as usual.
    const again = await cache.readMany([id]);
    expect(await cache.writeMany([{ snapshot: buildSnapshot(id, [], options), epoch: again.epochs[0]! }])).toBe(1);
    expect(await redis.exists(snapshotKey(id))).toBe(1);
  });

  it('gives an erased customer no context', async () => {
    const id = await register();
    await push({ customerId: id, tickets: [{ id: 'T-1', status: 'open', openedAt: daysAgo(1) }] });
    await app.app.mongo.db.collection(COLLECTIONS.customers).updateOne({ _id: id as never }, { $set: { status: 'ERASED' } });
    const read = await readContext(id);
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.customer).toMatchObject({ status: 'ERASED', context: null });
    expect(await redis.exists(snapshotKey(id))).toBe(0);
  });
});

describe('validating support activity', () => {
  const base = { id: 'T-1', status: 'open', openedAt: daysAgo(1) };
  const tx = { id: 'TX-1', status: 'settled', amountMinor: 100, currency: 'EUR', occurredAt: daysAgo(1) };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an email address in a ticket subject', { tickets: [{ ...base, subject: 'Customer wrote from ada.l@example.org' }] }, 'ada.l@example.org'],
    ['a phone number in an interaction summary', { interactions: [{ id: 'I-1', channel: 'VOICE', occurredAt: daysAgo(1), summary: 'Call back on +44 20 7946 0958' }] }, '7946'],
    ['an email address in a transaction description', { transactions: [{ ...tx, description: 'Paid by bob@example.com' }] }, 'bob@example.com'],
    ['a phone number in a subscription plan', { subscriptions: [{ id: 'S-1', plan: 'Line 07700 900123', status: 'active', startedAt: daysAgo(1) }] }, '900123'],
    // Look-alikes that libphonenumber and mail clients read as the real thing.
    ['a phone number in Arabic-Indic digits', { interactions: [{ id: 'I-1', channel: 'VOICE', occurredAt: daysAgo(1), summary: 'call back on +\u0664\u0664\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0669\u0668\u0668' }] }, '\u0669\u0668\u0668'],
    ['a phone number split by zero-width spaces', { interactions: [{ id: 'I-1', channel: 'VOICE', occurredAt: daysAgo(1), summary: 'call +44\u200b7700\u200b900\u200b988' }] }, '988'],
    ['an email address with a fullwidth at sign', { interactions: [{ id: 'I-1', channel: 'EMAIL', occurredAt: daysAgo(1), summary: 'write to zeta.probe\uff20probe-example.org' }] }, 'zeta.probe'],
    ['a phone number in fullwidth digits', { tickets: [{ ...base, subject: 'call \uff10\uff17\uff17\uff10\uff10\uff19\uff10\uff10\uff19\uff18\uff17' }] }, '\uff19\uff18\uff17'],
    ['a phone number in Devanagari digits with en dashes', { tickets: [{ ...base, subject: 'call \u0966\u096d\u096d\u0966\u0966\u2013\u096f\u0966\u0966\u2013\u096f\u096e\u096d' }] }, '\u096f\u096e\u096d'],
    ['a phone number split by underscores', { tickets: [{ ...base, subject: 'call back 07700_900_123' }] }, '900_123'],
    ['a phone number split by slashes', { interactions: [{ id: 'I-1', channel: 'VOICE', occurredAt: daysAgo(1), summary: 'call back 44/7700/900/123' }] }, '900/123'],
    ['a percent-encoded email address', { tickets: [{ ...base, subject: 'reply to zed%40example.org' }] }, 'zed'],
    ['an email address spelled with (at) and [dot]', { tickets: [{ ...base, subject: 'reply to zed (at) example [dot] org' }] }, 'zed'],
    ['an email address with an HTML-escaped at sign', { tickets: [{ ...base, subject: 'Reply to zelda.probe&#64;example.org' }] }, 'zelda'],
    ['an email address spelled with at and dot as words', { tickets: [{ ...base, subject: 'Reply to zelda.probe at example dot org' }] }, 'zelda'],
    ['an email address written with spaces between its letters', { tickets: [{ ...base, subject: 'z e l d a @ e x a m p l e . o r g' }] }, 'e x a m'],
    ['a phone number with a tel: scheme as device fingerprint', { deviceFingerprint: 'tel:447700900987' }, '447700900987'],
    ['a phone number with any other prefix as device fingerprint', { deviceFingerprint: 'wa:447700900555' }, '447700900555'],
    ['a phone number standing apart inside a device fingerprint', { deviceFingerprint: 'dev_447700900555_ios' }, '447700900555'],
    ['a currency that is not ISO 4217', { transactions: [{ ...tx, currency: 'XYZ' }] }, 'XYZ'],
    ['a currency of the wrong length', { transactions: [{ ...tx, currency: 'EURO' }] }, 'EURO'],
    // Upper-cased to INR before the check (a probe).
    ['a currency with a letter outside ASCII', { transactions: [{ ...tx, currency: '\u0131nr' }] }, 'nr'],
    ['an amount beyond the bound', { transactions: [{ ...tx, amountMinor: 2_000_000_000 }] }, '2000000000'],
    ['an email address as device fingerprint', { deviceFingerprint: 'ada@example.org' }, 'ada@example.org'],
    ['a bare number as device fingerprint', { deviceFingerprint: '447700900123' }, '447700900123'],
    ['a too-short device fingerprint', { deviceFingerprint: 'ab12' }, 'ab12'],
    ['a date before 2000', { tickets: [{ ...base, openedAt: '1999-12-31T23:00:00Z' }] }, '1999'],
    ['an interaction ten days in the future', { interactions: [{ id: 'I-1', channel: 'SMS', occurredAt: new Date(Date.now() + 10 * 86_400_000).toISOString() }] }, 'I-1'],
    ['an update before the ticket was opened', { tickets: [{ ...base, updatedAt: daysAgo(2) }] }, 'T-1'],
    ['the same ticket twice in one call', { tickets: [base, base] }, 'T-1'],
    ['an id with an @', { tickets: [{ ...base, id: 'x@y.io' }] }, 'x@y.io'],
    // A probe stored these, anybody's number or address, shown to every agent in context.
    ['a phone number with a scheme as a ticket id', { tickets: [{ ...base, id: 'tel:447700900123' }] }, '447700900123'],
    ['a phone number after a channel as a transaction id', { transactions: [{ ...tx, id: 'whatsapp:447700900125' }] }, '447700900125'],
    ['a phone number in a status', { tickets: [{ ...base, status: 'callback-447700900124' }] }, '447700900124'],
    ['a status with spaces', { tickets: [{ ...base, status: 'in progress' }] }, 'in progress'],
    ['an empty push', {}, 'cus_'],
    ['more than 100 tickets', { tickets: Array.from({ length: 101 }, (_, i) => ({ ...base, id: `T-${i}` })) }, 'T-100'],
  ];

  it.each(cases)('rejects %s with BAD_USER_INPUT, without echoing it or storing anything', async (_name, fields, echoed) => {
    const id = await register();
    const before = await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments();
    const res = await push({ customerId: id, ...fields });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.data).toBeNull();
    expect(res.body.errors![0]!.message).not.toContain(echoed);
    expect(await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments()).toBe(before);
  });

  it('takes ids with a channel word as an ordinary prefix and statuses with a compact date (a regression probe found them refused)', async () => {
    const id = await register();
    const tickets = [
      { ...base, id: 'WA-2024-1130-0042', status: 'closed_20241130' },
      { ...base, id: 'TEL-2024-000123', status: 'resolved-20241130t1430z' },
      { ...base, id: 'sms-20241130-000123', status: 'snoozed-until-20241130' },
      { ...base, id: 'created_at_1700000000.123', status: 'closed-20241130-1430' },
      { ...base, id: 'T-RANGE', status: 'paused-20241201-20241231' },
      { ...base, id: 'T-SUFFIX', status: 'closed-20241130-1' },
      { ...base, id: 'T-OFFSET', status: 'closed-20241130t1430-0500' },
    ];
    const res = await push({ customerId: id, tickets });
    expect(res.body.errors).toBeUndefined();
  });

  it('refuses text that names the customer\'s own CRM id, storing nothing of the push', async () => {
    // Letters only: a CRM id holding seven digits in a row would be refused as a phone number by its shape alone.
    const lettersOnly = () => `ACME-${Array.from({ length: 8 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('')}`;
    const crmId = lettersOnly();
    rawIdentifiers.push(crmId);
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail('crm-text') }, { kind: 'CRM_ID', value: crmId }] },
    });
    const id = res.body.data!.registerCustomer.id;
    const ticket = (subject: string, ticketId = 'T-CRM') => ({ id: ticketId, status: 'open', subject, openedAt: daysAgo(1) });
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ tickets: [ticket('Open', 'T-1'), ticket(`ref ${crmId}`)] }, 'tickets[1].subject'],
      [{ tickets: [ticket(`Customer (${crmId}).`)] }, 'tickets[0].subject'],
      [{ interactions: [{ id: 'I-CRM', channel: 'EMAIL', occurredAt: daysAgo(1), summary: `see crm:${crmId}` }] }, 'interactions[0].summary'],
      [{ tickets: [ticket('Open', crmId)] }, 'tickets[0].id'],
      [{ deviceFingerprint: `crm:${crmId}` }, 'deviceFingerprint'],
      // Found by a probe of the first version: inside longer words, in other case, through escapes and look-alikes.
      [{ tickets: [ticket(`see ${crmId}.pdf`)] }, 'tickets[0].subject'],
      [{ tickets: [ticket(`${crmId}_notes`)] }, 'tickets[0].subject'],
      [{ tickets: [ticket(`ref:${crmId}.`)] }, 'tickets[0].subject'],
      [{ tickets: [ticket('Open', `${crmId}.1`)] }, 'tickets[0].id'],
      [{ tickets: [{ id: 'T-ST', status: crmId, openedAt: daysAgo(1) }] }, 'tickets[0].status'],
      [{ tickets: [ticket(crmId.toLowerCase())] }, 'tickets[0].subject'],
      [{ tickets: [ticket(crmId.replace('-', '%2D'))] }, 'tickets[0].subject'],
      [{ tickets: [ticket(crmId.replace('-', '\u2013'))] }, 'tickets[0].subject'],
      [{ tickets: [ticket(crmId.replace('-', '-\u200b'))] }, 'tickets[0].subject'],
      [{ tickets: [ticket([...crmId].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''))] }, 'tickets[0].subject'],
    ];
    for (const [records, path] of refusals) {
      const refused = await push({ customerId: id, ...records });
      expect(refused.body.errors?.[0]?.extensions, path).toMatchObject({ code: 'BAD_USER_INPUT', field: path });
      expect(JSON.stringify(refused.body)).not.toContain(crmId);
    }
    expect(await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments({ customerId: id })).toBe(0);
    // Words that are not the customer's CRM id pass, another customer's included: a CRM id has no shape to refuse.
    expect((await push({ customerId: id, tickets: [ticket(`About ${crmId.slice(0, -1)} and ${lettersOnly()}`)] })).body.errors).toBeUndefined();
  });

  // The forms read from text kept the id's own separators: `ACME XQZ…`, `ACME/XQZ…`, `ACME - XQZ…` and `ACMEXQZ…` were
  // kept in a consent's source, a grant's justification and an erasure's reason, after the erasure too (a probe).
  it("refuses the customer's own CRM id written with any separator between its pieces, or none, in every text kept about them", async () => {
    const letters = () => Array.from({ length: 8 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('');
    const crmId = `ACME-X${letters()}`;
    rawIdentifiers.push(crmId);
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail('crm-skeleton') }, { kind: 'CRM_ID', value: crmId }] },
    });
    const id = res.body.data!.registerCustomer.id;
    const spellings = [' ', '', '/', ' - ', ' / '].map((separator) => crmId.replace('-', separator));
    const dpo = await app.token(['dsar:process'], 'dpo-skeleton');
    const erase = (reason: string) => app.graphql(dpo, `mutation($c: ID!, $r: String!) { eraseCustomer(customerId: $c, requestId: "DSR-SK-1", reason: $r) { customerId } }`, { c: id, r: reason });
    for (const spelt of spellings) {
      const refusals: Array<[Promise<GraphQLResponse>, string]> = [
        [push({ customerId: id, tickets: [{ id: 'T-SK', status: 'open', subject: `ref ${spelt}`, openedAt: daysAgo(1) }] }) as Promise<GraphQLResponse>, 'tickets[0].subject'],
        [app.graphql(service, RECORD_CONSENT, { input: { customerId: id, scopes: ['support_context'], source: `ref ${spelt}` } }), 'source'],
        [erase(`ref ${spelt}`), 'reason'],
      ];
      for (const [pending, field] of refusals) {
        const refused = await pending;
        expect(refused.body.errors?.[0]?.extensions, `${field}: ${spelt}`).toMatchObject({ code: 'BAD_USER_INPUT', field });
      }
    }
    // The same letters not as whole words, or only some of them, pass.
    const kept = await push({ customerId: id, tickets: [{ id: 'T-SK', status: 'open', subject: `ref ${crmId.replace('-', '')}Z and ACME ${crmId.slice(5, -1)}`, openedAt: daysAgo(1) }] });
    expect(kept.body.errors).toBeUndefined();

    // A CRM id filed before its skeleton was gets one the next time it is resolved.
    const identifiers = app.app.mongo.db.collection('identifiers');
    await identifiers.updateMany({ customerId: id, kind: 'CRM_ID' }, { $unset: { skeletonHash: '', skeletonLength: '' } });
    expect((await push({ customerId: id, tickets: [{ id: 'T-SK', status: 'open', subject: `ref ${spellings[0]}`, openedAt: daysAgo(1) }] })).body.errors).toBeUndefined();
    const agent = await app.token(['customer:read'], 'agent-skeleton');
    const resolved = await app.graphql(agent, `query($v: String!) { resolveCustomer(input: { identifier: { kind: CRM_ID, value: $v } }) { customer { id } } }`, { v: crmId });
    expect(resolved.body.errors).toBeUndefined();
    expect(await identifiers.countDocuments({ customerId: id, kind: 'CRM_ID', skeletonHash: { $exists: true } })).toBe(1);
    const again = await push({ customerId: id, tickets: [{ id: 'T-SK', status: 'open', subject: `ref ${spellings[1]}`, openedAt: daysAgo(1) }] });
    expect(again.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'tickets[0].subject' });
  });

  // The skeleton screen refused times, dates and amounts for numeric CRM ids, and ordinary words beside short ones; and
  // a push of single-letter words against 49 CRM ids of as many lengths took 4 s of CPU (a regression probe).
  it('reads dates, times and amounts aside, skips CRM ids under six letters and digits, and bounds its hashing', async () => {
    const register = async (crmId: string) =>
      (await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('skeleton-bounds') }, { kind: 'CRM_ID', value: crmId }] } }))
        .body.data!.registerCustomer.id;
    const summary = (id: string, text: string) => push({ customerId: id, interactions: [{ id: 'I-SB', channel: 'EMAIL', occurredAt: daysAgo(1), summary: text }] });
    const dated = `2024${String(Math.floor(Math.random() * 12) + 1).padStart(2, '0')}17`;
    rawIdentifiers.push(dated);
    expect((await summary(await register(dated), `Follow-up promised for ${dated.slice(0, 4)}-${dated.slice(4, 6)}-${dated.slice(6)}`)).body.errors).toBeUndefined();
    const short = `AB-${Math.floor(Math.random() * 90) + 10}`;
    expect((await summary(await register(short), `Router model AB ${short.slice(3)} replaced`)).body.errors).toBeUndefined();
    // Numbers standing apart spell no CRM id of six digits (a regression probe: `Room 100 234 people` for 100234);
    // joined by another separator they do.
    const sixDigits = String(Math.floor(Math.random() * 900_000) + 100_000);
    rawIdentifiers.push(sixDigits);
    const numeric = await register(sixDigits);
    expect((await summary(numeric, `Room ${sixDigits.slice(0, 3)} ${sixDigits.slice(3)} people attended`)).body.errors).toBeUndefined();
    expect((await summary(numeric, `ref ${sixDigits.slice(0, 3)}-${sixDigits.slice(3)}`)).body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    // A CRM id holding a date or a time is read with them as written too (the same probe: `SR 2025-01-15-0042` for
    // SR-2025-01-15-0042, `INC 14:30:22` for INC-143022, read with the date aside, passed).
    const tag = () => Array.from({ length: 3 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('');
    const withDate = `${tag()}-2025-01-15-0042`;
    const withTime = `${tag()}-143022`;
    rawIdentifiers.push(withDate, withTime);
    const dateHolder = await register(withDate);
    for (const spelt of [withDate.replace('-', ' '), withDate.replace('-', '/'), withDate.replace(/-/g, ' ')]) {
      expect((await summary(dateHolder, `see ${spelt}`)).body.errors?.[0]?.extensions, spelt).toMatchObject({ code: 'BAD_USER_INPUT' });
    }
    const timeHolder = await register(withTime);
    expect((await summary(timeHolder, `see ${withTime.slice(0, 3)} 14:30:22`)).body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect((await summary(timeHolder, `Called back at 14:30:22 about ${withTime.slice(0, 2)}`)).body.errors).toBeUndefined();

    // 40 CRM ids of as many lengths (filed directly: 40 links would take the test's time), then texts of single letters.
    const id = await register(`ACME-Q${Math.random().toString(36).slice(2, 8).toUpperCase()}`);
    await app.app.mongo.db.collection('identifiers').insertMany(
      Array.from({ length: 40 }, (_, i) => ({
        _id: `v1:${randomBytes(32).toString('base64url')}` as never,
        customerId: id,
        kind: 'CRM_ID',
        keyVersion: 'v1',
        linkedAt: new Date(),
        skeletonHash: `v1:${randomBytes(32).toString('base64url')}`,
        skeletonLength: 6 + i,
      })),
    );
    const letters = (seed: number) => Array.from({ length: 240 }, (_, i) => 'abcdefghijklmnopqrstuvwxyz'[(i * 7 + seed * 3 + Math.floor(i / 26) * seed) % 26]).join(' ');
    const refused = await push({ customerId: id, interactions: Array.from({ length: 100 }, (_, k) => ({ id: `I-${k}`, channel: 'EMAIL', occurredAt: daysAgo(1), summary: letters(k) })) });
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(refused.body.errors?.[0]?.message).toBe("The request holds too many words to check against the customer's CRM ids; send fewer records at a time");
  });

  it("refuses record ids and statuses that carry the customer's own phone number, which their shape alone lets through", async () => {
    const phone = aPhone();
    rawIdentifiers.push(phone);
    const digits = phone.slice(1);
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail('phone-id') }, { kind: 'PHONE', value: phone }] },
    });
    const id = res.body.data!.registerCustomer.id;
    const at = daysAgo(1);
    // A probe's push: every one of these was stored and shown in clear next to the masked phone.
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ tickets: [{ id: `tel:${digits}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: 'T-PH', status: `wa${digits}`, openedAt: at }] }, 'tickets[0].status'],
      [{ transactions: [{ id: digits, status: 'settled', amountMinor: 100, currency: 'GBP', occurredAt: at }] }, 'transactions[0].id'],
      [{ transactions: [{ id: 'X-1', status: `sms-${digits}`, amountMinor: 100, currency: 'GBP', occurredAt: at }] }, 'transactions[0].status'],
      [{ subscriptions: [{ id: `whatsapp:${digits}`, plan: 'gold', status: 'active', startedAt: at }] }, 'subscriptions[0].id'],
      [{ interactions: [{ id: `wa:${digits}`, channel: 'WHATSAPP', occurredAt: at }] }, 'interactions[0].id'],
      [{ interactions: [{ id: `00${digits}`, channel: 'VOICE', occurredAt: at }] }, 'interactions[0].id'],
      [{ interactions: [{ id: `call-${digits.slice(0, 4)}-${digits.slice(4)}`, channel: 'VOICE', occurredAt: at }] }, 'interactions[0].id'],
      // Past the first version (a probe): a digit glued on with a separator, colons, doubled separators, thousands.
      [{ tickets: [{ id: `1-${digits}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: `ORD.7.${digits}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: `${digits}-1`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: `tel:${digits.slice(0, 2)}:${digits.slice(2, 6)}:${digits.slice(6)}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: `${digits.slice(0, 2)}--${digits.slice(2, 6)}--${digits.slice(6)}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: 'T-PH2', status: `wa${digits.slice(0, 2)}__${digits.slice(2)}`, openedAt: at }] }, 'tickets[0].status'],
      [{ deviceFingerprint: `fp1${digits}x` }, 'deviceFingerprint'],
      // Past the second (a probe): four separators in a row, and the national trunk 0 after the country code.
      [{ tickets: [{ id: `tel:${digits.slice(0, 2)}----${digits.slice(2)}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: `${digits.slice(0, 2)}0${digits.slice(2)}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ tickets: [{ id: 'T-PH4', status: `wa${digits.slice(0, 2)}-0-${digits.slice(2, 6)}-----${digits.slice(6)}`, openedAt: at }] }, 'tickets[0].status'],
      [{ tickets: [{ id: 'T-PH3', status: 'open', subject: `Refund of ${Number(digits.slice(0, -2)).toLocaleString('en-GB')}.${digits.slice(-2)} GBP`, openedAt: at }] }, 'tickets[0].subject'],
      // Past the hashed forms (a probe): the number split into runs too short to be one, by a word or a letter between
      // them; in international and in national form.
      [{ tickets: [{ id: 'T-PH5', status: 'open', subject: `callback ${digits.slice(0, 6)} then ${digits.slice(6)}`, openedAt: at }] }, 'tickets[0].subject'],
      [{ tickets: [{ id: `${digits.slice(0, 6)}-x-${digits.slice(6)}`, status: 'open', openedAt: at }] }, 'tickets[0].id'],
      [{ interactions: [{ id: 'I-PH6', channel: 'VOICE', occurredAt: at, summary: `Rang 0${digits.slice(2, 6)} ext ${digits.slice(6)} back` }] }, 'interactions[0].summary'],
    ];
    for (const [records, path] of refusals) {
      const refused = await push({ customerId: id, ...records });
      expect(refused.body.errors?.[0]?.extensions, path).toMatchObject({ code: 'BAD_USER_INPUT', field: path });
      expect(refused.body.errors?.[0]?.message).toMatch(/phone number/);
      expect(JSON.stringify(refused.body)).not.toContain(digits);
    }
    expect(await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments({ customerId: id })).toBe(0);
    // Bounded: ids made of many short digit pieces would take seconds of HMACs to screen; refused instead.
    const pieces = () => Array.from({ length: 32 }, () => Math.floor(Math.random() * 10)).join('-');
    const heavy = await push({ customerId: id, tickets: Array.from({ length: 100 }, () => ({ id: pieces(), status: 'open', openedAt: at })), transactions: Array.from({ length: 100 }, () => ({ id: pieces(), status: 'settled', amountMinor: 1, currency: 'GBP', occurredAt: at })), subscriptions: Array.from({ length: 100 }, () => ({ id: pieces(), plan: 'gold', status: 'active', startedAt: at })), interactions: Array.from({ length: 100 }, () => ({ id: pieces(), channel: 'VOICE', occurredAt: at })) });
    expect(heavy.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(heavy.body.errors?.[0]?.message).toMatch(/too many numbers/);
    // An order number is still a digit run, when it is not the customer's number.
    const other = `${digits.slice(0, -1)}${(Number(digits.at(-1)) + 1) % 10}`;
    expect((await push({ customerId: id, transactions: [{ id: other, status: 'settled', amountMinor: 100, currency: 'GBP', occurredAt: at }] })).body.errors).toBeUndefined();
  });

  it("does not join the digits of dates, amounts and separate numbers into a short national number, and still finds it written as one", async () => {
    // Denmark's national numbers have 8 digits and Iceland's 7: joined across words, ordinary text spelled them (a
    // regression probe: `Refund of 20.26 for tickets 12 and 01` beside +45 20261201).
    const cases: Array<{ phone: string; accepted: string[]; refused: string[] }> = [
      {
        phone: '+4520261201',
        accepted: ['Router replaced on 2026-12-01', 'Refund of 20.26 for tickets 12 and 01', 'Visit booked 2026-12-01 12:30'],
        refused: ['Call back on 20 26 12 01', 'Call +45 2026 1201 back', 'callback 452026 then 1201'],
      },
      { phone: '+3545511234', accepted: ['Paid 55.11 EUR, ticket 234', 'Paid 55.11 for 2 items, 34 left'], refused: ['Rang 551-1234 twice', 'callback 35455 then 11234'] },
    ];
    for (const { phone, accepted, refused } of cases) {
      rawIdentifiers.push(phone);
      const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
        input: { identifiers: [{ kind: 'EMAIL', value: anEmail('short-national') }, { kind: 'PHONE', value: phone }] },
      });
      expect(res.body.errors, phone).toBeUndefined();
      const id = res.body.data!.registerCustomer.id;
      for (const subject of accepted) {
        expect((await push({ customerId: id, tickets: [{ id: 'T-SN', status: 'open', subject, openedAt: daysAgo(1) }] })).body.errors, subject).toBeUndefined();
      }
      for (const subject of refused) {
        const reply = await push({ customerId: id, tickets: [{ id: 'T-SN', status: 'open', subject, openedAt: daysAgo(1) }] });
        expect(reply.body.errors?.[0]?.message, subject).toMatch(/phone number/);
      }
    }
  });

  it('does not screen for CRM ids under four characters, which ordinary ids and words would match', async () => {
    const shortId = `${Math.floor(Math.random() * 900) + 100}`;
    const res = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
      input: { identifiers: [{ kind: 'EMAIL', value: anEmail('short-crm') }, { kind: 'CRM_ID', value: shortId }] },
    });
    const id = res.body.data!.registerCustomer.id;
    expect((await push({ customerId: id, tickets: [{ id: shortId, status: 'open', subject: `Order ${shortId} late`, openedAt: daysAgo(1) }] })).body.errors).toBeUndefined();
  });

  it('answers NOT_FOUND for an unknown customer and BAD_USER_INPUT for an erased one or a malformed id', async () => {
    const unknown = await push({ customerId: 'cus_00000000000000000000000000', tickets: [{ id: 'T-1', status: 'open', openedAt: daysAgo(1) }] });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const malformed = await push({ customerId: '{"$ne": null}', tickets: [{ id: 'T-1', status: 'open', openedAt: daysAgo(1) }] });
    expect(malformed.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const id = await register();
    await app.app.mongo.db.collection(COLLECTIONS.customers).updateOne({ _id: id as never }, { $set: { status: 'ERASED' } });
    const erased = await push({ customerId: id, tickets: [{ id: 'T-1', status: 'open', openedAt: daysAgo(1) }] });
    expect(erased.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments({ customerId: id })).toBe(0);
  });

  it('needs context:write to push support activity', async () => {
    const id = await register();
    const res = await app.graphql(await app.token(['consent:write', 'identity:write'], 'svc-other'), PUSH, { input: { customerId: id, deviceFingerprint: 'dfp_abcdef12' } });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(await app.app.mongo.db.collection(COLLECTIONS.supportRecords).countDocuments({ customerId: id })).toBe(0);
  });
});

describe('consent gating', () => {
  it('purges the cached snapshot at once when support_context is withdrawn, and the next read withholds the four history sections', async () => {
    const id = await register();
    await consent(id, ['support_context', 'analytics']);
    await push({
      customerId: id,
      tickets: [{ id: 'T-1', status: 'open', openedAt: daysAgo(1) }],
      transactions: [{ id: 'TX-1', status: 'settled', amountMinor: 500, currency: 'EUR', occurredAt: daysAgo(1) }],
      interactions: [{ id: 'I-1', channel: 'SMS', occurredAt: daysAgo(1) }],
    });
    const before = await readContext(id);
    expect(before.body.errors).toBeUndefined();
    expect(before.body.data!.customer.context!.openTickets).toHaveLength(1);
    expect(await redis.exists(snapshotKey(id))).toBe(1);

    await consent(id, ['analytics']);
    expect(await redis.exists(snapshotKey(id))).toBe(0);

    const after = await readContext(id);
    const context = after.body.data!.customer.context!;
    expect(context.customerId).toBe(id);
    expect(context.generatedAt).toEqual(expect.any(String));
    expect(context.channel).toBe('SMS');
    expect(context.openTickets).toBeNull();
    expect(context.activeSubscriptions).toBeNull();
    expect(context.recentTransactions).toBeNull();
    expect(context.lastInteractions).toBeNull();
    const withheld = (after.body.errors ?? []).map((e) => [e.path?.at(-1), e.extensions?.['code'], e.extensions?.['reason']]);
    expect(withheld.sort()).toEqual([
      ['activeSubscriptions', 'FORBIDDEN', 'CONSENT_REQUIRED'],
      ['lastInteractions', 'FORBIDDEN', 'CONSENT_REQUIRED'],
      ['openTickets', 'FORBIDDEN', 'CONSENT_REQUIRED'],
      ['recentTransactions', 'FORBIDDEN', 'CONSENT_REQUIRED'],
    ]);
  });

  it('withholds the history sections from a customer who never consented', async () => {
    const id = await register();
    await push({ customerId: id, tickets: [{ id: 'T-1', status: 'open', openedAt: daysAgo(1) }] });
    const read = await readContext(id);
    expect(read.body.data!.customer.context!.openTickets).toBeNull();
    expect(read.body.errors?.every((e) => e.extensions?.['reason'] === 'CONSENT_REQUIRED')).toBe(true);
    expect(read.body.errors).toHaveLength(4);
  });

  it('copies no history of a customer without support_context consent into Redis', async () => {
    const id = await register();
    await consent(id, ['analytics']);
    await push({ customerId: id, tickets: [{ id: 'T-9', status: 'open', subject: 'Refund for order 1', openedAt: daysAgo(1) }] });
    await readContext(id);
    const cached = JSON.parse((await redis.get(snapshotKey(id))) ?? 'null') as Record<string, unknown> | null;
    expect(cached).not.toBeNull();
    expect(cached!['openTickets']).toEqual([]);
    expect(JSON.stringify(cached)).not.toContain('T-9');

    await consent(id, ['analytics', 'support_context']);
    const granted = await readContext(id);
    expect(granted.body.errors).toBeUndefined();
    expect(granted.body.data!.customer.context!.openTickets).toHaveLength(1);
  });

  // A request that read the consent before a change's receipt and the snapshot's epoch after its purge rebuilt under
  // the old consent, and the write-back passed the epoch check (a probe, 6 of 120 races): a grant was answered "no
  // tickets" without CONSENT_REQUIRED for the whole TTL, and a withdrawal left the history in Redis.
  it.each([
    ['a grant', [], ['support_context'], false],
    ['a withdrawal', ['support_context'], [], null],
  ] as const)('purges again, within seconds, a snapshot rebuilt under the consent before %s', async (_what, before, after, staleConsent) => {
    const id = await register();
    await consent(id, [...before]);
    await push({ customerId: id, tickets: [{ id: 'T-RACE', status: 'open', openedAt: daysAgo(1) }] });
    await consent(id, [...after]);
    // The racing request: its consent was read before the change, its MGET after the purge.
    await app.app.services.snapshots.snapshotsOf([id], async () => [staleConsent]);
    const cached = await redis.get(snapshotKey(id));
    expect(cached).not.toBeNull();
    expect(cached!.includes('T-RACE')).toBe(staleConsent === null);
    await sleep(2_500);
    expect(await redis.exists(snapshotKey(id))).toBe(0);
    const read = await readContext(id);
    if (after.length > 0) {
      expect(read.body.errors).toBeUndefined();
      expect(read.body.data!.customer.context!.openTickets?.map((t) => t.id)).toEqual(['T-RACE']);
    } else {
      expect(read.body.data!.customer.context!.openTickets).toBeNull();
      expect(await redis.get(snapshotKey(id))).not.toContain('T-RACE');
    }
  });

  // A stop within 30 s of a consent change logged "could not purge the context snapshot" once Redis was closing (seen
  // by hand, Ctrl-C to npm start after seeding): a stop drops the repeat purges still pending.
  it('drops the repeat purges still pending when the process stops', async () => {
    const own = await startTestApp();
    try {
      const crm = await own.token(SERVICE_SCOPES, 'svc-stop');
      const registered = await own.graphql<{ registerCustomer: { id: string } }>(crm, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: anEmail('stop') }] } });
      const id = registered.body.data!.registerCustomer.id;
      const snapshots = own.app.services.snapshots;
      const invalidate = snapshots.invalidate.bind(snapshots);
      let purges = 0;
      snapshots.invalidate = async (customerId: string) => {
        purges += 1;
        return invalidate(customerId);
      };
      const changed = await own.graphql(crm, RECORD_CONSENT, { input: { customerId: id, scopes: ['support_context'], source: 'ivr-prompt' } });
      expect(changed.body.errors).toBeUndefined();
      expect(purges).toBe(1);
      own.app.services.stopTimers();
      await sleep(2_500);
      expect(purges).toBe(1);
    } finally {
      await own.stop();
    }
    expect(own.logs.text()).not.toContain('could not purge');
  });

  // A probe consented a customer while Redis refused writes: the purge failed, the snapshot built without history
  // stayed, and the history read as empty, without CONSENT_REQUIRED, for the whole TTL, after Redis recovered too.
  it.each([
    ['a grant', [], ['support_context']],
    ['a withdrawal', ['support_context'], []],
  ] as const)('rebuilds a cached snapshot built under the consent before %s whose purge failed', async (_what, before, after) => {
    const id = await register();
    await consent(id, [...before]);
    await push({ customerId: id, tickets: [{ id: 'T-KEPT', status: 'open', openedAt: daysAgo(1) }] });
    await readContext(id);
    expect((await redis.get(snapshotKey(id)))?.includes('T-KEPT')).toBe(before.length > 0);
    const snapshots = app.app.services.snapshots;
    const invalidate = snapshots.invalidate.bind(snapshots);
    snapshots.invalidate = () => Promise.reject(new Error('READONLY You can\'t write against a read only replica.'));
    try {
      await consent(id, [...after]);
      expect(await redis.exists(snapshotKey(id))).toBe(1);
      const read = await readContext(id);
      if (after.length > 0) {
        expect(read.body.errors).toBeUndefined();
        expect(read.body.data!.customer.context!.openTickets?.map((t) => t.id)).toEqual(['T-KEPT']);
      } else {
        expect(read.body.data!.customer.context!.openTickets).toBeNull();
        expect(await redis.get(snapshotKey(id))).not.toContain('T-KEPT');
      }
    } finally {
      snapshots.invalidate = invalidate;
    }
  });

  // The call failed after the records were stored (MongoDB gone before the prune) without dropping the cached
  // context, which then hid the push for its TTL (a probe read the code).
  it('drops the cached context when a push fails after its records were stored', async () => {
    const id = await register();
    await consent(id, ['support_context']);
    await push({ customerId: id, tickets: [{ id: 'T-BEFORE', status: 'open', openedAt: daysAgo(2) }] });
    expect((await readContext(id)).body.data!.customer.context!.openTickets!.map((t) => t.id)).toEqual(['T-BEFORE']);
    expect(await redis.exists(snapshotKey(id))).toBe(1);
    const repository = (app.app.services.supportRecords as unknown as { repository: { pruneCustomer: (...args: unknown[]) => Promise<unknown> } }).repository;
    const prune = repository.pruneCustomer;
    repository.pruneCustomer = () => Promise.reject(new ServiceUnavailableError('mongodb', 'The mongodb store is unavailable'));
    try {
      const failed = await push({ customerId: id, tickets: [{ id: 'T-STORED', status: 'open', openedAt: daysAgo(1) }] });
      expect(failed.body.errors?.[0]?.extensions?.['code']).toBe('SERVICE_UNAVAILABLE');
    } finally {
      repository.pruneCustomer = prune;
    }
    expect(await redis.exists(snapshotKey(id))).toBe(0);
    expect((await readContext(id)).body.data!.customer.context!.openTickets!.map((t) => t.id)).toEqual(['T-STORED', 'T-BEFORE']);
  });

  it('keeps no history in Redis past the end of the consent it was built under', async () => {
    const id = await register();
    await push({ customerId: id, tickets: [{ id: 'T-8', status: 'open', openedAt: daysAgo(1) }] });
    const until = new Date(Date.now() + 3000);
    const res = await app.graphql(service, RECORD_CONSENT, { input: { customerId: id, scopes: ['support_context'], source: 'ivr-prompt', expiresAt: until.toISOString() } });
    expect(res.body.errors).toBeUndefined();
    const read = await readContext(id);
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data!.customer.context!.openTickets).toHaveLength(1);
    expect(new Date(read.body.data!.customer.context!.expiresAt).getTime()).toBeLessThanOrEqual(until.getTime());
    const pttl = await redis.pttl(snapshotKey(id));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(3000);
    await new Promise((resolve) => setTimeout(resolve, until.getTime() - Date.now() + 200));
    expect(await redis.exists(snapshotKey(id))).toBe(0);
    const after = await readContext(id);
    expect(after.body.data!.customer.context!.openTickets).toBeNull();
    expect(JSON.stringify(JSON.parse((await redis.get(snapshotKey(id))) ?? 'null'))).not.toContain('T-8');
  });
});

describe('batching and the audit trail', () => {
  it('reads 100 customers’ snapshots with one Redis MGET when warm, and rebuilds the misses with one MongoDB find', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      ids.push(...(await Promise.all(Array.from({ length: 10 }, () => register(false)))));
    }
    for (let i = 0; i < ids.length; i += 10) {
      await Promise.all(
        ids.slice(i, i + 10).map((id, j) =>
          push({ customerId: id, tickets: [{ id: `T-${i + j}`, status: 'open', openedAt: daysAgo(1) }], interactions: [{ id: `I-${i + j}`, channel: 'VOICE', occurredAt: daysAgo(1) }] }),
        ),
      );
    }
    const query = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Customer { id context { customerId channel generatedAt } } } }`;
    const variables = { r: ids.map((id) => ({ __typename: 'Customer', id })) };

    const monitorClient = new Redis(inject('redisUrl'));
    const monitor = await monitorClient.monitor();
    const commands: string[][] = [];
    // These customers' keys only: the repeat purges of earlier tests' consent changes (CONSENT_REPURGE_MS, up to 30 s
    // later) delete other snapshots of this prefix meanwhile, and were counted (a full run, 2026-12-02).
    const ours = (arg: string) => arg.startsWith(app.config.redisKeyPrefix) && ids.some((id) => arg.endsWith(id));
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.slice(1).some(ours)) commands.push(args);
    });
    try {
      const auditBefore = await countAudit('CONTEXT_READ');
      app.resetCommands();
      const cold = await app.graphql<{ _entities: Array<{ id: string; context: { customerId: string; channel: string } }> }>(agent, query, variables);
      expect(cold.body.errors).toBeUndefined();
      expect(cold.body.data!._entities.map((e) => e.context.customerId)).toEqual(ids);
      expect(cold.body.data!._entities[42]!.context.channel).toBe('VOICE');
      expect(findsOn(app.mongoCommands, COLLECTIONS.supportRecords)).toHaveLength(1);
      expect(await countAudit('CONTEXT_READ')).toBe(auditBefore + 100);
      // The 100 CONTEXT_READ events go out as one insert command (the chains' heads were read in one turn too).
      const auditInserts = app.mongoCommands.filter((c) => c.commandName === 'insert' && c.command['insert'] === 'audit_events');
      expect(auditInserts).toHaveLength(1);
      expect((auditInserts[0]!.command['documents'] as unknown[]).length).toBe(100);
      await sleep(200);
      const coldMgets = commands.filter((c) => c[0]?.toLowerCase() === 'mget' && c.some((a) => a.includes(':snapshot:')));
      expect(coldMgets).toHaveLength(1);
      expect(coldMgets[0]!.length - 1).toBe(200);

      commands.length = 0;
      app.resetCommands();
      const warm = await app.graphql<{ _entities: Array<{ id: string; context: { customerId: string } }> }>(agent, query, variables);
      expect(warm.body.errors).toBeUndefined();
      expect(warm.body.data!._entities.map((e) => e.context.customerId)).toEqual(ids);
      await sleep(200);
      const warmMgets = commands.filter((c) => c[0]?.toLowerCase() === 'mget');
      expect(warmMgets).toHaveLength(1);
      // Warm: no rebuild, so nothing else touched the snapshot keys.
      expect(commands.filter((c) => c.some((a) => a.includes(':snapshot:'))).map((c) => c[0]?.toLowerCase())).toEqual(['mget']);
      expect(findsOn(app.mongoCommands, COLLECTIONS.supportRecords)).toHaveLength(0);
      expect(await countAudit('CONTEXT_READ')).toBe(auditBefore + 200);
    } finally {
      monitor.disconnect();
      monitorClient.disconnect();
    }
  });

  it('records a context read made while resolving a call with that call\'s channel and interaction id', async () => {
    const email = anEmail('on-the-call');
    rawIdentifiers.push(email);
    const registered = await app.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { input: { identifiers: [{ kind: 'EMAIL', value: email }] } });
    const id = registered.body.data!.registerCustomer.id;
    const console_ = await app.token(['identity:resolve', 'customer:read', 'context:read'], 'agent-on-call');
    const res = await app.graphql<{ resolveCustomer: { customer: { context: { customerId: string } } } }>(
      console_,
      `query($v: String!) { resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: VOICE, interactionId: "call-7f3a" }) { customer { context { customerId } } } }`,
      { v: email },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data!.resolveCustomer.customer.context.customerId).toBe(id);
    const events = await app.app.mongo.db.collection(COLLECTIONS.auditEvents).find({ customerId: id }).sort({ sequence: 1 }).toArray();
    expect(events.map((e) => [e['type'], e['channel'], e['interactionId']])).toEqual([
      ['CUSTOMER_REGISTERED', null, null],
      ['IDENTITY_RESOLUTION', 'VOICE', 'call-7f3a'],
      ['CONTEXT_READ', 'VOICE', 'call-7f3a'],
    ]);

    // Two calls resolved in one request: a read for each, each with its own call; the read by id with neither,
    // whichever field GraphQL resolves first.
    const before = new Date();
    const both = await app.graphql(
      console_,
      `query($v: String!, $id: ID!) {
        byId: customer(id: $id) { context { customerId } }
        voice: resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: VOICE, interactionId: "call-1" }) { customer { context { customerId } } }
        mail: resolveCustomer(input: { identifier: { kind: EMAIL, value: $v }, channel: EMAIL, interactionId: "mail-2" }) { customer { context { customerId } } }
      }`,
      { v: email, id },
    );
    expect(both.body.errors).toBeUndefined();
    const reads = await app.app.mongo.db.collection(COLLECTIONS.auditEvents).find({ customerId: id, type: 'CONTEXT_READ', occurredAt: { $gte: before } }).toArray();
    expect(reads.map((e) => `${e['channel']}/${e['interactionId']}`).sort()).toEqual(['EMAIL/mail-2', 'VOICE/call-1', 'null/null']);
  });

  it('writes one CONTEXT_READ event per customer per request, however often the request reads it', async () => {
    const id = await register();
    const before = await countAudit('CONTEXT_READ');
    const res = await app.graphql(agent, `query($id: ID!) { a: customer(id: $id) { context { customerId } } b: customer(id: $id) { context { generatedAt } } }`, { id });
    expect(res.body.errors).toBeUndefined();
    expect(await countAudit('CONTEXT_READ')).toBe(before + 1);
    const event = await app.app.mongo.db.collection(COLLECTIONS.auditEvents).findOne({ type: 'CONTEXT_READ', customerId: id });
    expect(event).toMatchObject({ customerId: id, actor: { kind: 'AGENT', id: 'agent-ctx' } });
  });

  it('refuses the context read when its CONTEXT_READ event cannot be written (fail closed)', async () => {
    const id = await register();
    await readContext(id);
    expect(await redis.exists(snapshotKey(id))).toBe(1);
    // Fault injection into our own audit log: the snapshot itself is readable from Redis.
    const audit = app.app.services.audit;
    const original = audit.appendMany.bind(audit);
    audit.appendMany = () => Promise.reject(new Error('audit store down'));
    try {
      const res = await readContext(id);
      expect(res.body.data!.customer.id).toBe(id);
      expect(res.body.data!.customer.context).toBeNull();
      expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', service: 'audit' });
    } finally {
      audit.appendMany = original;
    }
  });
});

describe('no raw identifiers in Redis', () => {
  it('leaves no raw email, phone or CRM id in any Redis key or value under the app prefix', async () => {
    const id = await register();
    const crmId = aCrmId();
    rawIdentifiers.push(crmId);
    await consent(id, ['support_context']);
    await push({ customerId: id, tickets: [{ id: 'T-1', status: 'open', subject: 'Cannot log in', openedAt: daysAgo(1) }], deviceFingerprint: 'dfp_77aa21bc09' });
    await readContext(id);
    await app.graphql(agent, `mutation($id: ID!) { startSupportSession(customerId: $id, channel: VOICE) { token } }`, { id });

    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${app.config.redisKeyPrefix}*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    expect(keys.some((k) => k.includes(':snapshot:'))).toBe(true);
    expect(keys.some((k) => k.includes(':session:'))).toBe(true);

    const dump: string[] = [];
    for (const key of keys) {
      dump.push(key);
      const type = await redis.type(key);
      if (type === 'string') dump.push((await redis.get(key)) ?? '');
      else if (type === 'set') dump.push(...(await redis.smembers(key)));
      else if (type === 'hash') dump.push(...Object.entries(await redis.hgetall(key)).flat());
      else if (type === 'zset') dump.push(...(await redis.zrange(key, 0, -1)));
      else if (type === 'list') dump.push(...(await redis.lrange(key, 0, -1)));
    }
    const text = dump.join('\n').toLowerCase();
    expect(rawIdentifiers.length).toBeGreaterThan(10);
    for (const raw of rawIdentifiers) {
      expect(text).not.toContain(raw.toLowerCase());
      // Phones also in the national digits form.
      if (raw.startsWith('+')) expect(text).not.toContain(raw.slice(3));
    }
  });
});
