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
