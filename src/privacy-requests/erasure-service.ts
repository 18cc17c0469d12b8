import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import type { CustomerRepository } from '../customers/customer-repository.js';
import { actorOf, assertCustomerId, type Actor, type CustomerService } from '../customers/customer-service.js';
import type { CustomerRecord } from '../customers/customer-types.js';
import { ciphertextsOf, hashesOf } from '../customers/customer-types.js';
import { NotFoundError, ServiceUnavailableError } from '../errors.js';
import { classifyInfrastructureError } from '../http/infrastructure-errors.js';
import { assertFreeText } from '../identity/free-text-guard.js';
import { recordableRequestId, withdrawRequestId } from '../observability/request-scope.js';
import type { ErasureRepository } from './erasure-repository.js';
import type { ErasedItem, ErasureParticipant, ErasureReceiptRecord } from './erasure-types.js';

/** The part of the anonymous lookup seal that erasure uses. */
export interface AnonymousLookupForgetter {
  forget(identifierHashes: readonly string[]): Promise<number>;
}

const MAX_REQUEST_ID_LENGTH = 128;
const MAX_REASON_LENGTH = 500;
const MAX_SETTLE_ATTEMPTS = 5;
/**
 * An erasure claimed this long ago that has not written its DATA_DELETION failed half-way (a store was down);
 * a younger one may still be running, and a request arriving meanwhile is a duplicate of it.
 */
const UNFINISHED_ERASURE_MS = 60_000;

/** When an erasure forgets the anonymous lookups of the customer's identifier hashes again, after it ended. */
export const ERASURE_LOOKUP_SWEEPS_MS = [2_000, 30_000];

/**
 * The right to be forgotten. Every step is idempotent and every call runs all
 * of them, so a request that failed half-way (a store was down) is finished
 * by simply asking again.
 *
 * Order, and why:
 *  1. claim the erasure (an insert keyed by customer id: one request is first);
 *  2. mark the customer ERASED and drop every attribute, clear or masked, and
 *     the data key, kept with them and in `customer_keys` (crypto-shredding:
 *     ciphertexts anywhere, sealed identifier hashes in the audit trail
 *     included, become unreadable): from here on linking, consent, grants and
 *     clear reads refuse this customer;
 *  3. delete the keys of anonymous lookups of the customer's identifier hashes
 *     (made before they registered), then the identifier hashes themselves, so
 *     nobody can be resolved to this customer, and no anonymous event can be
 *     tied to whoever registers with the same identifier later;
 *  4. every registered participant (support records, Redis snapshots,
 *     sessions, PII grants);
 *  5. sweep identifiers once more (a link that passed the ACTIVE check just
 *     before step 2 may land after step 3) and re-check step 2;
 *  6. append DATA_DELETION: for every request, the repeated ones included;
 *  7. sweep once more, for a write audited just before the seal; and the anonymous lookups of every hash the
 *     customer held, again ERASURE_LOOKUP_SWEEPS_MS later (lookups still in flight).
 * Consent receipts and audit events stay: they are pseudonymous and are the
 * record that consent was given and that this erasure happened.
 */
export class ErasureService {
  private readonly sweeps = new Set<NodeJS.Timeout>();

  constructor(
    private readonly customers: CustomerRepository,
    private readonly claims: ErasureRepository,
    private readonly participants: readonly ErasureParticipant[],
    private readonly audit: AuditLog,
    private readonly anonymousLookups: AnonymousLookupForgetter,
    /** CustomerService.refuseOwnIdentifiers: the reason and the reference stay in the DATA_DELETION event for good. */
    private readonly refuseOwnIdentifiers: CustomerService['refuseOwnIdentifiers'],
  ) {}

  async erase(customerId: string, requestId: string, reason: string, actor: Actor): Promise<ErasureReceiptRecord> {
    assertCustomerId(customerId);
    const request = assertFreeText(requestId, 'requestId', MAX_REQUEST_ID_LENGTH, { isReference: true });
    const justification = assertFreeText(reason, 'reason', MAX_REASON_LENGTH);
    const [customer] = await this.customers.findByIds([customerId]);
    if (!customer) throw new NotFoundError('No customer has this id');
    // The caller's x-request-id is kept in the event too (details.httpRequestId): screened the same way, and replaced
    // when it names the customer (a probe sent the display name and the email's local part as one).
    await this.refuseOwnIdentifiers([{ customerId, texts: [['requestId', request], ['reason', justification]], screensName: true }], { screensRequestId: true });
    // A customer erased already has no name, identifiers or key left to screen these texts against: a repeat stored
    // the name, the CRM id or the email's slug it was given in its DATA_DELETION event for good (a probe). So a
    // repeat keeps none of its own free text: no reason, its reference only when it is the first request's, and
    // a generated request id instead of the caller's.
    const unscreenable = customer.status === 'ERASED';
    if (unscreenable) withdrawRequestId();

    const now = new Date();
    const hadCompleted = await this.audit.hasEvent(customerId, 'DATA_DELETION', { complete: false });
    const { isFirst, firstRequestId, firstClaimedAt, firstFailed } = await this.claims.claim(customerId, request, actor.caller.id, now);
    // How this request is named in the claims and in later events (a takeover's resumesRequestId): an unscreenable
    // reference that is not the first request's is not (a regression probe found one kept through a takeover).
    const ref = unscreenable && request !== firstRequestId ? `withheld-${randomUUID()}` : request;
    // Claimed by a request that failed half-way (it said so, or it claimed long ago and never completed): this one
    // finishes the job; what the earlier one removed is not in these counts, and the event names it. Claimed
    // moments ago and not failed: it is still running, and this is a duplicate of it (already erased, as far as
    // its caller is concerned).
    const isUnfinished = !isFirst && !hadCompleted && (firstFailed || now.getTime() - firstClaimedAt.getTime() >= UNFINISHED_ERASURE_MS);
    // Of several requests finishing it at once, one does; a request that took it over and failed too is taken over
    // in turn, and the request finishing the job names the last one that failed.
    const resumes = isUnfinished ? await this.claims.takeOver(customerId, firstRequestId, ref, actor.caller.id, now, UNFINISHED_ERASURE_MS) : null;
    try {
      const alreadyErased = !isFirst && resumes === null;
      // A duplicate names the request it duplicates: one whose store died before it could write its event or mark
      // its claim failed was otherwise named nowhere in the trail (a probe repeated it within UNFINISHED_ERASURE_MS).
      const recorded = unscreenable
        ? { requestId: request === firstRequestId ? request : null, justification: null, withheld: request === firstRequestId ? ['reason'] : ['reason', 'requestId'] }
        : { requestId: request, justification, withheld: [] };
      const receipt = await this.eraseClaimed(customerId, ref, recorded, actor, now, { alreadyErased, resumes, duplicates: alreadyErased ? firstRequestId : null }, firstRequestId);
      return { ...receipt, requestId: request };
    } catch (error) {
      // The next request takes over at once (a process that died here is covered by UNFINISHED_ERASURE_MS instead).
      if (isFirst || resumes !== null) await this.claims.markFailed(customerId, ref, new Date(), resumes).catch(() => undefined);
      throw error;
    }
  }

  private async eraseClaimed(
    customerId: string,
    request: string,
    /** What the event keeps of the request's own texts (see erase), and what it leaves out. */
    recorded: { requestId: string | null; justification: string | null; withheld: string[] },
    actor: Actor,
    now: Date,
    claimed: { alreadyErased: boolean; resumes: string | null; duplicates: string | null },
    firstRequestId: string,
  ): Promise<ErasureReceiptRecord> {
    let { alreadyErased, resumes, duplicates } = claimed;
    const { attributesRemoved, keysRemoved } = await this.customers.markErased(customerId);
    // `requestId` is the erasure's own reference (the data-subject request); the HTTP request's id, which every other
    // event carries there, goes in `details.httpRequestId`, so the event can be found from the logs too (a probe).
    const deletion = { type: 'DATA_DELETION' as const, customerId, actor: actorOf(actor), requestId: recorded.requestId, justification: recorded.justification };
    const withheld: Record<string, string> = recorded.withheld.length > 0 ? { withheld: recorded.withheld.join(' ') } : {};
    const httpRequestId = () => recordableRequestId(actor.requestId);
    let lookupsForgotten: number, identifiersRemoved: number, fromParticipants: ErasedItem[], settled: Awaited<ReturnType<ErasureService['settleErased']>>;
    // Every hash the customer held during this erasure: the sweeps after the identifiers are deleted forget the lookups
    // of these too (see forgetAnonymousLookups).
    const hashes = new Set<string>();
    try {
      lookupsForgotten = await this.forgetAnonymousLookups(customerId, hashes);
      identifiersRemoved = await this.customers.deleteIdentifiers(customerId);
      fromParticipants = await this.eraseParticipants(customerId);
      identifiersRemoved += await this.customers.deleteIdentifiers(customerId);
      settled = await this.settleErased(customerId, now);
    } catch (error) {
      // The person is erased (step 2) but something of theirs is left: the trail records now who asked, when and why,
      // and that it is incomplete; the request fails so that it is repeated, which finishes the job and writes the
      // complete event (an incomplete one does not count as done: the repeat takes over, naming this request).
      await this.audit
        .append({ ...deletion, details: { complete: false, ...withheld, httpRequestId: httpRequestId(), alreadyErased, resumesRequestId: resumes, ...(duplicates === null ? {} : { duplicatesRequestId: duplicates }), unavailable: unavailableStore(error) } })
        .catch(() => undefined);
      throw error;
    }

    // Taken for a duplicate of a request still running, this one did the whole job itself: when that request has
    // failed meanwhile and no complete DATA_DELETION is in the chain, this is no repeat of a done erasure but the one
    // that finished it (a probe got `alreadyErased: true`, naming as duplicated a request that failed on Redis, from
    // the only request that erased the customer). Taken over like any failed erasure, so one request finishes it.
    if (alreadyErased && !(await this.audit.hasEvent(customerId, 'DATA_DELETION', { complete: false })) && (await this.claims.hasFailed(customerId, firstRequestId))) {
      const taken = await this.claims.takeOver(customerId, firstRequestId, request, actor.caller.id, new Date(), UNFINISHED_ERASURE_MS);
      if (taken !== null) [alreadyErased, resumes, duplicates] = [false, taken, null];
    }
    const removed: ErasedItem[] = [
      { store: 'mongodb', item: 'customer_attributes', count: attributesRemoved + settled.attributesRemoved },
      { store: 'mongodb', item: 'data_keys', count: keysRemoved + settled.keysRemoved },
      { store: 'mongodb', item: 'identifiers', count: identifiersRemoved },
      { store: 'mongodb', item: 'anonymous_lookups', count: lookupsForgotten },
      ...fromParticipants,
    ];
    let event: Awaited<ReturnType<AuditLog['append']>>;
    try {
      event = await this.audit.append({
        ...deletion,
        details: {
          complete: true,
          ...withheld,
          httpRequestId: httpRequestId(),
          alreadyErased,
          resumesRequestId: resumes,
          ...(duplicates === null ? {} : { duplicatesRequestId: duplicates }),
          removedTotal: removed.reduce((sum, r) => sum + r.count, 0),
          removed: removed.map((r) => `${r.store}:${r.item}=${r.count}`).join(' '),
        },
      });
    } catch (error) {
      // A takeover made just above is this request's to mark failed (erase() knows only the one it made at the start).
      if (resumes !== claimed.resumes) await this.claims.markFailed(customerId, request, new Date(), resumes).catch(() => undefined);
      throw error;
    }
    // The chain is sealed now: a write that raced this erasure is refused by the audit log and rolls itself back.
    // One that was audited before the seal wrote its data before it too; sweep once more for that data.
    const late = await this.sweepAfterSeal(customerId, now, hashes);
    this.forgetAgainLater(hashes);
    return { customerId, requestId: request, erasedAt: settled.erasedAt, alreadyErased, removed: addCounts(removed, late), auditEventId: event.id };
  }

  private async sweepAfterSeal(customerId: string, now: Date, hashes: Set<string>): Promise<ErasedItem[]> {
    const lookups = await this.forgetAnonymousLookups(customerId, hashes);
    const identifiers = await this.customers.deleteIdentifiers(customerId);
    const fromParticipants = await this.eraseParticipants(customerId);
    const settled = await this.settleErased(customerId, now);
    return [
      { store: 'mongodb', item: 'customer_attributes', count: settled.attributesRemoved },
      { store: 'mongodb', item: 'data_keys', count: settled.keysRemoved },
      { store: 'mongodb', item: 'identifiers', count: identifiers },
      { store: 'mongodb', item: 'anonymous_lookups', count: lookups },
      ...fromParticipants,
    ];
  }

  /**
   * Anonymous lookups of the customer's identifiers (before they registered) stop opening to those hashes: read
   * while the identifiers still exist, so a request that fails between the two steps does this again when repeated.
   * The hashes read are kept in `hashes` for the sweeps after the identifiers are gone: a lookup that read no owner
   * once they were deleted files its lookup after this first pass (a probe found such lookups, made while the
   * erasure ran, kept, and listed in the export of the next person to register with the number).
   */
  private async forgetAnonymousLookups(customerId: string, hashes: Set<string>): Promise<number> {
    const [identifiers] = await this.customers.findIdentifiersByCustomerIds([customerId]);
    for (const hash of (identifiers ?? []).flatMap(hashesOf)) hashes.add(hash);
    return this.anonymousLookups.forget([...hashes]);
  }

  /**
   * And again ERASURE_LOOKUP_SWEEPS_MS after the erasure, for lookups still in flight when it ended (and the
   * person's own calls in those seconds): in this process only, and dropped by a stop (stopSweeps).
   */
  private forgetAgainLater(hashes: ReadonlySet<string>): void {
    if (hashes.size === 0) return;
    const forget = [...hashes];
    for (const delay of ERASURE_LOOKUP_SWEEPS_MS) {
      const timer = setTimeout(() => {
        this.sweeps.delete(timer);
        this.anonymousLookups.forget(forget).catch(() => undefined);
      }, delay).unref();
      this.sweeps.add(timer);
    }
  }

  /** Drops the later lookup sweeps still pending (ERASURE_LOOKUP_SWEEPS_MS), for a stop. */
  stopSweeps(): void {
    for (const timer of this.sweeps) clearTimeout(timer);
    this.sweeps.clear();
  }

  /** Every participant is tried even when one fails; the request fails if any did, and a retry finishes the job. */
  private async eraseParticipants(customerId: string): Promise<ErasedItem[]> {
    const results = await Promise.allSettled(this.participants.map((p) => p.erase(customerId)));
    const failed = this.participants.find((_p, i) => results[i]?.status === 'rejected');
    if (failed) {
      throw new ServiceUnavailableError(failed.store, `The ${failed.store} store could not be purged; the erasure is incomplete, repeat the request`);
    }
    return this.participants.map((p, i) => {
      const result = results[i];
      return { store: p.store, item: p.item, count: result?.status === 'fulfilled' ? result.value : 0 };
    });
  }

  private async settleErased(customerId: string, now: Date): Promise<{ erasedAt: Date; attributesRemoved: number; keysRemoved: number }> {
    let attributesRemoved = 0;
    let keysRemoved = 0;
    for (let attempt = 1; attempt <= MAX_SETTLE_ATTEMPTS; attempt++) {
      const [customer] = await this.customers.findByIds([customerId]);
      if (!customer) throw new NotFoundError('No customer has this id');
      if (isFullyErased(customer)) return { erasedAt: customer.erasedAt ?? now, attributesRemoved, keysRemoved };
      const removed = await this.customers.markErased(customerId);
      attributesRemoved += removed.attributesRemoved;
      keysRemoved += removed.keysRemoved;
    }
    throw new ServiceUnavailableError('mongodb', 'The customer record kept changing during erasure; repeat the request');
  }
}

/** The receipt's items with the counts of a later sweep added to the same store and item. */
function addCounts(items: readonly ErasedItem[], more: readonly ErasedItem[]): ErasedItem[] {
  return items.map((item) => ({
    ...item,
    count: item.count + more.filter((m) => m.store === item.store && m.item === item.item).reduce((sum, m) => sum + m.count, 0),
  }));
}

function isFullyErased(customer: CustomerRecord): boolean {
  return (
    customer.status === 'ERASED' &&
    customer.dataKey === null &&
    Object.keys(ciphertextsOf(customer)).length === 0 &&
    Object.values(customer.masked).every((v) => v === null) &&
    customer.country === null &&
    customer.preferredLanguage === null
  );
}

/** Which store stopped an erasure half-way, for its incomplete DATA_DELETION event. */
function unavailableStore(error: unknown): string {
  if (error instanceof ServiceUnavailableError) return String(error.extensions['service']);
  return classifyInfrastructureError(error) ?? 'error';
}
