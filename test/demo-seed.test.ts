/**
 * What `npm start` seeds on a fresh data directory, run here as it runs there (300 customers, the same fixed
 * random seed): every record it pushes must pass the same validation any integration's push does. A fingerprint
 * format that validation refused once stopped `npm start` on every machine, and no other test seeded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../src/dev/demo-seed.js';
import { COLLECTIONS } from '../src/storage/mongo.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.stop();
});

describe('the demo seed of npm start', () => {
  it('seeds 300 customers with their consent and support activity once, and not again', async () => {
    const db = app.app.mongo.db;
    const first = await seedDemoData(db, app.app.services, 300);
    expect(first).toMatchObject({ seeded: true, customers: 300 });
    expect(first.demoCustomerId).toMatch(/^cus_/);
    expect(await db.collection(COLLECTIONS.customers).countDocuments()).toBeGreaterThanOrEqual(300);
    expect(await db.collection(COLLECTIONS.supportRecords).countDocuments({ kind: 'device' })).toBe(300);
    expect(await seedDemoData(db, app.app.services, 300)).toEqual({ seeded: false, customers: 300, demoCustomerId: first.demoCustomerId });
  }, 120_000);
});

describe('the demo seed against a database it did not begin', () => {
  const REGISTER = `mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }`;

  // A development start given a production database (NODE_ENV left out) seeded 300 demo people into it, and linked
  // the demo's email and CRM id to a real customer who had the demo phone number (a probe).
  it('seeds nothing into a database that holds customers, and touches none of them', async () => {
    const other = await startTestApp();
    try {
      const service = await other.token(['identity:write'], 'svc-crm');
      const real = await other.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, { i: { identifiers: [{ kind: 'PHONE', value: '+447700900123' }], displayName: 'Real Person' } });
      expect(real.body.errors).toBeUndefined();
      const db = other.app.mongo.db;
      const identifiersBefore = await db.collection(COLLECTIONS.identifiers).countDocuments();
      expect(await seedDemoData(db, other.app.services, 5)).toEqual({ seeded: false, customers: 0, demoCustomerId: null, holdsOtherData: true });
      expect(await db.collection(COLLECTIONS.customers).countDocuments()).toBe(1);
      expect(await db.collection(COLLECTIONS.identifiers).countDocuments()).toBe(identifiersBefore);
    } finally {
      await other.stop();
    }
  });

  it('goes on with a seed it began and did not finish', async () => {
    const other = await startTestApp();
    try {
      const db = other.app.mongo.db;
      // What a start stopped after its first customers leaves: the start marker and some of the seed's people.
      await db.collection('veil_meta').insertOne({ _id: 'demo-seed-started' as never, demoCustomerId: '', customers: 0, at: new Date() });
      const service = await other.token(['identity:write'], 'svc-crm');
      await other.graphql(service, REGISTER, { i: { identifiers: [{ kind: 'EMAIL', value: 'jane.doe@example.com' }], displayName: 'Jane Doe' } });
      const seed = await seedDemoData(db, other.app.services, 3);
      expect(seed).toMatchObject({ seeded: true, customers: 3 });
      expect(await db.collection(COLLECTIONS.customers).countDocuments()).toBe(3);
    } finally {
      await other.stop();
    }
  }, 60_000);
});
