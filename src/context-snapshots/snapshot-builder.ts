import type { SupportRecordsExport, SupportRecordVersion } from '../support-records/support-record-types.js';
import type { ContextSnapshot, InteractionSummary, SubscriptionSummary, TicketSummary, TransactionSummary } from './snapshot-types.js';

/** A ticket in one of these states is done (in the words of common helpdesks); every other status counts as open. */
export const CLOSED_TICKET_STATUSES: ReadonlySet<string> = new Set(['closed', 'resolved', 'solved', 'done', 'completed', 'cancelled', 'canceled']);
/** A subscription in one of these states is over; every other status counts as active. */
export const ENDED_SUBSCRIPTION_STATUSES: ReadonlySet<string> = new Set(['cancelled', 'canceled', 'expired', 'ended', 'terminated', 'inactive']);

export interface SnapshotOptions {
  ttlSeconds: number;
  /** How many of each section the snapshot keeps (the most recent ones). */
  recentItems: number;
}

/** The latest version of each record, by kind. `versions` must be oldest first. */
export function findLatestRecords(versions: readonly SupportRecordVersion[]): {
  tickets: TicketSummary[];
  subscriptions: SubscriptionSummary[];
  transactions: TransactionSummary[];
  interactions: InteractionSummary[];
  deviceFingerprints: string[];
} {
  const tickets = new Map<string, TicketSummary>();
  const subscriptions = new Map<string, SubscriptionSummary>();
  const transactions = new Map<string, TransactionSummary>();
  const interactions = new Map<string, InteractionSummary>();
  const devices = new Map<string, string>();
  for (const version of versions) {
    // Deleting first moves a re-pushed record to the end, so map order is "last received".
    switch (version.kind) {
      case 'ticket':
        tickets.delete(version.recordId);
        tickets.set(version.recordId, version.data);
        break;
      case 'subscription':
        subscriptions.delete(version.recordId);
        subscriptions.set(version.recordId, version.data);
        break;
      case 'transaction':
        transactions.delete(version.recordId);
        transactions.set(version.recordId, version.data);
        break;
      case 'interaction':
        interactions.delete(version.recordId);
        interactions.set(version.recordId, version.data);
        break;
      case 'device':
        devices.delete(version.recordId);
        devices.set(version.recordId, version.data.fingerprint);
        break;
    }
  }
  return {
    tickets: [...tickets.values()],
    subscriptions: [...subscriptions.values()],
    transactions: [...transactions.values()],
    interactions: [...interactions.values()],
    deviceFingerprints: [...devices.values()],
  };
}

/** The snapshot of one customer: contract fields only, the most recent `recentItems` of each section. */
export function buildSnapshot(customerId: string, versions: readonly SupportRecordVersion[], options: SnapshotOptions, now: Date = new Date()): ContextSnapshot {
  const latest = findLatestRecords(versions);
  const n = options.recentItems;
  // Newest first; among records of the same time, the one received last first (the lists are in "last received"
  // order, and the sort is stable): a CRM that sends dates only had the record it pushed last cut off behind five of
  // the same day, and `channel` showed the oldest interaction of that day (a probe).
  const takeNewest = <T>(items: T[], at: (item: T) => Date): T[] => [...items].reverse().sort((a, b) => at(b).getTime() - at(a).getTime()).slice(0, n);
  const lastInteractions = takeNewest(latest.interactions, (x) => x.occurredAt);
  return {
    customerId,
    generatedAt: now,
    expiresAt: new Date(now.getTime() + options.ttlSeconds * 1000),
    channel: lastInteractions[0]?.channel ?? null,
    openTickets: takeNewest(latest.tickets.filter((t) => !CLOSED_TICKET_STATUSES.has(t.status)), (t) => t.updatedAt ?? t.openedAt),
    activeSubscriptions: takeNewest(latest.subscriptions.filter((s) => !ENDED_SUBSCRIPTION_STATUSES.has(s.status)), (s) => s.startedAt),
    recentTransactions: takeNewest(latest.transactions, (t) => t.occurredAt),
    lastInteractions,
    // The fingerprint pushed last is the device in use now.
    deviceFingerprint: latest.deviceFingerprints.at(-1) ?? null,
  };
}

/**
 * Everything held, for a data-subject access export: every stored version of
 * every record in the order received (a re-pushed ticket appears once per
 * push, because each push is kept), and each distinct fingerprint once.
 */
export function exportRecords(versions: readonly SupportRecordVersion[]): SupportRecordsExport {
  const held: SupportRecordsExport = { tickets: [], subscriptions: [], transactions: [], interactions: [], deviceFingerprints: [] };
  const fingerprints = new Set<string>();
  for (const version of versions) {
    switch (version.kind) {
      case 'ticket':
        held.tickets.push(version.data);
        break;
      case 'subscription':
        held.subscriptions.push(version.data);
        break;
      case 'transaction':
        held.transactions.push(version.data);
        break;
      case 'interaction':
        held.interactions.push(version.data);
        break;
      case 'device':
        fingerprints.add(version.data.fingerprint);
        break;
    }
  }
  held.deviceFingerprints = [...fingerprints];
  return held;
}
