import type { SupportRecordRepository } from '../support-records/support-record-repository.js';
import { buildSnapshot, type SnapshotOptions } from './snapshot-builder.js';
import type { SnapshotCache } from './snapshot-cache.js';
import type { ContextSnapshot } from './snapshot-types.js';
import { guardMongo, guardRedis, type StoreErrorReporter } from './store-guard.js';

/**
 * Context snapshots for batches of customers: one Redis MGET for the whole
 * batch; the misses rebuilt from support records with one MongoDB `$in` find
 * and written back with one Redis pipeline. Snapshots are never written to a
 * permanent store.
 */
export class ContextSnapshotService {
  constructor(
    private readonly cache: SnapshotCache,
    private readonly records: SupportRecordRepository,
    private readonly options: SnapshotOptions,
    private readonly reportStoreError: StoreErrorReporter,
  ) {}

  /**
   * Snapshots in key order. Redis down: SERVICE_UNAVAILABLE for the whole batch (no silent fallback that would hide the outage).
   * `historyConsent` says, for the misses, whether the support history may be kept (`support_context` consent) and
   * until when: false for no, null for no end, or the receipt's expiry. The others get a snapshot without the four
   * history sections, so no history of a person who withdrew consent is copied into Redis at all, and a snapshot
   * never outlives the consent it was built under.
   */
  async snapshotsOf(customerIds: readonly string[], historyConsent: (ids: string[]) => Promise<Array<false | Date | null>>): Promise<ContextSnapshot[]> {
    const cached = await guardRedis(() => this.cache.readMany(customerIds), this.reportStoreError);
    // A cached snapshot built under another consent than the customer's now is rebuilt: one built without history
    // while the customer has consented since (the purge after the consent change failed, or raced a rebuild: a probe's
    // customer consented while Redis refused writes, and the history read as empty, without CONSENT_REQUIRED, for the
    // whole TTL), or one holding history the customer has withdrawn since (it is never served, but stays in Redis).
    const misses = customerIds.flatMap((id, i) => (cached.snapshots[i] ? [] : [i]));
    const flagged = customerIds.flatMap((id, i) => (cached.snapshots[i]?.history === undefined ? [] : [i]));
    if (misses.length === 0 && flagged.length === 0) return cached.snapshots as ContextSnapshot[];
    // One consent read for the misses and the flagged hits together (read in turn, a request mixing them made two
    // `consents` finds), beside the support records of the misses.
    const asking = [...misses, ...flagged];
    const idsOf = (indexes: readonly number[]) => indexes.map((i) => customerIds[i] as string);
    const [missVersions, consent] = await guardMongo(
      () => Promise.all([misses.length > 0 ? this.records.findByCustomerIds(idsOf(misses)) : [], historyConsent(idsOf(asking))]),
      this.reportStoreError,
    );
    const consentAt = new Map(asking.map((index, j) => [index, consent[j] === undefined ? false : consent[j]] as const));
    const outdated = flagged.filter((index) => cached.snapshots[index]?.history !== (consentAt.get(index) !== false));
    // A snapshot built under another consent is rare (a failed or raced purge): its records are read then.
    const outdatedVersions = outdated.length > 0 ? await guardMongo(() => this.records.findByCustomerIds(idsOf(outdated)), this.reportStoreError) : [];
    const missing = [...misses, ...outdated];
    if (missing.length === 0) return cached.snapshots as ContextSnapshot[];
    const versions = [...missVersions, ...outdatedVersions];
    const now = new Date();
    const result = [...cached.snapshots];
    const entries = missing.map((index, j) => {
      const built = buildSnapshot(customerIds[index] as string, versions[j] ?? [], this.options, now);
      // null is consent without an end, not its absence.
      const until = consentAt.has(index) ? (consentAt.get(index) as Date | null | false) : false;
      // With consent ending before the snapshot would, the snapshot ends with it (its Redis TTL too).
      const kept = until === false ? withoutHistory(built) : until !== null && until < built.expiresAt ? { ...built, expiresAt: until } : built;
      const snapshot = { ...kept, history: until !== false };
      result[index] = snapshot;
      return { snapshot, epoch: cached.epochs[index] ?? '' };
    });
    try {
      await this.cache.writeMany(entries);
    } catch (error) {
      // The read already succeeded and the snapshots are fresh: serve them; the next read rebuilds again.
      this.reportStoreError('redis', error);
    }
    return result as ContextSnapshot[];
  }

  /** New support activity or a consent change: the next read rebuilds. */
  invalidate(customerId: string): Promise<number> {
    return this.cache.invalidate(customerId);
  }

  purgeCustomer(customerId: string): Promise<number> {
    return this.cache.purgeCustomer(customerId);
  }
}

function withoutHistory(snapshot: ContextSnapshot): ContextSnapshot {
  return { ...snapshot, openTickets: [], activeSubscriptions: [], recentTransactions: [], lastInteractions: [] };
}
