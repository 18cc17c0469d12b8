/**
 * Rotating PII_MASTER_KEY (README "Rotating the master key"): replicas started with the new key and the old one as
 * PII_MASTER_KEY_PREVIOUS read every customer and wrap new data keys under the new one; `npm run master-key:rotate`
 * re-wraps the old data keys (the document's copy and the customer_keys copy), records the new key as the database's,
 * and from then on the new key alone serves everything, audit seals included. Real processes, real stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDevKeys } from '../src/dev/dev-keys.js';
import { HmacKeyring } from '../src/identity/hmac-keyring.js';
import { verifyKeysAgainstStore } from '../src/identity/key-checks.js';
import { PiiEnvelope } from '../src/identity/pii-envelope.js';
import { grantAllPii } from './policy-fixtures.js';
import { aCrmId, anEmail, aPhone, REGISTER, SERVICE_SCOPES } from './testkit/builders.js';
import { runScript } from './testkit/run-script.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
const stopped: TestApp[] = [];

beforeAll(async () => {
  app = await startTestApp();
}, 60_000);
afterAll(async () => {
  for (const other of stopped) await other.stop();
  await app?.stop();
});

function rotate(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return runScript('scripts/rotate-master-key.ts', [], env);
}

async function register(on: TestApp, label: string): Promise<{ id: string; email: string }> {
  const service = await on.token(SERVICE_SCOPES, 'svc-crm');
  const email = anEmail(label);
  const res = await on.graphql<{ registerCustomer: { id: string } }>(service, REGISTER, {
    input: { identifiers: [{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: aPhone() }, { kind: 'CRM_ID', value: aCrmId() }], displayName: 'Rhea Rotate' },
  });
  expect(res.body.errors).toBeUndefined();
  return { id: res.body.data!.registerCustomer.id, email: email.toLowerCase() };
}

async function readClear(on: TestApp, id: string): Promise<{ email: string | null; errors: unknown }> {
  const agent = await on.token(['customer:read', 'pii:read'], 'agent-rotate');
  const res = await on.graphql<{ customer: { email: string | null } }>(agent, 'query($id: ID!) { customer(id: $id) { email } }', { id });
  return { email: res.body.data?.customer.email ?? null, errors: res.body.errors };
}

async function hashesOpen(on: TestApp, id: string): Promise<boolean> {
  const auditor = await on.token(['customer:read', 'audit:read'], 'auditor-rotate');
  const res = await on.graphql<{ customer: { auditTrail: { edges: Array<{ node: { type: string; identifierHash: string | null } }> } } }>(
    auditor,
    'query($id: ID!) { customer(id: $id) { auditTrail(first: 5) { edges { node { type identifierHash } } } } }',
    { id },
  );
  if (!res.body.data?.customer) throw new Error(JSON.stringify(res.body.errors));
  const registered = res.body.data!.customer.auditTrail.edges.find((e) => e.node.type === 'CUSTOMER_REGISTERED');
  return typeof registered?.node.identifierHash === 'string';
}

describe('rotating PII_MASTER_KEY', () => {
  it('serves through the rotation and after it, with the new key alone, and re-wraps both copies of each data key', async () => {
    const oldKey = app.keys.piiMasterKey;
    const newKey = (await generateDevKeys()).piiMasterKey;
    const oldId = PiiEnvelope.fromBase64(oldKey).masterKeyId;
    const newId = PiiEnvelope.fromBase64(newKey).masterKeyId;
    const a = await register(app, 'rotA');
    const b = await register(app, 'rotB');
    // A customer stored before 2026-11-30: its wrapped key in customer_keys only.
    await app.app.mongo.db.collection('customers').updateOne({ _id: b.id as never }, { $unset: { dataKey: '' } });
    for (const { id } of [a, b]) await grantAllPii(app, id, 'agent-rotate', 3600);

    // Step 1: replicas with the new key, the old one as PII_MASTER_KEY_PREVIOUS.
    const during = await startTestApp({ shareStoresWith: app, env: { PII_MASTER_KEY: newKey, PII_MASTER_KEY_PREVIOUS: oldKey } });
    stopped.push(during);
    expect(await readClear(during, a.id)).toEqual({ email: a.email, errors: undefined });
    expect(await readClear(during, b.id)).toEqual({ email: b.email, errors: undefined });
    const c = await register(during, 'rotC');
    await grantAllPii(during, c.id, 'agent-rotate', 3600);
    const customers = app.app.mongo.db.collection<{ _id: string; dataKey?: { masterKeyId: string } }>('customers');
    expect((await customers.findOne({ _id: c.id }))?.dataKey?.masterKeyId).toBe(newId);

    // Step 2: the command.
    const env = { MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: app.config.mongodbDb, PII_MASTER_KEY: newKey, PII_MASTER_KEY_PREVIOUS: oldKey };
    const run = await rotate(env);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("2 customers' data keys re-wrapped under the current master key");
    expect(run.output).toContain('no data key is left under another master key');
    expect(run.output).not.toContain(oldKey);
    expect(run.output).not.toContain(newKey);
    expect(await customers.countDocuments({ 'dataKey.masterKeyId': oldId })).toBe(0);
    expect(await app.app.mongo.db.collection('customer_keys').countDocuments({ masterKeyId: oldId })).toBe(0);
    expect(await app.app.mongo.db.collection('key_checks').findOne({ _id: 'pii-master-key' as never })).toMatchObject({ value: newId });
    const again = await rotate(env);
    expect(again.output).toContain("0 customers' data keys re-wrapped");

    // Step 3: the new key alone reads everyone, and opens the identifier hashes sealed under the old data keys.
    const after = await startTestApp({ shareStoresWith: app, env: { PII_MASTER_KEY: newKey } });
    stopped.push(after);
    for (const { id, email } of [a, b, c]) {
      expect(await readClear(after, id)).toEqual({ email, errors: undefined });
      expect(await hashesOpen(after, id)).toBe(true);
    }
    // And the old key alone is refused: it is no longer the database's.
    await expect(verifyKeysAgainstStore(app.app.mongo.db, HmacKeyring.parse(app.keys.identityHmacKeys), PiiEnvelope.fromBase64(oldKey))).rejects.toThrow(
      "PII_MASTER_KEY: is not the key this database's customer data keys were wrapped with",
    );
  }, 180_000);

  // A regression probe: a mistyped previous key recorded the new key over the database's and locked every customer
  // away; a weak new key was taken through a rotation; a damaged copy, or an erased customer's leftover copy, kept
  // the rotation from ever finishing.
  it('refuses a previous key the database does not record and a weak new key, repairs a damaged copy from the other, and deletes erased leftovers', async () => {
    const fresh = await startTestApp();
    stopped.push(fresh);
    const oldKey = fresh.keys.piiMasterKey;
    const newKey = (await generateDevKeys()).piiMasterKey;
    const unrelated = (await generateDevKeys()).piiMasterKey;
    const env = { MONGODB_URL: fresh.config.mongodbUrl, MONGODB_DB: fresh.config.mongodbDb, PII_MASTER_KEY: newKey };
    const a = await register(fresh, 'rotDamaged');
    const gone = await register(fresh, 'rotGone');

    const mistyped = await rotate({ ...env, PII_MASTER_KEY_PREVIOUS: unrelated });
    expect([mistyped.code, mistyped.output.trim()]).toEqual([78, "master-key:rotate: PII_MASTER_KEY_PREVIOUS: is not the key this database's customer data keys were wrapped with (nor is PII_MASTER_KEY)"]);
    const weak = Buffer.alloc(32).toString('base64');
    expect((await rotate({ ...env, PII_MASTER_KEY: weak, PII_MASTER_KEY_PREVIOUS: oldKey })).code).toBe(78);
    await expect(startTestApp({ shareStoresWith: fresh, env: { PII_MASTER_KEY: weak, PII_MASTER_KEY_PREVIOUS: oldKey } })).rejects.toThrow(/PII_MASTER_KEY: the key is not random bytes/);

    // The document's copy of a's key altered; its customer_keys copy intact. An erased customer's copy left behind.
    const customers = fresh.app.mongo.db.collection('customers');
    const doc = await customers.findOne({ _id: a.id as never });
    const tag = Buffer.from((doc!['dataKey'] as { tag: { buffer: Uint8Array } }).tag.buffer);
    tag[0] = (tag[0] ?? 0) ^ 1;
    await customers.updateOne({ _id: a.id as never }, { $set: { 'dataKey.tag': tag } });
    const dpo = await fresh.token(['dsar:process'], 'dpo-rotate');
    const erased = await fresh.graphql(dpo, 'mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "DSR-ROT", reason: "letter") { alreadyErased } }', { id: gone.id });
    expect(erased.body.errors).toBeUndefined();
    const leftover = await fresh.app.mongo.db.collection('customer_keys').findOne({ _id: a.id as never });
    await fresh.app.mongo.db.collection('customer_keys').insertOne({ ...leftover!, _id: gone.id as never });

    const run = await rotate({ ...env, PII_MASTER_KEY_PREVIOUS: oldKey });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('1 copies of erased customers');
    expect(run.output).toContain('no data key is left under another master key');
    const after = await startTestApp({ shareStoresWith: fresh, env: { PII_MASTER_KEY: newKey } });
    stopped.push(after);
    await grantAllPii(after, a.id, 'agent-rotate', 3600);
    expect(await readClear(after, a.id)).toEqual({ email: a.email, errors: undefined });
  }, 180_000);

  // A regression probe: on a database with no record of its master key, the first start with the new key and the
  // previous one recorded the new key before any data key was re-wrapped: the old key alone was refused, the new alone
  // taken, and every clear read failed.
  it('records the key the data is under, not the new one, when a rotation starts on a database with no record', async () => {
    const bare = await startTestApp();
    stopped.push(bare);
    const oldKey = bare.keys.piiMasterKey;
    const newKey = (await generateDevKeys()).piiMasterKey;
    await register(bare, 'rotBare');
    const checks = bare.app.mongo.db.collection('key_checks');
    await checks.deleteOne({ _id: 'pii-master-key' as never });
    const during = await startTestApp({ shareStoresWith: bare, env: { PII_MASTER_KEY: newKey, PII_MASTER_KEY_PREVIOUS: oldKey } });
    stopped.push(during);
    expect(await checks.findOne({ _id: 'pii-master-key' as never })).toMatchObject({ value: PiiEnvelope.fromBase64(oldKey).masterKeyId });
    const hmac = HmacKeyring.parse(bare.keys.identityHmacKeys);
    await expect(verifyKeysAgainstStore(bare.app.mongo.db, hmac, PiiEnvelope.fromBase64(oldKey))).resolves.toBeDefined();
    await expect(verifyKeysAgainstStore(bare.app.mongo.db, hmac, PiiEnvelope.fromBase64(newKey))).rejects.toThrow(/PII_MASTER_KEY: is not the key/);
  }, 120_000);

  it('refuses to run without the previous key, or with the same key twice, in one line without the keys', async () => {
    const env = { MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: app.config.mongodbDb, PII_MASTER_KEY: app.keys.piiMasterKey };
    const missing = await rotate(env);
    expect([missing.code, missing.output.trim()]).toEqual([78, 'master-key:rotate: PII_MASTER_KEY_PREVIOUS: is required: the master key being rotated away from']);
    const same = await rotate({ ...env, PII_MASTER_KEY_PREVIOUS: app.keys.piiMasterKey });
    expect([same.code, same.output.trim()]).toEqual([78, 'master-key:rotate: PII_MASTER_KEY_PREVIOUS: is the same key as PII_MASTER_KEY']);
    expect(same.output).not.toContain(app.keys.piiMasterKey);
    // Both keys malformed: both named in one run (a regression probe found the previous key's line on a second run).
    const both = await rotate({ ...env, PII_MASTER_KEY: 'SUPERSECRETNOTBASE64!!', PII_MASTER_KEY_PREVIOUS: 'ALSOSECRET%%' });
    expect(both.code).toBe(78);
    expect(both.output.trim().split('\n').map((line) => line.split(' ')[1])).toEqual(['PII_MASTER_KEY', 'PII_MASTER_KEY_PREVIOUS']);
    expect(both.output).not.toMatch(/SUPERSECRET|ALSOSECRET/);
    const onlyPrevious = await rotate({ ...env, PII_MASTER_KEY: '', PII_MASTER_KEY_PREVIOUS: 'ALSOSECRET%%' });
    expect(onlyPrevious.output.trim().split('\n').map((line) => line.split(' ')[1])).toEqual(['PII_MASTER_KEY:', 'PII_MASTER_KEY_PREVIOUS']);
    const nothing = await rotate({});
    expect([nothing.code, nothing.output.trim().split('\n')]).toEqual([
      78,
      [
        'master-key:rotate: PII_MASTER_KEY: is required: the new master key',
        'master-key:rotate: PII_MASTER_KEY_PREVIOUS: is required: the master key being rotated away from',
        "master-key:rotate: MONGODB_URL: is required (npm start prints the dev server's URL)",
      ],
    ]);
  }, 60_000);

  // MONGODB_DB mistyped or left unset: the rotation reported itself finished and the previous key free to leave every
  // replica, and recorded the new key in that database, while the deployment's data keys stayed under the old one (a
  // probe).
  it('refuses a database that holds no customers and no key checks, and writes nothing there', async () => {
    const elsewhere = `${app.config.mongodbDb}_typo`;
    const run = await rotate({ MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: elsewhere, PII_MASTER_KEY: (await generateDevKeys()).piiMasterKey, PII_MASTER_KEY_PREVIOUS: app.keys.piiMasterKey });
    expect([run.code, run.output.trim()]).toEqual([
      78,
      `master-key:rotate: MONGODB_DB: database "${elsewhere}" holds no customers and no key checks: is it this deployment's database? (a server records its key checks when it starts)`,
    ]);
    expect(await app.app.mongo.client.db(elsewhere).listCollections().toArray()).toEqual([]);
  }, 60_000);
});
