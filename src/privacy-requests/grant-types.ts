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
  /**
   * False from the approval until its event is written and its access stored; absent on grants approved by a
   * release before 2026-11-30's last commits (taken as in effect).
   */
  activated?: boolean;
  /** When it was approved (ms since the epoch). */
  approvedAt?: number;
}

/** The longest justification a grant request may carry. */
export const MAX_JUSTIFICATION = 500;
