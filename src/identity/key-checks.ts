import type { Collection, Db } from 'mongodb';
import { ConfigError } from '../errors.js';
import { COLLECTIONS, isDuplicateKeyError } from '../storage/mongo.js';
import type { HmacKeyring } from './hmac-keyring.js';

/** One per key: `hmac:<version>` or `pii-master-key`, with a value that only that key gives (never the key). */
interface KeyCheckDoc {
  _id: string;
  value: string;
  recordedAt: Date;
  /**
   * Set on records dated by the key set's order (current last) when one start records several: absent on those of
   * releases before 2026-12-02, which dated them current first (see checkUnlistedVersions).
   */
  ordered?: boolean;
}

/**
 * A well-formed key that is not the one the data was written with starts like any other and then does harm: under
 * another `IDENTITY_HMAC_KEYS` key of the same version nobody is found and every known person is registered again;
 * under another `PII_MASTER_KEY` every clear read and export fails (a probe ran both). So each key's check value is
 * recorded the first time it is used with a database, and compared at every start: a key that does not match stops
 * start-up with one line naming the variable. A database written before these checks existed is checked for the
 * master key against a stored customer's wrapped data key; its HMAC keys are recorded as they are.
 */
export async function verifyKeysAgainstStore(db: Db, keyring: HmacKeyring, master: { masterKeyId: string; isWeakKey: boolean; previousKeyIds?: readonly string[] }): Promise<string[]> {
  const { masterKeyId } = master;
  // During a master key rotation (PII_MASTER_KEY_PREVIOUS), the database's record may still name the previous key:
  // `npm run master-key:rotate` records the new one once no data key is wrapped under the old.
  const previousIds = master.previousKeyIds ?? [];
  const checks = db.collection<KeyCheckDoc>(COLLECTIONS.keyChecks);
  const expected = new Map<string, { value: string; mismatch: () => ConfigError; weak: string | null }>();
  for (const version of keyring.versions) {
    expected.set(`hmac:${version}`, {
      value: keyring.checkValue(version),
      mismatch: () => hmacKeyMismatch(version),
      weak: keyring.isWeak(version) ? `IDENTITY_HMAC_KEYS: the key of version "${version}"` : null,
    });
  }
  const masterMismatch = () => new ConfigError("PII_MASTER_KEY: is not the key this database's customer data keys were wrapped with");
  expected.set('pii-master-key', { value: masterKeyId, mismatch: masterMismatch, weak: master.isWeakKey ? 'PII_MASTER_KEY: the key' : null });

  // Everything is compared before anything is recorded: a start that is refused records no new version.
  const recorded = new Map((await checks.find({ _id: { $in: [...expected.keys()] } }).toArray()).map((doc) => [doc._id, doc.value]));
  for (const [id, { value, mismatch }] of expected) {
    if (!recorded.has(id) || recorded.get(id) === value) continue;
    if (id === 'pii-master-key' && previousIds.includes(recorded.get(id) as string)) continue;
    throw mismatch();
  }
  // A database written before the checks existed holds data under its master key without a record of it. One whose
  // record names the previous key (a rotation under way) holds data under the new key once a replica wrapped some:
  // a weak new key was taken for one the data was under (a regression probe).
  const recordedMaster = recorded.get('pii-master-key');
  let holdsDataUnderMaster = recordedMaster === masterKeyId;
  /** With no record: the fingerprint stored data keys carry, if any. */
  let storedMaster: string | undefined;
  if (!holdsDataUnderMaster && recordedMaster !== undefined) {
    holdsDataUnderMaster =
      (await db.collection<{ _id: string }>(COLLECTIONS.customers).findOne({ 'dataKey.masterKeyId': masterKeyId }, { projection: { _id: 1 } })) !== null ||
      (await db.collection<{ _id: string }>(COLLECTIONS.customerKeys).findOne({ masterKeyId }, { projection: { _id: 1 } })) !== null;
  } else if (!holdsDataUnderMaster) {
    // Only a fingerprint that is a string is one: a `null` left by hand matched `$exists` and refused the right key.
    const customer = await db.collection<{ _id: string; dataKey?: { masterKeyId?: unknown } }>(COLLECTIONS.customers).findOne({ 'dataKey.masterKeyId': { $type: 'string' } });
    // Customers stored before 2026-11-30 have their wrapped key in `customer_keys` only: a database of that age with
    // no key check on record took a wrong master key, recorded it, and refused the right one from then on (a
    // regression probe).
    const stored = customer?.dataKey?.masterKeyId ?? (await db.collection<{ _id: string; masterKeyId?: unknown }>(COLLECTIONS.customerKeys).findOne({ masterKeyId: { $type: 'string' } }))?.masterKeyId;
    if (stored !== undefined && stored !== masterKeyId && !previousIds.includes(String(stored))) throw masterMismatch();
    holdsDataUnderMaster = stored === masterKeyId;
    storedMaster = stored === undefined ? undefined : String(stored);
  }
  // A key set that shares no version with the identifiers on record (a wrong key under a new label, or the new
  // version alone before any identifier was filed under it) would find nobody and register everyone again.
  const identifiers = db.collection<{ _id: string; keyVersion?: string }>(COLLECTIONS.identifiers);
  await assertSharesAVersion(identifiers, keyring);
  // A key that is not random bytes (all zero, one byte repeated: a probe had `AAAA…A=` taken) is refused where it would
  // be put to use anew. One the database already holds data under is kept, with a warning: refusing it would lock
  // the data away, and rotating away from it needs it listed (an older IDENTITY_HMAC_KEYS version).
  const warnings: string[] = [];
  for (const [id, { weak }] of expected) {
    if (weak === null) continue;
    // A database written before these checks existed holds identifiers under its HMAC keys without a record of them.
    const isInUse =
      id === 'pii-master-key'
        ? holdsDataUnderMaster
        : recorded.has(id) || (await identifiers.findOne({ keyVersion: id.slice('hmac:'.length) }, { projection: { _id: 1 } })) !== null;
    if (!isInUse) throw new ConfigError(`${weak} is not random bytes (it repeats a few values); generate one with: openssl rand -base64 32`);
    warnings.push(`${weak} is not random bytes; this database already holds data under it, so it is used: rotate it`);
  }
  warnings.push(...(await checkUnlistedVersions(checks, identifiers, keyring)));
  // Versions recorded by one start are dated in the key set's order, the current one last: recorded in list order, the
  // current came first, and a rollback that dropped the newer version read as a retirement (a regression probe).
  const now = Date.now();
  for (const [id, { value, mismatch }] of expected) {
    if (recorded.has(id)) continue;
    const position = id.startsWith('hmac:') ? keyring.versions.indexOf(id.slice('hmac:'.length)) : 0;
    // During a master key rotation, a database with no record gets the key its data keys are under, which may be the
    // previous one: recording the new one made the previous alone refused and the new alone taken before any data
    // key was re-wrapped (a regression probe). With no data key, or one under the new key already, nothing.
    if (id === 'pii-master-key' && previousIds.length > 0) {
      if (storedMaster !== undefined && previousIds.includes(storedMaster)) await recordOrCompare(checks, id, storedMaster, mismatch, new Date(now));
      continue;
    }
    await recordOrCompare(checks, id, value, mismatch, new Date(now - position));
  }
  return warnings;
}

function hmacKeyMismatch(version: string): ConfigError {
  return new ConfigError(`IDENTITY_HMAC_KEYS: the key of version "${version}" is not the one this database's identifiers were hashed with (same version, another key)`);
}

async function assertSharesAVersion(identifiers: Collection<{ _id: string; keyVersion?: string }>, keyring: HmacKeyring): Promise<void> {
  if ((await identifiers.findOne({})) && !(await identifiers.findOne({ keyVersion: { $in: keyring.versions } }))) {
    throw new ConfigError(`IDENTITY_HMAC_KEYS: none of its versions (${keyring.versions.join(', ')}) is a version this database's identifiers were hashed with`);
  }
}

/**
 * What a maintenance command that hashes with IDENTITY_HMAC_KEYS checks before it relies on them, recording nothing:
 * each version's key against the check a server recorded, and a version in common with the identifiers on record.
 * masks:rewrite took another deployment's keys, found no CRM id in any new mask, and wrote masks that showed one (a
 * regression probe).
 */
export async function checkHmacKeysAgainstStore(db: Db, keyring: HmacKeyring): Promise<void> {
  const ids = keyring.versions.map((version) => `hmac:${version}`);
  for (const doc of await db.collection<KeyCheckDoc>(COLLECTIONS.keyChecks).find({ _id: { $in: ids } }).toArray()) {
    const version = doc._id.slice('hmac:'.length);
    if (doc.value !== keyring.checkValue(version)) throw hmacKeyMismatch(version);
  }
  await assertSharesAVersion(db.collection<{ _id: string; keyVersion?: string }>(COLLECTIONS.identifiers), keyring);
}

/**
 * Versions this database has identifiers under that the key set does not list: the customers they lead to are not
 * found, and registering them again makes a second customer (a probe rolled `v2,v1` back to `v1` and got one, with no
 * word at start-up). One taken into use after every listed version the database has recorded is a rollback that
 * dropped it: refused (`v1` after `v2,v1`, and `v3,v1` after `v2,v1`). An older one is a retirement (`npm run
 * identifiers:retire` leaves the records nobody looked up since the rotation): a warning at every start. Read by
 * range on `_id` (`<version>:<digest>`), which the `_id` index serves. A database whose starts recorded no HMAC
 * version (written before these checks) is asked which versions its identifiers are filed under, and warned of.
 */
async function checkUnlistedVersions(checks: Collection<KeyCheckDoc>, identifiers: Collection<{ _id: string; keyVersion?: string }>, keyring: HmacKeyring): Promise<string[]> {
  const listed = new Set(keyring.versions);
  const recorded = (await checks.find({}).toArray()).filter((doc) => doc._id.startsWith('hmac:'));
  const warnings: string[] = [];
  if (recorded.length === 0) {
    for (const version of await identifiers.distinct('keyVersion')) {
      if (typeof version === 'string' && !listed.has(version)) warnings.push(unlistedWarning(version));
    }
    return warnings;
  }
  const listedRecords = recorded.filter((doc) => listed.has(doc._id.slice('hmac:'.length)) && doc.recordedAt instanceof Date);
  const newest = listedRecords.reduce<KeyCheckDoc | null>((found, doc) => (found === null || doc.recordedAt > found.recordedAt ? doc : found), null);
  for (const doc of recorded) {
    const version = doc._id.slice('hmac:'.length);
    if (listed.has(version)) continue;
    if (!(await identifiers.findOne({ _id: { $gte: `${version}:`, $lt: `${version};` } }, { projection: { _id: 1 } }))) continue;
    if (newest !== null && isNewer(doc, newest)) {
      throw new ConfigError(
        `IDENTITY_HMAC_KEYS: does not list "${version}", which this database took into use after the versions it lists and has identifiers under: they would not be found, and their customers would be registered again; list it after the current version`,
      );
    }
    warnings.push(unlistedWarning(version));
  }
  return warnings;
}

/**
 * Whether `dropped` was taken into use after `listed`. Records a second or less apart may come from one start: those
 * of releases before 2026-12-02 (no `ordered`) dated its versions current first, so their order says nothing (a
 * regression probe: a retirement refused and a rollback passed on such a database); they read as not newer.
 */
function isNewer(dropped: KeyCheckDoc, listed: KeyCheckDoc): boolean {
  if (!(dropped.recordedAt instanceof Date) || dropped.recordedAt <= listed.recordedAt) return false;
  return (dropped.ordered === true && listed.ordered === true) || dropped.recordedAt.getTime() - listed.recordedAt.getTime() > SAME_START_MS;
}

const SAME_START_MS = 1_000;

const unlistedWarning = (version: string): string =>
  `IDENTITY_HMAC_KEYS: does not list "${version}", which this database has identifiers under: their customers are not found, and registering them again makes a second customer (npm run identifiers:retire -- ${version} counts them)`;

async function recordOrCompare(checks: Collection<KeyCheckDoc>, id: string, value: string, mismatch: () => ConfigError, recordedAt: Date): Promise<void> {
  try {
    await checks.insertOne({ _id: id, value, recordedAt, ordered: true });
    return;
  } catch (error) {
    if (!isDuplicateKeyError(error)) throw error;
  }
  const recorded = await checks.findOne({ _id: id });
  if (recorded && recorded.value !== value) throw mismatch();
}
