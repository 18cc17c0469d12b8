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
/** Failed takeovers of one erasure followed at most (each is a request that failed: a store stayed down). */
const MAX_TAKEOVER_HOPS = 50;

const takeOverId = (customerId: string, failedRequestId: string) => `resume:${customerId}:${failedRequestId}`;

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

  /** Whether the request that claimed this customer's erasure first has been marked failed since. */
  async hasFailed(customerId: string, requestId: string): Promise<boolean> {
    return (await this.claims.findOne({ _id: customerId, requestId }))?.failedAt != null;
  }

  /**
   * The request that claimed this erasure (or, with `resumed`, took over the one that had) failed before completing
   * it: its claim's only writer, so a plain update.
   */
  async markFailed(customerId: string, requestId: string, failedAt: Date, resumed: string | null = null): Promise<void> {
    await this.claims.updateOne({ _id: resumed === null ? customerId : takeOverId(customerId, resumed), requestId }, { $set: { failedAt } });
  }

  /**
   * Takes over an erasure that `failedRequestId` claimed and never completed: an insert keyed by both, so of
   * several requests retrying it at once exactly one finishes it; the others are duplicates (null). A request that
   * took it over and failed as well (marked failed, or claimed `staleMs` ago) is taken over in turn: the answer is
   * the request this one finishes the job of.
   */
  async takeOver(customerId: string, failedRequestId: string, requestId: string, claimedBy: string, claimedAt: Date, staleMs: number): Promise<string | null> {
    let resumes = failedRequestId;
    for (let hop = 0; hop < MAX_TAKEOVER_HOPS; hop++) {
      try {
        await this.claims.insertOne({ _id: takeOverId(customerId, resumes), requestId, claimedAt, claimedBy });
        return resumes;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      const holder = await this.claims.findOne({ _id: takeOverId(customerId, resumes) });
      if (!holder) continue;
      if (holder.failedAt == null && claimedAt.getTime() - holder.claimedAt.getTime() < staleMs) return null;
      resumes = holder.requestId;
    }
    return null;
  }
}
