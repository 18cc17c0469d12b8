import type { CustomerStatus, IdentifierRecord, PiiField } from '../customers/customer-types.js';
import type { ConsentReceipt } from '../consent/consent-types.js';
import type {
  InteractionSummary,
  SubscriptionSummary,
  TicketSummary,
  TransactionSummary,
} from '../context-snapshots/snapshot-types.js';
import type { AuditEventRecord } from '../audit/audit-types.js';
import type { SupportSessionRecord } from '../context-snapshots/session-store.js';
import type { PiiAccessGrantRecord } from './grant-types.js';

export interface DataSubjectExportRecord {
  customerId: string;
  status: CustomerStatus;
  generatedAt: Date;
  displayName: string | null;
  email: string | null;
  phone: string | null;
  country: string | null;
  preferredLanguage: string | null;
  createdAt: Date;
  identifiers: IdentifierRecord[];
  consentReceipts: ConsentReceipt[];
  supportRecords: {
    tickets: TicketSummary[];
    subscriptions: SubscriptionSummary[];
    transactions: TransactionSummary[];
    interactions: InteractionSummary[];
    deviceFingerprints: string[];
  };
  auditEvents: AuditEventRecord[];
  anonymousLookups: AuditEventRecord[];
  /** null: Redis could not be read (the rest of the export stands; the legal deadline does not wait for Redis). */
  supportSessions: SupportSessionRecord[] | null;
  piiAccessGrants: PiiAccessGrantRecord[] | null;
  /** Attributes whose stored ciphertext (or the data key) did not decrypt: null here, an error at their path. */
  unreadable: PiiField[];
  auditEventId: string;
}
