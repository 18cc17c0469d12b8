import { MongoError, type Db } from 'mongodb';
import { ConfigError, ServiceUnavailableError } from '../errors.js';
import type { PiiEnvelope } from '../identity/pii-envelope.js';
import { COLLECTIONS } from '../storage/mongo.js';
import type { CustomerRepository } from './customer-repository.js';

export interface MasterKeyRotationReport {
  /** Customers whose data key was re-wrapped under the current master key. */
  rewrapped: number;
  /** Customers whose wrapped key did not open (altered in the store): left under the previous key. */
  unreadable: number;
  /** Customers whose lock another writer held past the wait: left for another run. */
  busy: number;
  /** Wrapped copies still under the previous key after the run (0: the previous key can go). */
  remaining: number;
}

/**
 * Re-wraps every customer's data key from the previous master key (`PII_MASTER_KEY_PREVIOUS`) under the current one
 * (`PII_MASTER_KEY`), both copies (the customer document and `customer_keys`), each customer under its lock, so
 * replicas may keep serving. The data keys themselves do not change: no ciphertext or audit seal is touched. Once no
 * copy is left under the previous key, the database's key check records the current one, and the previous key can
 * leave the configuration.
 */
export async function rotateMasterKey(db: Db, repository: CustomerRepository, envelope: PiiEnvelope, pageSize = 200): Promise<MasterKeyRotationReport> {
  const [previousId] = envelope.previousKeyIds;
  if (previousId === undefined) throw new ConfigError('PII_MASTER_KEY_PREVIOUS: is required: the master key being rotated away from');
  const report: MasterKeyRotationReport = { rewrapped: 0, unreadable: 0, busy: 0, remaining: 0 };
  for (const where of ['customers', 'customer_keys'] as const) {
    for (let after: string | null = null; ; ) {
      const ids = await repository.listWrappedUnder(previousId, where, after, pageSize);
      if (ids.length === 0) break;
      after = ids[ids.length - 1] as string;
      for (const id of ids) {
        try {
          await repository.withCustomerLock(id, async () => {
            const [wrapped] = await repository.findWrappedKeys([id]);
            if (!wrapped) return;
            // The document's copy may be re-wrapped already (a run stopped half-way): its copy in customer_keys gets it.
            const current = envelope.rewrapDataKey(id, wrapped) ?? wrapped;
            if ((await repository.replaceWrappedKeyLocked(id, previousId, current)) > 0) report.rewrapped += 1;
          });
        } catch (error) {
          if (error instanceof MongoError) throw error;
          if (error instanceof ServiceUnavailableError) report.busy += 1;
          else report.unreadable += 1;
        }
      }
    }
  }
  report.remaining = await repository.countWrappedUnder(previousId);
  if (report.remaining === 0) {
    await db
      .collection<{ _id: string; value: string; recordedAt: Date; ordered?: boolean }>(COLLECTIONS.keyChecks)
      .updateOne({ _id: 'pii-master-key' }, { $set: { value: envelope.masterKeyId, recordedAt: new Date(), ordered: true } }, { upsert: true });
  }
  return report;
}
