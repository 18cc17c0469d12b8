import type {
  Channel,
  InteractionSummary,
  SubscriptionSummary,
  TicketSummary,
  TransactionSummary,
} from '../context-snapshots/snapshot-types.js';

type Loose<T, K extends keyof T> = Omit<T, K> & { [P in K]?: T[P] | undefined };

export type TicketInput = Loose<TicketSummary, 'subject' | 'updatedAt'>;
export type SubscriptionInput = Loose<SubscriptionSummary, 'renewsAt'>;
export type TransactionInput = Loose<TransactionSummary, 'description'>;
export type InteractionInput = Loose<InteractionSummary, 'summary' | 'outcome'>;

/** What a CRM or channel integration pushes in one call (shape checked by GraphQL; content checked by the service). */
export interface SupportActivityInput {
  customerId: string;
  tickets?: readonly TicketInput[] | null;
  subscriptions?: readonly SubscriptionInput[] | null;
  transactions?: readonly TransactionInput[] | null;
  interactions?: readonly InteractionInput[] | null;
  deviceFingerprint?: string | null;
}

/** One stored version of one record. A later push of the same record id is a new version; the latest wins. */
export type SupportRecordVersion =
  | { kind: 'ticket'; recordId: string; receivedAt: Date; order: string; data: TicketSummary }
  | { kind: 'subscription'; recordId: string; receivedAt: Date; order: string; data: SubscriptionSummary }
  | { kind: 'transaction'; recordId: string; receivedAt: Date; order: string; data: TransactionSummary }
  | { kind: 'interaction'; recordId: string; receivedAt: Date; order: string; data: InteractionSummary }
  | { kind: 'device'; recordId: string; receivedAt: Date; order: string; data: { fingerprint: string } };

export type SupportRecordKind = SupportRecordVersion['kind'];

/** A validated push, ready to be stored. */
export interface SupportActivity {
  customerId: string;
  tickets: TicketSummary[];
  subscriptions: SubscriptionSummary[];
  transactions: TransactionSummary[];
  interactions: InteractionSummary[];
  deviceFingerprint: string | null;
}

/** Everything held about one customer's support history (data-subject access export). */
export interface SupportRecordsExport {
  tickets: TicketSummary[];
  subscriptions: SubscriptionSummary[];
  transactions: TransactionSummary[];
  interactions: InteractionSummary[];
  deviceFingerprints: string[];
}

export type { Channel };
