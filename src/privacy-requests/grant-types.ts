import type { PiiField } from '../customers/customer-types.js';

export type PiiAccessGrantStatus = 'PENDING' | 'APPROVED' | 'EXPIRED';

/** A break-glass grant, kept in Redis only, for as long as its TTL. */
export interface PiiAccessGrantRecord {
  id: string;
  customerId: string;
  fields: PiiField[];
  status: PiiAccessGrantStatus;
  expiresAt: Date;
  requestedBy: string;
  approvedBy: string | null;
  justification: string;
}

/** The longest justification a grant request may carry. */
export const MAX_JUSTIFICATION = 500;
