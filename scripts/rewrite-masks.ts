/**
 * Rewrites the stored masks of every active customer under the mask rules of this release (README "Masks written
 * before a release"). Masks are fixed when an attribute is written, so a release that corrects a rule leaves those
 * stored before it until this runs.
 *   npm run masks:rewrite -- --dry-run   report how many masks differ
 *   npm run masks:rewrite                rewrite them
 * Reads MONGODB_URL, MONGODB_DB, PII_MASTER_KEY and IDENTITY_HMAC_KEYS.
 */
import { CustomerRepository } from '../src/customers/customer-repository.js';
import { rewriteStoredMasks } from '../src/customers/masked-attributes.js';
import { collectProblem } from '../src/errors.js';
import { HmacKeyring } from '../src/identity/hmac-keyring.js';
import { checkHmacKeysAgainstStore } from '../src/identity/key-checks.js';
import { PiiEnvelope } from '../src/identity/pii-envelope.js';
import { failsAs, withDatabase } from './maintenance-command.js';

const USAGE = `usage: npm run masks:rewrite -- [--dry-run]

Recomputes the masked display name, email and phone of every active customer from the encrypted values, and
rewrites the masks stored under an earlier release's rules (--dry-run only counts them). Decrypts in this process
only and prints counts only. Safe while replicas serve: each customer is updated under its lock. A display name
whose new mask would show an identifier the customer holds keeps its old mask.
Environment: MONGODB_URL (required), MONGODB_DB (default veil), PII_MASTER_KEY (required), PII_MASTER_KEY_PREVIOUS
(during a master key rotation), IDENTITY_HMAC_KEYS (required: the identifiers a new mask is compared with are
held as hashes).
Exit codes: 0 done, 2 usage, 78 configuration (a PII_MASTER_KEY that is not this database's included),
1 MongoDB unreachable or failing.`;

const fail = failsAs('masks:rewrite');

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const unknown = argv.filter((arg) => arg !== '--dry-run');
  if (unknown.length > 0) {
    console.error(`masks:rewrite: unknown argument ${JSON.stringify(unknown[0]).slice(0, 40)}\n\n${USAGE}`);
    return 2;
  }
  const dryRun = argv.includes('--dry-run');
  const masterKey = process.env['PII_MASTER_KEY'];
  // During a master key rotation, data keys still under the previous key open with it.
  const previous = process.env['PII_MASTER_KEY_PREVIOUS']?.trim() || null;
  const problems = masterKey?.trim()
    ? PiiEnvelope.problemsWith(masterKey, previous)
    : ['PII_MASTER_KEY: is required (npm start keeps the dev key in .data/dev-keys.json)', ...PiiEnvelope.problemsWith(null, previous)];
  const envelope = problems.length === 0 ? PiiEnvelope.fromBase64(masterKey as string, previous) : null;
  const keys = process.env['IDENTITY_HMAC_KEYS']?.trim();
  let keyring = null as HmacKeyring | null;
  if (!keys) problems.push('IDENTITY_HMAC_KEYS: is required (a new mask is compared with the identifiers the customer holds, stored as hashes)');
  else collectProblem(problems, () => (keyring = HmacKeyring.parse(keys)));
  return withDatabase('masks:rewrite', async (db) => {
    await checkHmacKeysAgainstStore(db, keyring as HmacKeyring);
    const report = await rewriteStoredMasks(new CustomerRepository(db), envelope as PiiEnvelope, keyring as HmacKeyring, { dryRun });
    const fields = Object.entries(report.fields)
      .map(([field, count]) => `${field} ${count}`)
      .join(', ');
    console.log(
      `${report.customers} active customers read; ${report.customersChanged} had masks of an earlier rule (${fields})${dryRun ? ': nothing written (--dry-run)' : ': rewritten'}`,
    );
    if (report.unreadable > 0) console.log(`${report.unreadable} customers did not decrypt or are damaged documents (altered or moved ciphertexts) and were left as they are`);
    if (report.busy > 0) console.log(`${report.busy} customers were being changed by another writer and were left: run it again`);
    if (report.kept > 0) console.log(`${report.kept} display names kept their old mask: the new one would show an identifier the customer holds (an email with the masked email, a phone number's digits, or a CRM id or email linked since)`);
    return 0;
  }, problems);
}

process.exitCode = await main(process.argv.slice(2));
