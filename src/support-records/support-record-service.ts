import { exportRecords } from '../context-snapshots/snapshot-builder.js';
import { guardRedis, type StoreErrorReporter } from '../context-snapshots/store-guard.js';
import { assertCustomerId, type CustomerService } from '../customers/customer-service.js';
import { BadUserInputError, ServiceUnavailableError } from '../errors.js';
import type { SupportRecordRepository } from './support-record-repository.js';
import type { SupportActivity, SupportActivityInput, SupportRecordKind, SupportRecordsExport } from './support-record-types.js';
import { validateSupportActivity } from './support-record-validation.js';

/** Drops a customer's cached snapshot so the next read sees the new records. */
export interface SnapshotInvalidator {
  invalidate(customerId: string): Promise<number>;
}

/** Support records pushed by CRM and channel integrations. */
export class SupportRecordService {
  constructor(
    private readonly repository: SupportRecordRepository,
    private readonly customers: CustomerService,
    private readonly snapshots: SnapshotInvalidator,
    private readonly reportStoreError: StoreErrorReporter,
    /** Retention (SUPPORT_RECORDS_KEPT_PER_KIND): at most this many versions of each kind per customer. */
    private readonly keptPerKind: number,
  ) {}

  /**
   * Validates the whole push before storing any of it, inserts it as new
   * documents, then drops the cached snapshot (after the insert, so that a
   * rebuild cannot cache the records from before it).
   */
  async record(input: SupportActivityInput): Promise<true> {
    assertCustomerId(input.customerId);
    const activity = validateSupportActivity(input);
    await this.customers.loadActive(input.customerId);
    await this.refuseOwnIdentifiers([input]);
    await this.repository.insertActivities([activity]);
    try {
      await this.customers.confirmStillActive(input.customerId, () => this.repository.purgeCustomer(input.customerId));
      // Bounded history: a snapshot rebuild reads every record the customer has (a probe's 60,000 took 6 s and 800 MB).
      await this.repository.pruneCustomer(input.customerId, kindsIn(activity), this.keptPerKind);
    } catch (error) {
      // Stored, and the call fails (MongoDB went away after the insert): the cached context must not hide the push for
      // its TTL, as it did when this failed before the invalidation below (a probe read the code).
      await guardRedis(() => this.snapshots.invalidate(input.customerId), this.reportStoreError).catch(() => undefined);
      throw error;
    }
    await guardRedis(() => this.snapshots.invalidate(input.customerId), this.reportStoreError).catch((error: unknown) => {
      if (!(error instanceof ServiceUnavailableError)) throw error;
      // Stored but not yet visible: say so. Pushing the same records again is harmless (the latest version of each id wins).
      throw new ServiceUnavailableError(
        'redis',
        'The support activity was stored, but the cached context could not be refreshed; it may be stale until it expires. Retrying is safe.',
      );
    });
    return true;
  }

  /**
   * Bulk import (demo seed, back-fills): validates every push first, checks the
   * customers with one query, stores everything with one insert command and drops
   * the customers' cached snapshots. Returns how many documents were written.
   */
  async importMany(inputs: readonly SupportActivityInput[]): Promise<number> {
    for (const input of inputs) assertCustomerId(input.customerId);
    const activities = inputs.map((input) => validateSupportActivity(input));
    await this.refuseOwnIdentifiers(inputs);
    const customerIds = [...new Set(activities.map((a) => a.customerId))];
    const customers = await this.customers.findByIds(customerIds);
    if (customers.some((c) => c === null || c.status !== 'ACTIVE')) {
      throw new BadUserInputError('Every customer of a bulk import must exist and not be erased', { field: 'customerId' });
    }
    const written = await this.repository.insertActivities(activities);
    await guardRedis(() => Promise.all(customerIds.map((id) => this.snapshots.invalidate(id))), this.reportStoreError);
    return written;
  }

  /**
   * The contract keeps raw identifiers out of summaries; emails and phone numbers are refused by shape when the push
   * is validated, and a customer's own CRM ids are found by hash here (a probe stored `ref CRM-000001`, the
   * customer's CRM id, as a ticket subject, and it was shown in context and the export).
   */
  private refuseOwnIdentifiers(activities: readonly SupportActivityInput[]): Promise<void> {
    return this.customers.refuseOwnIdentifiers(activities.map((activity, i) => ({ customerId: activity.customerId, texts: textsOf(activity, activities.length > 1 ? `[${i}].` : '') })));
  }

  /** Everything held about one customer's support history, for a data-subject access export. */
  async exportFor(customerId: string): Promise<SupportRecordsExport> {
    const [versions] = await this.repository.findByCustomerIds([customerId]);
    return exportRecords(versions ?? []);
  }

  purgeCustomer(customerId: string): Promise<number> {
    return this.repository.purgeCustomer(customerId);
  }
}

function kindsIn(activity: SupportActivity): SupportRecordKind[] {
  const kinds: SupportRecordKind[] = [];
  if (activity.tickets.length > 0) kinds.push('ticket');
  if (activity.subscriptions.length > 0) kinds.push('subscription');
  if (activity.transactions.length > 0) kinds.push('transaction');
  if (activity.interactions.length > 0) kinds.push('interaction');
  if (activity.deviceFingerprint) kinds.push('device');
  return kinds;
}

/**
 * Every text of a push, as the caller sent it (before statuses are lower-cased), with the input path it came from
 * (`tickets[0].subject`); dates, amounts and currency codes are values from a fixed form, not screened.
 */
function textsOf(activity: SupportActivityInput, prefix: string): Array<readonly [string, string]> {
  const texts: Array<readonly [string, string]> = [];
  for (const section of ['tickets', 'subscriptions', 'transactions', 'interactions'] as const) {
    (activity[section] ?? []).forEach((record, i) => {
      for (const [field, value] of Object.entries(record)) {
        if (typeof value === 'string' && !UNSCREENED_FIELD.test(field)) texts.push([`${prefix}${section}[${i}].${field}`, value]);
      }
    });
  }
  if (activity.deviceFingerprint) texts.push([`${prefix}deviceFingerprint`, activity.deviceFingerprint]);
  return texts;
}

const UNSCREENED_FIELD = /At$|^currency$|^amount/;
