/**
 * Step 3 of rotating the identity HMAC key (README "Rotating the HMAC key across replicas"): reports how many
 * identifier records are filed under an old key version and how many have been re-keyed, and with --delete
 * removes the re-keyed ones. Run it once every replica has the new version as current.
 *   npm run identifiers:retire -- v1            report
 *   npm run identifiers:retire -- v1 --delete   delete the v1 records that a record under another version supersedes
 * Reads MONGODB_URL and MONGODB_DB (and IDENTITY_HMAC_KEYS, when set, to refuse the current version).
 */
import { loadConfig } from '../src/config.js';
import { CustomerRepository } from '../src/customers/customer-repository.js';
import { HmacKeyring } from '../src/identity/hmac-keyring.js';
import { connectMongo } from '../src/storage/mongo.js';

async function main(argv: readonly string[]): Promise<number> {
  const version = argv.find((arg) => !arg.startsWith('--'));
  const remove = argv.includes('--delete');
  if (!version || !/^[A-Za-z0-9_-]{1,16}$/.test(version)) {
    console.error('usage: npm run identifiers:retire -- <key version> [--delete]');
    return 2;
  }
  const config = loadConfig(process.env);
  if (!config.mongodbUrl) {
    console.error('MONGODB_URL is required (npm start prints the dev server\'s URL)');
    return 2;
  }
  if (config.identityHmacKeys && HmacKeyring.parse(config.identityHmacKeys).currentVersion === version) {
    console.error(`${version} is the current version in IDENTITY_HMAC_KEYS; make another one current on every replica first`);
    return 2;
  }
  const mongo = await connectMongo(config.mongodbUrl, config.mongodbDb);
  try {
    const result = await new CustomerRepository(mongo.db).retireKeyVersion(version, remove);
    const left = result.records - result.removed;
    console.log(`${version}: ${result.records} identifier records, ${result.superseded} re-keyed under another version${remove ? `, ${result.removed} deleted` : ' (--delete removes them)'}`);
    if (result.records - result.superseded > 0) {
      console.log(`${result.records - result.superseded} not re-keyed: their customers have not been looked up since the rotation, and cannot be found once ${version} leaves IDENTITY_HMAC_KEYS`);
    }
    if (remove && left === 0) console.log(`no ${version} record is left: ${version} can leave IDENTITY_HMAC_KEYS`);
    return 0;
  } finally {
    await mongo.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
