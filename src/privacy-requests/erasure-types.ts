/** Participants (what erasure clears besides the customer, key and identifier documents) are `Services.erasureParticipants`. */
export type { ErasureParticipant } from '../services.js';

export interface ErasedItem {
  store: string;
  item: string;
  count: number;
}

export interface ErasureReceiptRecord {
  customerId: string;
  requestId: string;
  /** When the customer was first erased (a repeated request keeps the original time). */
  erasedAt: Date;
  /** An earlier request had already claimed this erasure; `removed` lists what this one still found. */
  alreadyErased: boolean;
  removed: ErasedItem[];
  /** The DATA_DELETION event that records this request. */
  auditEventId: string;
}
