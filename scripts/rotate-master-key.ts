/**
 * Step 2 of rotating PII_MASTER_KEY (README "Rotating the master key"): re-wraps every customer's data key from
 * PII_MASTER_KEY_PREVIOUS under PII_MASTER_KEY, and once none is left under the previous key, records the new one.
 *   npm run master-key:rotate
 * Reads MONGODB_URL, MONGODB_DB, PII_MASTER_KEY and PII_MASTER_KEY_PREVIOUS.
 */
import { CustomerRepository } from '../src/customers/customer-repository.js';
import { rotateMasterKey } from '../src/customers/master-key-rotation.js';
import { PiiEnvelope } from '../src/identity/pii-envelope.js';
import { failsAs, withDatabase } from './maintenance-command.js';

const USAGE = `usage: npm run master-key:rotate

Step 2 of a master key rotation (README "Rotating the master key"): re-wraps every customer's data key from
PII_MASTER_KEY_PREVIOUS under PII_MASTER_KEY, each customer under its lock (replicas may keep serving), and once no
key is left under the previous one, records the new key as the database's. No ciphertext changes. Prints counts only.
Environment: MONGODB_URL (required), MONGODB_DB (default veil), PII_MASTER_KEY and PII_MASTER_KEY_PREVIOUS (required).
Exit codes: 0 done (run it again while it reports keys left), 2 usage, 78 configuration, 1 MongoDB unreachable or failing.`;

const fail = failsAs('master-key:rotate');

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  if (argv.length > 0) {
    console.error(`master-key:rotate: unknown argument ${JSON.stringify(argv[0]).slice(0, 40)}\n\n${USAGE}`);
    return 2;
  }
  const current = process.env['PII_MASTER_KEY'];
  const previous = process.env['PII_MASTER_KEY_PREVIOUS'];
  const problems: string[] = [];
  if (!current?.trim()) problems.push('PII_MASTER_KEY: is required: the new master key');
  if (!previous?.trim()) problems.push('PII_MASTER_KEY_PREVIOUS: is required: the master key being rotated away from');
  // Each key given is checked, whether or not the other is (a probe: a malformed previous key turned up on a second run).
  problems.push(...PiiEnvelope.problemsWith(current?.trim() ? current : null, previous?.trim() ? previous : null));
  const envelope = problems.length === 0 ? PiiEnvelope.fromBase64(current as string, previous as string) : null;
  return withDatabase('master-key:rotate', async (db) => {
    const report = await rotateMasterKey(db, new CustomerRepository(db), envelope as PiiEnvelope);
    console.log(`${report.rewrapped} customers' data keys re-wrapped under the current master key`);
    if (report.unreadable > 0) console.log(`${report.unreadable} did not unwrap under PII_MASTER_KEY_PREVIOUS (altered in the store) and were left`);
    if (report.busy > 0) console.log(`${report.busy} were being changed by another writer and were left: run it again`);
    if (report.leftoversDeleted > 0) console.log(`${report.leftoversDeleted} copies of erased customers' data keys, left by an interrupted erasure, were deleted`);
    if (report.foreign > 0) console.log(`${report.foreign} wrapped data keys are under a master key that is neither PII_MASTER_KEY nor PII_MASTER_KEY_PREVIOUS: the new key is not recorded`);
    if (report.recorded) console.log('no data key is left under another master key: the database now records the new one, and PII_MASTER_KEY_PREVIOUS can leave every replica');
    else if (report.remaining > 0) console.log(`${report.remaining} wrapped data keys are still under the previous master key: keep PII_MASTER_KEY_PREVIOUS, and run it again`);
    return 0;
  }, problems);
}

process.exitCode = await main(process.argv.slice(2));
