export const CONSENT_SCOPES = [
  'support_context',
  'identity_linking',
  'analytics',
  'marketing_email',
  'product_recs',
] as const;
export type ConsentScope = (typeof CONSENT_SCOPES)[number];

/** An immutable receipt: a change writes version + 1, never an update. */
export interface ConsentReceipt {
  id: string;
  customerId: string;
  version: number;
  scopes: ConsentScope[];
  grantedAt: Date;
  expiresAt: Date | null;
  source: string;
  supersedes: string | null;
  recordedBy: string;
}

/** Effective consent: the latest receipt's scopes, or none when it has expired. */
export interface ConsentStateRecord {
  customerId: string;
  scopes: ConsentScope[];
  receipt: ConsentReceipt | null;
}

/** Receipts `Customer.consentHistory` shows at most: the newest ones (the data-subject export lists every one). */
export const CONSENT_HISTORY_SHOWN = 100;

/** The longest `source` a receipt takes. */
export const MAX_SOURCE_LENGTH = 64;
