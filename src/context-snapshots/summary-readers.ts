import type { Channel, InteractionSummary, SubscriptionSummary, TicketSummary, TransactionSummary } from './snapshot-types.js';

/**
 * How one reader takes the fields of a stored summary: stored support records (MongoDB, BSON dates, read leniently)
 * and cached snapshots (Redis, JSON, read strictly: a field that does not read makes the snapshot a miss) each bring
 * their own; which fields make up each summary is said once, here.
 */
export interface FieldReaders {
  text(value: unknown): string;
  textOrNull(value: unknown): string | null;
  date(value: unknown): Date;
  dateOrNull(value: unknown): Date | null;
  integer(value: unknown): number;
  channel(value: unknown): Channel;
}

type Fields = Readonly<Record<string, unknown>>;

export const readTicket = (r: FieldReaders, d: Fields): TicketSummary => ({
  id: r.text(d['id']),
  status: r.text(d['status']),
  subject: r.textOrNull(d['subject']),
  openedAt: r.date(d['openedAt']),
  updatedAt: r.dateOrNull(d['updatedAt']),
});

export const readSubscription = (r: FieldReaders, d: Fields): SubscriptionSummary => ({
  id: r.text(d['id']),
  plan: r.text(d['plan']),
  status: r.text(d['status']),
  startedAt: r.date(d['startedAt']),
  renewsAt: r.dateOrNull(d['renewsAt']),
});

export const readTransaction = (r: FieldReaders, d: Fields): TransactionSummary => ({
  id: r.text(d['id']),
  status: r.text(d['status']),
  amountMinor: r.integer(d['amountMinor']),
  currency: r.text(d['currency']),
  occurredAt: r.date(d['occurredAt']),
  description: r.textOrNull(d['description']),
});

export const readInteraction = (r: FieldReaders, d: Fields): InteractionSummary => ({
  id: r.text(d['id']),
  channel: r.channel(d['channel']),
  occurredAt: r.date(d['occurredAt']),
  summary: r.textOrNull(d['summary']),
  outcome: r.textOrNull(d['outcome']),
});
