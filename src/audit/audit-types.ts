import type { PiiField } from '../customers/customer-types.js';
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
  fields?: PiiField[] | null;
  justification?: string | null;
  requestId?: string | null;
  /** Small, non-personal facts (receipt version, grant id, matched or not, counts). */
  details?: Record<string, string | number | boolean | null>;
}

export interface AuditEventRecord {
  id: string;
  chain: string;
  type: AuditEventType;
  occurredAt: Date;
  customerId: string | null;
  actor: AuditActor;
  channel: Channel | null;
  interactionId: string | null;
  resolutionSource: string | null;
  identifierHash: string | null;
  fields: PiiField[] | null;
  justification: string | null;
  requestId: string | null;
  details: Record<string, string | number | boolean | null>;
  sequence: number;
  prevHash: string;
  hash: string;
}
