import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditLog } from '../audit/audit-log.js';
import { actorOf, assertCustomerId, type Actor, type CustomerService } from '../customers/customer-service.js';
import { PII_FIELDS, type PiiField } from '../customers/customer-types.js';
import type { AuditEventInput } from '../audit/audit-types.js';
import { BadUserInputError, CustomerErasedError, ForbiddenError, NotFoundError, ServiceUnavailableError } from '../errors.js';
import { assertFreeText } from '../identity/free-text-guard.js';
import { isPrefixedId, newPrefixedId } from '../identity/customer-id.js';
import { isSamePerson } from '../auth/same-person.js';
import type { GrantStore } from './grant-store.js';
import { MAX_JUSTIFICATION, type PiiAccessGrantRecord } from './grant-types.js';

/**
 * An approval not in effect after this long has failed (its event or its access could not be written, and taking
 * it back failed too, or a hung Redis ran it after its caller was told it failed): the next approval redoes it whole.
 * An approval in progress takes milliseconds, or a few seconds while a store is slow.
 */
const STALLED_APPROVAL_MS = 15_000;
/** How long an approver waits for a racing approval to take effect before answering that it is being recorded. */
const RACING_APPROVAL_WAIT_MS = 3_000;

export interface PiiAccessRequest {
  customerId: string;
  fields: PiiField[];
  justification: string;
  ttlSeconds?: number | null;
}

/**
 * Break-glass access: a time-boxed grant for one agent, one customer and some fields. Every grant needs a second
 * person (approvePiiAccess by another caller holding pii:approve), the display name's included.
 */
export class GrantService {
  constructor(
    private readonly store: GrantStore,
    private readonly customers: CustomerService,
    private readonly audit: AuditLog,
    private readonly ttl: { defaultSeconds: number; maxSeconds: number },
  ) {}

  async request(input: PiiAccessRequest, actor: Actor): Promise<PiiAccessGrantRecord> {
    assertCustomerId(input.customerId);
    const fields = [...new Set(input.fields)].filter((f) => PII_FIELDS.includes(f));
    if (fields.length === 0) throw new BadUserInputError('fields must name at least one PII field', { field: 'fields' });
    const justification = assertFreeText(input.justification, 'justification', MAX_JUSTIFICATION);
    const ttlSeconds = input.ttlSeconds ?? this.ttl.defaultSeconds;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new BadUserInputError('ttlSeconds must be a positive whole number', { field: 'ttlSeconds' });
    await this.customers.loadActive(input.customerId);
    await this.customers.refuseOwnIdentifiers([{ customerId: input.customerId, texts: [['justification', justification]] }]);

    const grant: PiiAccessGrantRecord = {
      id: newPrefixedId('grt'),
      customerId: input.customerId,
      fields,
      status: 'PENDING',
      // Capped by configuration: a longer request gets the longest allowed grant.
      expiresAt: new Date(Date.now() + Math.min(ttlSeconds, this.ttl.maxSeconds) * 1000),
      requestedBy: actor.caller.id,
      approvedBy: null,
      justification,
    };
    await this.store.save(grant);
    // A grant saved after an erasure's sweep of Redis, its justification with it, outlived the erasure (a probe).
    await this.customers.confirmStillActive(input.customerId, () => this.store.purgeCustomer(input.customerId));
    return grant;
  }

  async approve(grantId: string, actor: Actor): Promise<PiiAccessGrantRecord> {
    if (!isPrefixedId('grt', grantId)) throw new BadUserInputError('grantId must be a grant id (grt_ followed by 26 characters)', { field: 'grantId' });
    const grant = await this.store.find(grantId);
    if (!grant) throw new NotFoundError('No live PII access grant has this id; it may have expired');
    if (isSamePerson(grant.requestedBy, actor.caller.id)) {
      throw new ForbiddenError('ELEVATION_REQUIRED', 'A PII access grant must be approved by someone other than its requester');
    }
    if (grant.status === 'APPROVED' && grant.activated !== false) return grant;
    // A grant requested just before its customer was erased outlives the erasure in Redis until its TTL: refused.
    await this.customers.loadActive(grant.customerId);
    // Atomic in Redis: of approvers racing (on several replicas), one approves and writes PII_ACCESS_GRANTED; the
    // others get the grant with that first approver, as a repeated approval does.
    const result = await this.store.approve(grant.id, actor.caller.id, STALLED_APPROVAL_MS);
    if (!result) throw new NotFoundError('No live PII access grant has this id; it may have expired');
    if (result.approvedNow) {
      await this.activate(result.grant, actor);
      return { ...result.grant, activated: true };
    }
    if (result.grant.activated !== false) return result.grant;
    // Approved, but not in effect: another approval is being recorded now (racing approvers wait for it), or one that
    // failed is not stalled long enough to be redone. Never answered APPROVED while not in effect: a repeat used to,
    // with no event written and no access given.
    for (const deadline = Date.now() + RACING_APPROVAL_WAIT_MS; Date.now() < deadline; ) {
      await sleep(50);
      const current = await this.store.find(grant.id);
      if (!current) throw new NotFoundError('No live PII access grant has this id; it may have expired');
      if (current.status === 'APPROVED' && current.activated !== false) return current;
      if (current.status !== 'APPROVED') break;
    }
    throw new ServiceUnavailableError('redis', "This grant's approval is being recorded; try again in a few seconds");
  }

  /**
   * The approval takes effect (the requester's access keys) only once its PII_ACCESS_GRANTED event is written. An
   * approval that cannot be audited, or whose access cannot be stored, is taken back to PENDING and refused, so a
   * repeat approves it whole. Should taking it back fail too (Redis down as well), the grant stays APPROVED with
   * no access: never usable, and the requester asks again.
   */
  private async activate(grant: PiiAccessGrantRecord, actor: Actor): Promise<void> {
    try {
      await this.audit.append(grantedEvent(grant, actor));
    } catch (error) {
      // Erased meanwhile (the chain is sealed): nothing of this grant may stay usable, and the customer has nothing else left in Redis.
      if (error instanceof CustomerErasedError) await this.store.purgeCustomer(grant.customerId);
      else await this.store.unapprove(grant.id, actor.caller.id).catch(() => false);
      throw error;
    }
    try {
      await this.store.activate(grant);
    } catch (error) {
      // Audited but not usable: the event over-records an approval that a repeat will record again; nothing is read without one.
      await this.store.unapprove(grant.id, actor.caller.id).catch(() => false);
      throw error;
    }
  }
}

function grantedEvent(grant: PiiAccessGrantRecord, actor: Actor): AuditEventInput {
  return {
    type: 'PII_ACCESS_GRANTED',
    customerId: grant.customerId,
    actor: actorOf(actor),
    fields: grant.fields,
    justification: grant.justification,
    requestId: actor.requestId,
    details: { grantId: grant.id, requestedBy: grant.requestedBy, approvedBy: grant.approvedBy, expiresAt: grant.expiresAt.toISOString() },
  };
}
