import { CHANNELS, type InteractionSummary, type SubscriptionSummary, type TicketSummary, type TransactionSummary } from '../context-snapshots/snapshot-types.js';
import { BadUserInputError } from '../errors.js';
import { assertFreeText, containsIdentifier, isPhoneUri, isSafeReference, ISO_CURRENCIES } from '../identity/free-text-guard.js';
import type { InteractionInput, SubscriptionInput, SupportActivity, SupportActivityInput, TicketInput, TransactionInput } from './support-record-types.js';

export const SUPPORT_LIMITS = {
  recordsPerSection: 100,
  recordIdLength: 64,
  statusLength: 32,
  subjectLength: 200,
  planLength: 64,
  descriptionLength: 200,
  summaryLength: 500,
  outcomeLength: 64,
  /** 10 million in the major unit of a two-decimal currency; GraphQL Int stops at 2^31 - 1 anyway. */
  maxAbsAmountMinor: 1_000_000_000,
  fingerprintMinLength: 8,
  fingerprintMaxLength: 128,
} as const;

// Record ids are the CRM's own references. No '@', '+' or whitespace: an email address or an
// E.164 number cannot be used verbatim as an id, nor can a phone number's URI (isPhoneUri).
const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const STATUS = /^[a-z][a-z0-9_-]*$/;
/**
 * `20241130`, `2024_11_30`, `20241130t1430z` in a (lower-cased) status: a date, and an ISO time of day run into it.
 * What follows it is read on its own (`closed-20241130-1430`, `paused-20241201-20241231`, `closed-20241130-1`): a
 * version that refused more digits after a date refused such statuses (a regression probe), and still let a number
 * that reads as a date and a time through (+20 10 1230 2345 as `callback-20101230-2345`).
 */
const COMPACT_DATE = /(?<!\d)(?:19|20)\d\d([-_]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])(?:t(?:[01]\d|2[0-3])[0-5]\d(?:[0-5]\d)?z?)?(?!\d)/g;
// An opaque device token: no '@', '+' or whitespace, and at least one letter (a bare number could be a phone number).
const FINGERPRINT = /^[A-Za-z0-9_:.-]+$/;
const EARLIEST = Date.UTC(2000, 0, 1);
const DAY_MS = 86_400_000;
/** Clock skew allowed between the CRM and us for things that already happened. */
const PAST_EVENT_SKEW_MS = DAY_MS;
const FUTURE_LIMIT_MS = 20 * 366 * DAY_MS;

/** Checks and normalises one push. Free text with an email address or phone number is rejected, not redacted. */
export function validateSupportActivity(input: SupportActivityInput, now: Date = new Date()): SupportActivity {
  const tickets = checkSection(input.tickets, 'tickets').map((t, i) => validateTicket(t, `tickets[${i}]`, now));
  const subscriptions = checkSection(input.subscriptions, 'subscriptions').map((s, i) => validateSubscription(s, `subscriptions[${i}]`, now));
  const transactions = checkSection(input.transactions, 'transactions').map((t, i) => validateTransaction(t, `transactions[${i}]`, now));
  const interactions = checkSection(input.interactions, 'interactions').map((x, i) => validateInteraction(x, `interactions[${i}]`, now));
  const deviceFingerprint = input.deviceFingerprint == null ? null : validateFingerprint(input.deviceFingerprint);
  assertUniqueIds(tickets, 'tickets');
  assertUniqueIds(subscriptions, 'subscriptions');
  assertUniqueIds(transactions, 'transactions');
  assertUniqueIds(interactions, 'interactions');
  if (tickets.length + subscriptions.length + transactions.length + interactions.length === 0 && deviceFingerprint === null) {
    throw new BadUserInputError('Nothing to record: give at least one ticket, subscription, transaction, interaction or a device fingerprint');
  }
  return { customerId: input.customerId, tickets, subscriptions, transactions, interactions, deviceFingerprint };
}

function checkSection<T>(items: readonly T[] | null | undefined, field: string): readonly T[] {
  if (items == null) return [];
  if (items.length > SUPPORT_LIMITS.recordsPerSection) {
    throw new BadUserInputError(`${field} accepts at most ${SUPPORT_LIMITS.recordsPerSection} records per call`, { field });
  }
  return items;
}

function validateTicket(t: TicketInput, path: string, now: Date): TicketSummary {
  const openedAt = checkPastDate(t.openedAt, `${path}.openedAt`, now);
  const updatedAt = t.updatedAt == null ? null : checkPastDate(t.updatedAt, `${path}.updatedAt`, now);
  if (updatedAt && updatedAt.getTime() < openedAt.getTime()) {
    throw new BadUserInputError(`${path}.updatedAt must not be before openedAt`, { field: `${path}.updatedAt` });
  }
  return {
    id: checkRecordId(t.id, `${path}.id`),
    status: normaliseStatus(t.status, `${path}.status`),
    subject: checkOptionalText(t.subject, `${path}.subject`, SUPPORT_LIMITS.subjectLength),
    openedAt,
    updatedAt,
  };
}

function validateSubscription(s: SubscriptionInput, path: string, now: Date): SubscriptionSummary {
  const startedAt = checkFutureDate(s.startedAt, `${path}.startedAt`, now);
  const renewsAt = s.renewsAt == null ? null : checkFutureDate(s.renewsAt, `${path}.renewsAt`, now);
  if (renewsAt && renewsAt.getTime() < startedAt.getTime()) {
    throw new BadUserInputError(`${path}.renewsAt must not be before startedAt`, { field: `${path}.renewsAt` });
  }
  return {
    id: checkRecordId(s.id, `${path}.id`),
    plan: assertFreeText(s.plan, `${path}.plan`, SUPPORT_LIMITS.planLength),
    status: normaliseStatus(s.status, `${path}.status`),
    startedAt,
    renewsAt,
  };
}

function validateTransaction(t: TransactionInput, path: string, now: Date): TransactionSummary {
  if (!Number.isSafeInteger(t.amountMinor) || Math.abs(t.amountMinor) > SUPPORT_LIMITS.maxAbsAmountMinor) {
    throw new BadUserInputError(`${path}.amountMinor must be a whole number of minor units between -${SUPPORT_LIMITS.maxAbsAmountMinor} and ${SUPPORT_LIMITS.maxAbsAmountMinor}`, {
      field: `${path}.amountMinor`,
    });
  }
  // ASCII letters before upper-casing: `ınr` (a dotless ı) upper-cased to INR and was taken (a probe).
  const currency = t.currency.trim().toUpperCase();
  if (!/^[A-Za-z]{3}$/.test(t.currency.trim()) || !ISO_CURRENCIES.has(currency)) {
    throw new BadUserInputError(`${path}.currency must be an ISO 4217 currency code such as EUR`, { field: `${path}.currency` });
  }
  return {
    id: checkRecordId(t.id, `${path}.id`),
    status: normaliseStatus(t.status, `${path}.status`),
    amountMinor: t.amountMinor,
    currency,
    occurredAt: checkPastDate(t.occurredAt, `${path}.occurredAt`, now),
    description: checkOptionalText(t.description, `${path}.description`, SUPPORT_LIMITS.descriptionLength),
  };
}

function validateInteraction(x: InteractionInput, path: string, now: Date): InteractionSummary {
  const channel = CHANNELS.find((c) => c === x.channel);
  if (!channel) throw new BadUserInputError(`${path}.channel must be one of ${CHANNELS.join(', ')}`, { field: `${path}.channel` });
  return {
    id: checkRecordId(x.id, `${path}.id`),
    channel,
    occurredAt: checkPastDate(x.occurredAt, `${path}.occurredAt`, now),
    summary: checkOptionalText(x.summary, `${path}.summary`, SUPPORT_LIMITS.summaryLength),
    outcome: checkOptionalText(x.outcome, `${path}.outcome`, SUPPORT_LIMITS.outcomeLength),
  };
}

export function validateFingerprint(value: string): string {
  const { fingerprintMinLength: min, fingerprintMaxLength: max } = SUPPORT_LIMITS;
  // `tel:447700900987` has a letter, but is a phone number with a scheme in front; so is `wa:447700900555` (any
  // prefix), which the check every reference gets catches (a UUID, a hex hash or `fp_1234567abc` passes).
  if (/^(tel|sms|callto|whatsapp|mailto):/i.test(value) || !isSafeReference(value)) {
    throw new BadUserInputError('deviceFingerprint must be an opaque token, not a phone number or address', { field: 'deviceFingerprint' });
  }
  if (value.length < min || value.length > max || !FINGERPRINT.test(value) || !/[A-Za-z]/.test(value)) {
    throw new BadUserInputError(
      `deviceFingerprint must be an opaque token of ${min}-${max} characters (letters, digits, _ - : .) with at least one letter`,
      { field: 'deviceFingerprint' },
    );
  }
  return value;
}

function checkRecordId(value: string, field: string): string {
  if (value.length === 0 || value.length > SUPPORT_LIMITS.recordIdLength || !RECORD_ID.test(value)) {
    throw new BadUserInputError(`${field} must be 1-${SUPPORT_LIMITS.recordIdLength} characters of letters, digits, . _ : - (starting with a letter or digit)`, { field });
  }
  if (isPhoneUri(value)) throw new BadUserInputError(`${field} must be a reference, not a phone number`, { field });
  return value;
}

/** Statuses are compared (open tickets, active subscriptions), so they are stored lower-case. */
function normaliseStatus(value: string, field: string): string {
  const normalised = value.trim().toLowerCase();
  if (normalised.length === 0 || normalised.length > SUPPORT_LIMITS.statusLength || !STATUS.test(normalised)) {
    throw new BadUserInputError(`${field} must be 1-${SUPPORT_LIMITS.statusLength} characters of letters, digits, _ or - (starting with a letter)`, { field });
  }
  // A status is a word, not a place for a number: `callback-447700900124` was stored and shown (a probe). A compact
  // date is no phone number (`closed_20241130`, `resolved-20241130t1430z`: a regression probe found them refused).
  if (containsIdentifier(normalised.replace(COMPACT_DATE, 'd'))) throw new BadUserInputError(`${field} must not contain a phone number`, { field });
  return normalised;
}

function checkOptionalText(value: string | null | undefined, field: string, maxLength: number): string | null {
  return value == null ? null : assertFreeText(value, field, maxLength);
}

/** Something that already happened: up to a day ahead, for clock skew. */
function checkPastDate(value: Date, field: string, now: Date): Date {
  return checkDate(value, field, now.getTime() + PAST_EVENT_SKEW_MS, 'tomorrow');
}

/** A start or renewal date, which may lie ahead. */
function checkFutureDate(value: Date, field: string, now: Date): Date {
  return checkDate(value, field, now.getTime() + FUTURE_LIMIT_MS, 'twenty years from now');
}

function checkDate(value: Date, field: string, latest: number, latestLabel: string): Date {
  const time = value instanceof Date ? value.getTime() : Number.NaN;
  if (Number.isNaN(time) || time < EARLIEST || time > latest) {
    throw new BadUserInputError(`${field} must be a date between 2000-01-01 and ${latestLabel}`, { field });
  }
  return new Date(time);
}

function assertUniqueIds(records: ReadonlyArray<{ id: string }>, field: string): void {
  const seen = new Set<string>();
  for (const record of records) {
    if (seen.has(record.id)) throw new BadUserInputError(`${field} contains the same id twice in one call`, { field });
    seen.add(record.id);
  }
}
