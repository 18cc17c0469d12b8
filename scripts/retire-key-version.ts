/**
 * Step 3 of rotating the identity HMAC key (README "Rotating the HMAC key across replicas"): reports how many
 * identifier records are filed under an old key version and how many have been re-keyed, and with --delete
 * removes the re-keyed ones. Run it once every replica has the new version as current.
 *   npm run identifiers:retire -- v1            report
 *   npm run identifiers:retire -- v1 --delete   delete the v1 records that a record under another version supersedes
 * Reads MONGODB_URL and MONGODB_DB (and IDENTITY_HMAC_KEYS, when set, to refuse the current version).
 */
import { ConfigError } from '../src/errors.js';
import { CustomerRepository } from '../src/customers/customer-repository.js';
import { HmacKeyring } from '../src/identity/hmac-keyring.js';
import { COLLECTIONS } from '../src/storage/mongo.js';
import type { Db } from 'mongodb';
import { failsAs, withDatabase } from './maintenance-command.js';

const USAGE = `usage: npm run identifiers:retire -- <key version> [--delete]
       npm run identifiers:retire -- [--delete] -- <key version that starts with ->

Step 3 of an HMAC key rotation (README "Rotating the HMAC key across replicas"): reports how many identifier
records are filed under <key version> and how many of them have been re-keyed under another version; --delete
removes the re-keyed ones. Run it once every replica has the new version as current.
Environment: MONGODB_URL (required), MONGODB_DB (default veil), IDENTITY_HMAC_KEYS (optional: refuses the current
version). Refuses a version the database has no record of, or the only one it has, and a database that holds no
identifiers and no key checks. Exit codes: 0 done, 2 usage or such a version, 78 configuration, 1 MongoDB unreachable.`;

const fail = failsAs('identifiers:retire');

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  // After `--`, everything is a version label (IDENTITY_HMAC_KEYS allows one that starts with `-`).
  const end = argv.indexOf('--');
  const options = end === -1 ? argv : argv.slice(0, end);
  const unknown = options.filter((arg) => arg.startsWith('-') && arg !== '--delete');
  const positional = [...options.filter((arg) => !arg.startsWith('-')), ...(end === -1 ? [] : argv.slice(end + 1))];
  if (unknown.length > 0 || positional.length !== 1 || !/^[A-Za-z0-9_-]{1,16}$/.test(positional[0] as string)) {
    console.error(unknown.length > 0 ? `identifiers:retire: unknown option ${JSON.stringify(unknown[0]).slice(0, 40)}\n\n${USAGE}` : USAGE);
    return 2;
  }
  const version = positional[0] as string;
  const remove = options.includes('--delete');
  const keys = process.env['IDENTITY_HMAC_KEYS']?.trim();
  const problems: string[] = [];
  if (keys) {
    let keyring: HmacKeyring | null = null;
    try {
      keyring = HmacKeyring.parse(keys);
    } catch (error) {
      problems.push(error instanceof ConfigError ? error.message : 'IDENTITY_HMAC_KEYS: cannot be read');
    }
    if (keyring?.currentVersion === version) {
      return fail(2, `${version} is the current version in IDENTITY_HMAC_KEYS; make another one current on every replica first`);
    }
  }
  return withDatabase('identifiers:retire', async (db) => {
    // What the database has on record, before anything is counted or deleted: a database name that holds no Veil data
    // (MONGODB_DB forgotten) or a mistyped version gave `0 identifier records` and "can leave IDENTITY_HMAC_KEYS",
    // which would leave every customer filed under the real version unfindable (a probe).
    const onRecord = await keyVersionsOnRecord(db);
    if (onRecord.length === 0) {
      return fail(78, `MONGODB_DB: database "${db.databaseName}" holds no identifiers and no key checks: is it this deployment's database?`);
    }
    if (!onRecord.includes(version)) {
      return fail(2, `${version}: this database has no record of that key version (on record: ${onRecord.join(', ')})`);
    }
    if (onRecord.length === 1) {
      return fail(2, `${version} is the only key version on record: make a new version current on every replica first (README "Rotating the HMAC key across replicas")`);
    }
    const result = await new CustomerRepository(db).retireKeyVersion(version, remove);
    const left = result.records - result.removed;
    console.log(`${version}: ${result.records} identifier records, ${result.superseded} re-keyed under another version${remove ? `, ${result.removed} deleted` : ' (--delete removes them)'}`);
    if (result.records - result.superseded > 0) {
      console.log(`${result.records - result.superseded} not re-keyed: their customers have not been looked up since the rotation, and cannot be found once ${version} leaves IDENTITY_HMAC_KEYS`);
    }
    if (remove && left === 0) console.log(`no ${version} record is left: ${version} can leave IDENTITY_HMAC_KEYS`);
    return 0;
  }, problems);
}

/** The HMAC key versions a database knows: those its starts recorded a check for, and those identifiers are filed under. */
async function keyVersionsOnRecord(db: Db): Promise<string[]> {
  const checked = await db
    .collection<{ _id: string }>(COLLECTIONS.keyChecks)
    .find({}, { projection: { _id: 1 } })
    .toArray();
  const filed = await db.collection(COLLECTIONS.identifiers).distinct('keyVersion');
  const versions = new Set([...checked.map((doc) => doc._id).filter((id) => id.startsWith('hmac:')).map((id) => id.slice('hmac:'.length)), ...filed.filter((v): v is string => typeof v === 'string')]);
  return [...versions].sort();
}

process.exitCode = await main(process.argv.slice(2));
