import type { Collection, Db } from 'mongodb';
import { isDuplicateKeyError } from '../storage/mongo.js';

/** Pseudonymous: a customer id, a request reference and who asked. No identifier, no reason text. */
interface ErasureClaimDoc {
  _id: string;
  requestId: string;
  claimedAt: Date;
  claimedBy: string;
  /** Set when the claiming request failed before it completed: the next request takes the erasure over at once. */
  failedAt?: Date;
}

export const ERASURE_REQUESTS_COLLECTION = 'erasure_requests';

/**
 * Decides which of several erasure requests for one customer came first: the
 * customer id is the claim's _id, so exactly one insert wins, on MongoDB and
 * on FerretDB (which loses concurrent updates of one document). The claim
 * also stays as the register of erasures: which request erased whom, when.
 */
export class ErasureRepository {
  private readonly claims: Collection<ErasureClaimDoc>;

  constructor(db: Db) {
    this.claims = db.collection<ErasureClaimDoc>(ERASURE_REQUESTS_COLLECTION);
  }

  /** `isFirst` for the first request; otherwise the request id of the one that claimed this customer first, and when. */
  async claim(
    customerId: string,
    requestId: string,
    claimedBy: string,
    claimedAt: Date,
  ): Promise<{ isFirst: boolean; firstRequestId: string; firstClaimedAt: Date; firstFailed: boolean }> {
    try {
      await this.claims.insertOne({ _id: customerId, requestId, claimedAt, claimedBy });
      return { isFirst: true, firstRequestId: requestId, firstClaimedAt: claimedAt, firstFailed: false };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const first = await this.claims.findOne({ _id: customerId });
      return { isFirst: false, firstRequestId: first?.requestId ?? requestId, firstClaimedAt: first?.claimedAt ?? claimedAt, firstFailed: first?.failedAt != null };
    }
  }

  /** The request that claimed this erasure failed before completing it (its only writer, so a plain update). */
  async markFailed(customerId: string, requestId: string, failedAt: Date): Promise<void> {
    await this.claims.updateOne({ _id: customerId, requestId }, { $set: { failedAt } });
  }

  /**
   * Takes over an erasure that `failedRequestId` claimed and never completed: an insert keyed by both, so of
   * several requests retrying it at once exactly one finishes it; the others are duplicates.
   */
  async takeOver(customerId: string, failedRequestId: string, requestId: string, claimedBy: string, claimedAt: Date): Promise<boolean> {
    try {
      await this.claims.insertOne({ _id: `resume:${customerId}:${failedRequestId}`, requestId, claimedAt, claimedBy });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }
}
