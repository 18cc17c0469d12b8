/**
 * `npm run masks:rewrite`: masks are fixed when an attribute is written, so masks stored under an earlier release's
 * rules stay until this command recomputes them from the encrypted values (a probe: the README said registering
 * again or linking again rewrote them; neither did). A real process against the test stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDevKeys } from '../src/dev/dev-keys.js';
import { anEmail, aCrmId } from './testkit/builders.js';
import { runScript } from './testkit/run-script.js';
import { startTestApp, type TestApp } from './testkit/test-app.js';

let app: TestApp;
let service: string;

beforeAll(async () => {
  app = await startTestApp();
  service = await app.token(['identity:write', 'identity:resolve', 'customer:read', 'dsar:process']);
}, 60_000);
afterAll(async () => app?.stop());

function rewrite(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  return runScript('scripts/rewrite-masks.ts', args, env);
}

async function register(identifiers: Array<{ kind: string; value: string }>, displayName: string): Promise<string> {
  const res = await app.graphql<{ registerCustomer: { id: string } }>(
    service,
    'mutation($i: RegisterCustomerInput!) { registerCustomer(input: $i) { id } }',
    { i: { identifiers, displayName } },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.registerCustomer.id;
}

async function masksOf(id: string): Promise<Record<string, unknown>> {
  const doc = await app.app.mongo.db.collection('customers').findOne({ _id: id as never });
  return doc?.['masked'] as Record<string, unknown>;
}

describe('npm run masks:rewrite', () => {
  it('rewrites masks stored under earlier rules from the encrypted values, under the customer lock, and prints counts only', async () => {
    const email = anEmail('rewrite');
    const stale = await register([{ kind: 'EMAIL', value: email }, { kind: 'PHONE', value: '+2904512' }], 'Doe, Jane');
    const current = await register([{ kind: 'CRM_ID', value: aCrmId() }], '"Cher"');
    const erased = await register([{ kind: 'CRM_ID', value: aCrmId() }], 'Erin Erased');
    expect(await masksOf(current)).toMatchObject({ DISPLAY_NAME: 'C.' });
    const customers = app.app.mongo.db.collection('customers');
    // What the releases before stored: the whole surname, the whole national number, a quote for an initial.
    await customers.updateOne({ _id: stale as never }, { $set: { 'masked.DISPLAY_NAME': 'Doe, J.', 'masked.PHONE': '+***4512' } });
    await customers.updateOne({ _id: current as never }, { $set: { 'masked.DISPLAY_NAME': '".' } });
    const erasure = await app.graphql(service, 'mutation($id: ID!) { eraseCustomer(customerId: $id, requestId: "req-mask-1", reason: "test") { customerId } }', { id: erased });
    expect(erasure.body.errors).toBeUndefined();
    // A customer whose ciphertext was altered does not decrypt: counted, left alone, and the run goes on.
    const broken = await register([{ kind: 'CRM_ID', value: aCrmId() }], 'Bob Broken');
    const doc = await customers.findOne({ _id: broken as never });
    const ct = Buffer.from((doc?.['encrypted'] as { DISPLAY_NAME: { ct: { buffer: Uint8Array } } }).DISPLAY_NAME.ct.buffer);
    ct[0] = (ct[0] ?? 0) ^ 1;
    await customers.updateOne({ _id: broken as never }, { $set: { 'encrypted.DISPLAY_NAME.ct': ct, 'masked.DISPLAY_NAME': 'X.' } });

    const env = { MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: app.config.mongodbDb, PII_MASTER_KEY: app.keys.piiMasterKey, IDENTITY_HMAC_KEYS: app.keys.identityHmacKeys };
    const dry = await rewrite(['--dry-run'], env);
    expect(dry.code).toBe(0);
    expect(dry.output).toContain('3 active customers read; 2 had masks of an earlier rule (DISPLAY_NAME 2, EMAIL 0, PHONE 1): nothing written (--dry-run)');
    expect(dry.output).toContain('1 customers did not decrypt or are damaged documents');
    expect(await masksOf(stale)).toMatchObject({ DISPLAY_NAME: 'Doe, J.', PHONE: '+***4512' });

    const run = await rewrite([], env);
    expect(run.code).toBe(0);
    expect(run.output).toContain('2 had masks of an earlier rule (DISPLAY_NAME 2, EMAIL 0, PHONE 1): rewritten');
    expect(await masksOf(stale)).toMatchObject({ DISPLAY_NAME: 'Jane D.', PHONE: '+******2', EMAIL: `${email[0]}***@${email.split('@')[1]}` });
    expect(await masksOf(current)).toMatchObject({ DISPLAY_NAME: 'C.' });
    expect(await masksOf(broken)).toMatchObject({ DISPLAY_NAME: 'X.' });
    expect(await masksOf(erased)).toEqual({ DISPLAY_NAME: null, EMAIL: null, PHONE: null });
    // What an agent reads is the rewritten mask.
    const agent = await app.token(['customer:read']);
    const read = await app.graphql<{ customer: { displayName: string; phone: string } }>(agent, 'query($id: ID!) { customer(id: $id) { displayName phone } }', { id: stale });
    expect(read.body.data?.customer).toEqual({ displayName: 'Jane D.', phone: '+******2' });
    // Nothing clear in its output, nor a lock left behind.
    for (const clear of [email, 'Jane', 'Cher', '2904512', 'Bob']) expect(run.output).not.toContain(clear);
    expect(await app.app.mongo.db.collection('customer_locks').countDocuments()).toBe(0);
    const again = await rewrite([], env);
    expect(again.output).toContain('3 active customers read; 0 had masks of an earlier rule');
  }, 120_000);

  // A regression probe: a name stored under the old initial rule (`Zaraquill #.`) whose new mask (`Zaraquill 7.`) with
  // the masked email (`z***@`) gave back zaraquill7@, and a damaged document stopped the whole run.
  it('keeps the old mask of a name whose new one would give back the email, and counts a damaged document without stopping', async () => {
    const email = `zaraquill7@z${Date.now().toString(36)}.example.com`;
    const id = await register([{ kind: 'EMAIL', value: email }], 'Zed Zulu');
    const customers = app.app.mongo.db.collection('customers');
    // What the release before stored for `zaraquill #7x`: the name encrypted, its mask under the old rule (`#.`).
    const localPart = email.slice(0, email.indexOf('@'));
    const name = `${localPart.slice(0, 9)} #${localPart.slice(9)}x`;
    const stored = await app.app.services.customers.findByIds([id]);
    const envelope = (await import('../src/identity/pii-envelope.js')).PiiEnvelope.fromBase64(app.keys.piiMasterKey);
    const dataKey = envelope.unwrapDataKey(id, stored[0]!.dataKey!);
    const sealed = envelope.encryptField(dataKey, id, 'DISPLAY_NAME', name);
    await customers.updateOne({ _id: id as never }, { $set: { 'encrypted.DISPLAY_NAME': { iv: sealed.iv, ct: sealed.ciphertext, tag: sealed.tag }, 'masked.DISPLAY_NAME': `${localPart.slice(0, 9)} #.` } });
    const damaged = await register([{ kind: 'CRM_ID', value: aCrmId() }], 'Dee Damaged');
    await customers.updateOne({ _id: damaged as never }, { $set: { 'encrypted.DISPLAY_NAME': 'junk' } });
    const env = { MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: app.config.mongodbDb, PII_MASTER_KEY: app.keys.piiMasterKey, IDENTITY_HMAC_KEYS: app.keys.identityHmacKeys };
    const run = await rewrite([], env);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('1 display names kept their old mask');
    expect(await masksOf(id)).toMatchObject({ DISPLAY_NAME: `${localPart.slice(0, 9)} #.` });
    expect(run.output).not.toContain('zaraquill');
    // A customer whose lock another writer holds is left for another run, not counted as damaged (a regression probe).
    const locked = await register([{ kind: 'CRM_ID', value: aCrmId() }], 'Lok Held');
    await app.app.mongo.db.collection<{ _id: string }>('customer_locks').insertOne({ _id: locked, token: 'held', acquiredAt: new Date(Date.now() + 3_600_000) } as { _id: string });
    try {
      const busy = await rewrite(['--dry-run'], env);
      expect(busy.output).toContain('1 customers were being changed by another writer and were left: run it again');
    } finally {
      await app.app.mongo.db.collection<{ _id: string }>('customer_locks').deleteOne({ _id: locked });
    }
  }, 120_000);

  // A link is checked against the mask stored then (`Smith, A.` under an earlier rule); rewritten, the mask showed the
  // CRM id linked meanwhile, `ACME-R5HVK3 S.`, to every agent (a regression probe). Another email linked meanwhile is
  // held by hash only: a new mask that shows a digit beside one is not written either.
  it('keeps the old mask of a name whose new one would show a CRM id or another email linked under the old one', async () => {
    const crmId = `ACME-R${Date.now().toString(36).toUpperCase()}`;
    const withCrm = await register([{ kind: 'PHONE', value: '+2904513' }], `Smith, ${crmId}`);
    const withEmail = await register([{ kind: 'EMAIL', value: anEmail('first') }], 'Doe, q7x.later');
    // Digits of another script and an accent, as the link screen reads them (a regression probe).
    const arabicDigit = `ACME7Q${Date.now().toString(36).toUpperCase()}`;
    const withArabicDigit = await register([{ kind: 'PHONE', value: '+2904515' }], `Smith, \u00c1cme\u0667q${arabicDigit.slice(6)}`);
    // A phone number linked under the old mask, whose digits the new one shows beside its masked last four.
    const withPhone = await register([{ kind: 'CRM_ID', value: aCrmId() }], 'Smith, 4516qq');
    const plain = await register([{ kind: 'PHONE', value: '+2904514' }, { kind: 'CRM_ID', value: aCrmId() }], 'Roe, Ann');
    const customers = app.app.mongo.db.collection('customers');
    for (const [id, old] of [[withCrm, 'Smith, A.'], [withEmail, 'Doe, q.'], [plain, 'Roe, A.'], [withArabicDigit, 'Smith, A.'], [withPhone, 'Smith, A.']] as const) {
      await customers.updateOne({ _id: id as never }, { $set: { 'masked.DISPLAY_NAME': old } });
    }
    const link = (id: string, kind: string, value: string) =>
      app.graphql(service, 'mutation($id: ID!, $k: IdentifierKind!, $v: String!) { linkIdentifier(customerId: $id, identifier: { kind: $k, value: $v }) { id } }', { id, k: kind, v: value });
    expect((await link(withCrm, 'CRM_ID', crmId)).body.errors).toBeUndefined();
    expect((await link(withEmail, 'EMAIL', `q7x.later@l${Date.now().toString(36)}.example.com`)).body.errors).toBeUndefined();
    expect((await link(withArabicDigit, 'CRM_ID', arabicDigit)).body.errors).toBeUndefined();
    expect((await link(withPhone, 'PHONE', '+447700945161')).body.errors).toBeUndefined();
    const env = { MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: app.config.mongodbDb, PII_MASTER_KEY: app.keys.piiMasterKey, IDENTITY_HMAC_KEYS: app.keys.identityHmacKeys };
    const run = await rewrite([], env);
    expect(run.code, run.output).toBe(0);
    // (The earlier test's customer keeps its old mask on every run too.)
    expect(run.output).toMatch(/\b[4-9] display names kept their old mask/);
    expect(await masksOf(withCrm)).toMatchObject({ DISPLAY_NAME: 'Smith, A.' });
    expect(await masksOf(withEmail)).toMatchObject({ DISPLAY_NAME: 'Doe, q.' });
    expect(await masksOf(withArabicDigit)).toMatchObject({ DISPLAY_NAME: 'Smith, A.' });
    expect(await masksOf(withPhone)).toMatchObject({ DISPLAY_NAME: 'Smith, A.' });
    // A name that shows no identifier the customer holds is rewritten as before.
    expect(await masksOf(plain)).toMatchObject({ DISPLAY_NAME: 'Ann R.' });
    expect(run.output).not.toContain(crmId);
  }, 120_000);

  it('refuses a missing or wrong PII_MASTER_KEY and unknown arguments, in one line without the key', async () => {
    await register([{ kind: 'CRM_ID', value: aCrmId() }], 'Kay Key');
    const env = { MONGODB_URL: app.config.mongodbUrl, MONGODB_DB: app.config.mongodbDb, IDENTITY_HMAC_KEYS: app.keys.identityHmacKeys };
    const missing = await rewrite([], env);
    expect([missing.code, missing.output.trim()]).toEqual([78, 'masks:rewrite: PII_MASTER_KEY: is required (npm start keeps the dev key in .data/dev-keys.json)']);
    const other = (await generateDevKeys()).piiMasterKey;
    const wrong = await rewrite(['--dry-run'], { ...env, PII_MASTER_KEY: other });
    expect(wrong.code).toBe(78);
    expect(wrong.output.trim()).toMatch(/^masks:rewrite: PII_MASTER_KEY does not match: this data key was wrapped under master key [0-9a-f]{16}, the configured key is [0-9a-f]{16}$/);
    expect(wrong.output).not.toContain(other);
    const short = await rewrite([], { ...env, PII_MASTER_KEY: 'c2hvcnQ=' });
    expect([short.code, short.output.trim()]).toEqual([78, 'masks:rewrite: PII_MASTER_KEY decodes to 5 bytes; exactly 32 are required']);
    // Every missing variable at once, and a database that is not a deployment's (MONGODB_DB mistyped or left unset),
    // which reported its masks rewritten (a probe).
    const nothing = await rewrite([], {});
    expect([nothing.code, nothing.output.trim().split('\n')]).toEqual([
      78,
      [
        'masks:rewrite: PII_MASTER_KEY: is required (npm start keeps the dev key in .data/dev-keys.json)',
        'masks:rewrite: IDENTITY_HMAC_KEYS: is required (a new mask is compared with the identifiers the customer holds, stored as hashes)',
        "masks:rewrite: MONGODB_URL: is required (npm start prints the dev server's URL)",
      ],
    ]);
    const elsewhere = await rewrite([], { ...env, MONGODB_DB: `${app.config.mongodbDb}_typo`, PII_MASTER_KEY: app.keys.piiMasterKey });
    expect([elsewhere.code, elsewhere.output.trim()]).toEqual([
      78,
      `masks:rewrite: MONGODB_DB: database "${app.config.mongodbDb}_typo" holds no customers and no key checks: is it this deployment's database? (a server records its key checks when it starts)`,
    ]);
    // Another deployment's HMAC keys would find no CRM id in any mask, and write masks that show them (a regression
    // probe): refused, as the server refuses them at start.
    const otherKeys = (await generateDevKeys()).identityHmacKeys;
    const foreign = await rewrite(['--dry-run'], { ...env, PII_MASTER_KEY: app.keys.piiMasterKey, IDENTITY_HMAC_KEYS: otherKeys });
    expect([foreign.code, foreign.output.trim()]).toEqual([78, expect.stringMatching(/^masks:rewrite: IDENTITY_HMAC_KEYS: the key of version "[^"]+" is not the one this database's identifiers were hashed with/)]);
    const unknown = await rewrite(['--dry'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('unknown argument "--dry"');
  }, 60_000);
});
