export type Channel = 'VOICE' | 'EMAIL' | 'WEBCHAT' | 'WHATSAPP' | 'SMS' | 'SOCIAL' | 'API';
export const CHANNELS: readonly Channel[] = ['VOICE', 'EMAIL', 'WEBCHAT', 'WHATSAPP', 'SMS', 'SOCIAL', 'API'];

export interface TicketSummary {
  id: string;
  status: string;
  subject: string | null;
  openedAt: Date;
  updatedAt: Date | null;
}
export interface SubscriptionSummary {
  id: string;
  plan: string;
  status: string;
  startedAt: Date;
  renewsAt: Date | null;
}
export interface TransactionSummary {
  id: string;
  status: string;
  amountMinor: number;
  currency: string;
  occurredAt: Date;
  description: string | null;
}
export interface InteractionSummary {
  id: string;
  channel: Channel;
  occurredAt: Date;
  summary: string | null;
  outcome: string | null;
}

/** What Redis holds for a customer: built from support records, with a TTL. */
export interface ContextSnapshot {
  customerId: string;
  generatedAt: Date;
  expiresAt: Date;
  channel: Channel | null;
  openTickets: TicketSummary[];
  activeSubscriptions: SubscriptionSummary[];
  recentTransactions: TransactionSummary[];
  lastInteractions: InteractionSummary[];
  deviceFingerprint: string | null;
  /**
   * Whether the four history sections were kept (the customer's support_context consent when it was built); absent
   * on snapshots cached before this was recorded. Never served.
   */
  history?: boolean;
}

/** A snapshot as served: through a customer, or through a support session. */
export interface ContextSnapshotView extends ContextSnapshot {
  sessionId: string | null;
}
