import { MongoError, type Db } from 'mongodb';
import { ConfigError, ServiceUnavailableError } from '../errors.js';
import type { PiiEnvelope, WrappedDataKey } from '../identity/pii-envelope.js';
import { COLLECTIONS } from '../storage/mongo.js';
import type { CustomerRepository } from './customer-repository.js';

export interface MasterKeyRotationReport {
  /** Customers whose data key was re-wrapped under the current master key. */
  rewrapped: number;
  /** Customers none of whose wrapped copies opens (altered in the store): left under the previous key. */
  unreadable: number;
  /** Customers whose lock another writer held past the wait: left for another run. */
  busy: number;
  /** Copies of erased (or deleted) customers' keys left in `customer_keys` by an interrupted erasure: deleted. */
  leftoversDeleted: number;
  /** Wrapped copies still under the previous key after the run. */
  remaining: number;
  /** Wrapped copies under a master key that is neither the current nor the previous one. */
  foreign: number;
  /** Whether the database now records the current key (remaining and foreign both 0). */
  recorded: boolean;
}

/**
 * Re-wraps every customer's data key from the previous master key (`PII_MASTER_KEY_PREVIOUS`) under the current one
 * (`PII_MASTER_KEY`), both copies (the customer document and `customer_keys`), each customer under its lock, so
 * replicas may keep serving. The data keys themselves do not change: no ciphertext or audit seal is touched. A copy
 * that does not open is replaced by the other copy re-wrapped, when that one opens. Once no copy is left under the
 * previous key or any other, the database's key check records the current one, and the previous key can leave the
 * configuration.
 *
 * Refused (ConfigError) when the database records neither key (a mistyped previous key recorded the new one over
 * the database's, and locked every customer away; a regression probe), and when the current key is not random bytes.
 */
export async function rotateMasterKey(db: Db, repository: CustomerRepository, envelope: PiiEnvelope, pageSize = 200): Promise<MasterKeyRotationReport> {
  const [previous] = envelope.previousKeyIds;
  if (previous === undefined) throw new ConfigError('PII_MASTER_KEY_PREVIOUS: is required: the master key being rotated away from');
  const previousId: string = previous;
  if (envelope.isWeakKey) throw new ConfigError('PII_MASTER_KEY: is not random bytes (it repeats a few values); generate one with: openssl rand -base64 32');
  const checks = db.collection<{ _id: string; value: string; recordedAt: Date; ordered?: boolean }>(COLLECTIONS.keyChecks);
  const record = await checks.findOne({ _id: 'pii-master-key' });
  if (record && record.value !== previousId && record.value !== envelope.masterKeyId) {
    throw new ConfigError("PII_MASTER_KEY_PREVIOUS: is not the key this database's customer data keys were wrapped with (nor is PII_MASTER_KEY)");
  }
  // With no record (a database from before the records, or one whose record was removed), the data keys tell: a
  // previous key that wraps none while others are wrapped under a third key is not this database's.
  if (!record && (await repository.countWrappedUnder(previousId)) === 0 && (await repository.countWrappedUnderOther([previousId, envelope.masterKeyId])) > 0) {
    throw new ConfigError("PII_MASTER_KEY_PREVIOUS: is not the key this database's customer data keys were wrapped with (nor is PII_MASTER_KEY)");
  }
  const report: MasterKeyRotationReport = { rewrapped: 0, unreadable: 0, busy: 0, leftoversDeleted: 0, remaining: 0, foreign: 0, recorded: false };
  // Counted once per customer: the document's copy and the customer_keys copy are looked at in turn (a regression
  // probe counted one customer with both copies damaged twice).
  const unreadable = new Set<string>();
  const busy = new Set<string>();
  for (const where of ['customers', 'customer_keys'] as const) {
    for (let after: string | null = null; ; ) {
      const ids = await repository.listWrappedUnder(previousId, where, after, pageSize);
      if (ids.length === 0) break;
      after = ids[ids.length - 1] as string;
      for (const id of ids) {
        try {
          await repository.withCustomerLock(id, () => rewrapOne(id));
        } catch (error) {
          if (error instanceof MongoError) throw error;
          if (error instanceof ServiceUnavailableError) busy.add(id);
          else unreadable.add(id);
        }
      }
    }
  }
  report.unreadable = unreadable.size;
  report.busy = busy.size;
  report.remaining = await repository.countWrappedUnder(previousId);
  report.foreign = await repository.countWrappedUnderOther([previousId, envelope.masterKeyId]);
  if (report.remaining === 0 && report.foreign === 0) {
    await checks.updateOne({ _id: 'pii-master-key' }, { $set: { value: envelope.masterKeyId, recordedAt: new Date(), ordered: true } }, { upsert: true });
    report.recorded = true;
  }
  return report;

  async function rewrapOne(id: string): Promise<void> {
    const { status, copies } = await repository.findWrappedKeyCopies(id);
    if (status !== 'ACTIVE') {
      report.leftoversDeleted += await repository.deleteLeftoverKeyCopy(id);
      return;
    }
    // The first copy that opens, under the current key (a copy already re-wrapped by a run stopped half-way serves as
    // it is), for every copy still under the previous key: a copy altered in the store is replaced by the other.
    let current: WrappedDataKey | null = null;
    for (const copy of copies) {
      try {
        current = envelope.rewrapDataKey(id, copy) ?? (envelope.unwrapDataKey(id, copy).fill(0), copy);
        break;
      } catch {
        // Try the other copy.
      }
    }
    if (current === null) throw new Error('no copy of the data key opens');
    if ((await repository.replaceWrappedKeyLocked(id, previousId, current)) > 0) report.rewrapped += 1;
  }
}
