import type { PiiField } from '../customers/customer-types.js';
import type { WrappedDataKey } from '../identity/pii-envelope.js';
import type { Channel } from '../context-snapshots/snapshot-types.js';

export const AUDIT_EVENT_TYPES = [
  'IDENTITY_RESOLUTION',
  'CUSTOMER_REGISTERED',
  'IDENTIFIER_LINKED',
  'CONSENT_RECORDED',
  'PII_ACCESS_GRANTED',
  'PII_ACCESS',
  'CONTEXT_READ',
  'DSAR_EXPORT',
  'DATA_DELETION',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];
/** What a stored event reads as: `UNKNOWN` for a type the log never writes (a newer release's, or tampering). */
export type StoredAuditEventType = AuditEventType | 'UNKNOWN';

export interface AuditActor {
  kind: 'AGENT' | 'SERVICE' | 'SYSTEM';
  id: string;
}

/** What a caller of the audit log supplies; the chain fills in the rest. */
export interface AuditEventInput {
  type: AuditEventType;
  customerId: string | null;
  actor: AuditActor;
  channel?: Channel | null;
  interactionId?: string | null;
  resolutionSource?: string | null;
  identifierHash?: string | null;
  /**
   * Not stored in the event: on an anonymous one, the identifier's hashes under the other configured key versions,
   * filed with its lookup key, so that erasure and data-subject access find the lookup by any of them (mid-rotation,
   * a lookup on a replica whose current version is new filed only that hash, which an identifier filed under the old
   * one never names: an erasure left such lookups, listed in the next registrant's export; a regression probe).
   */
  identifierPriorHashes?: readonly string[];
  fields?: PiiField[] | null;
  justification?: string | null;
  requestId?: string | null;
  /** Small, non-personal facts (receipt version, grant id, matched or not, counts). */
  details?: Record<string, string | number | boolean | null>;
  /**
   * A hint, not stored: the chain is expected to be empty (the first event of a
   * customer created by this request), so the head is not read first. A wrong
   * guess costs one duplicate-key retry, never a fork.
   */
  expectsNewChain?: boolean;
  /**
   * Not stored: the customer's wrapped data key, when the writer has just read it with the customer. Sealing
   * `identifierHash` then reads nothing; without it the seal reads the key itself.
   */
  sealingKey?: WrappedDataKey | null;
}

/** The last event of a chain: where the next one goes, and whether the chain still takes it. */
export interface ChainHead {
  sequence: number;
  hash: string;
  type: StoredAuditEventType;
}

/**
 * A customer's chain ends with DATA_DELETION once they are erased. After it
 * the chain takes only another erasure request or a data-subject export:
 * every other write on the customer is refused (CustomerErasedError), also one
 * that passed its own "is the customer active?" check before the erasure
 * began, and the writer rolls back what it wrote.
 */
export const EVENTS_AFTER_ERASURE: ReadonlySet<AuditEventType> = new Set<AuditEventType>(['DATA_DELETION', 'DSAR_EXPORT']);

export interface AuditEventRecord {
  id: string;
  chain: string;
  type: StoredAuditEventType;
  occurredAt: Date;
  customerId: string | null;
  actor: AuditActor;
  channel: Channel | null;
  interactionId: string | null;
  resolutionSource: string | null;
  /**
   * The identifier hash in clear: stored only on events without a customer
   * (anonymous resolutions). On customer events it is null as stored, and the
   * read side (AuditTrailService) fills it from `sealedIdentifierHash`.
   */
  identifierHash: string | null;
  /**
   * Customer events: the identifier hash sealed under a key derived from the
   * customer's data key (audit-identifier-seal.ts). Erasure deletes that key,
   * so the immutable trail stops linking the hash to the customer while the
   * chain still verifies.
   */
  sealedIdentifierHash: string | null;
  fields: PiiField[] | null;
  justification: string | null;
  requestId: string | null;
  details: Record<string, string | number | boolean | null>;
  sequence: number;
  prevHash: string;
  hash: string;
}
