import type { AuditLog } from '../audit/audit-log.js';
import { actorOf, assertCustomerId, type Actor, type CustomerService } from '../customers/customer-service.js';
import { BadUserInputError } from '../errors.js';
import { containsIdentifier } from '../identity/free-text-guard.js';
import { newPrefixedId } from '../identity/customer-id.js';
import { isDuplicateKeyError } from '../storage/mongo.js';
import type { ConsentRepository } from './consent-repository.js';
import { CONSENT_SCOPES, MAX_SOURCE_LENGTH, type ConsentReceipt, type ConsentScope, type ConsentStateRecord } from './consent-types.js';

export interface RecordConsentInput {
  customerId: string;
  scopes: string[];
  source: string;
  expiresAt?: Date | null;
}

const MAX_ATTEMPTS = 50;

/** Fired after a receipt is written, with the scopes it withdrew. Context snapshots listen to purge. */
export type ConsentChangeListener = (customerId: string, withdrawn: ConsentScope[]) => Promise<void>;

export class ConsentService {
  private readonly listeners: ConsentChangeListener[] = [];

  constructor(
    private readonly repository: ConsentRepository,
    private readonly customers: CustomerService,
    private readonly audit: AuditLog,
  ) {}

  onChange(listener: ConsentChangeListener): void {
    this.listeners.push(listener);
  }

  /**
   * Writes receipt version n + 1 after its CONSENT_RECORDED event, holding the customer's lock: no other receipt of
   * this customer is written meanwhile. A change whose event or receipt cannot be written is refused whole; repeating
   * it records it with its event. The version is still guarded
   * by the unique (customer, version) index: a writer that takes n + 1 first (a replica of the release of
   * 2026-11-30, d9fbfee, or an older one, which takes no lock) makes us retry on top of it.
   */
  async record(input: RecordConsentInput, actor: Actor): Promise<ConsentReceipt> {
    assertCustomerId(input.customerId);
    const scopes = validateScopes(input.scopes);
    const source = validateSource(input.source);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new BadUserInputError('expiresAt must be in the future', { field: 'expiresAt' });
    }
    await this.customers.loadActive(input.customerId);
    await this.customers.refuseOwnIdentifiers([{ customerId: input.customerId, texts: [['source', source]] }]);
    return this.customers.withCustomerLock(input.customerId, () => this.recordLocked(input, scopes, source, actor));
  }

  private async recordLocked(input: RecordConsentInput, scopes: ConsentScope[], source: string, actor: Actor): Promise<ConsentReceipt> {
    // Again under the lock: an erasure marks the customer under the same lock, so a receipt is either written before
    // it or refused (a probe had receipts written seconds after the customer was marked erased, while the erasure
    // went on with its other steps and had not sealed the chain yet).
    await this.customers.loadActive(input.customerId);
    const now = new Date();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const previous = await this.repository.findLatest(input.customerId);
      const grantedAt = new Date();
      // Again against the time the receipt is granted: checked before the lock only, a receipt that waited for the
      // lock (or a slow store) was written already expired, and answered as recorded (a probe: 10 at once expiring
      // 400 ms later; the last two were granted after their expiry, which withdrew the consent just given).
      if (input.expiresAt && input.expiresAt.getTime() <= grantedAt.getTime()) {
        throw new BadUserInputError('expiresAt must be in the future (it passed while the change waited its turn)', { field: 'expiresAt' });
      }
      const receipt: ConsentReceipt = {
        id: newPrefixedId('con'),
        customerId: input.customerId,
        version: (previous?.version ?? 0) + 1,
        scopes,
        grantedAt,
        expiresAt: input.expiresAt ?? null,
        source,
        supersedes: previous?.id ?? null,
        recordedBy: actor.caller.id,
      };
      const before = previous ? effectiveScopes(previous, now) : [];
      const withdrawn = before.filter((s) => !scopes.includes(s));
      // The event first, then the receipt: no receipt stands without its event, whatever fails. When the receipt
      // cannot be written (the store went down), the request fails and the trail holds an event for a receipt that
      // is not there: it over-records, never under-records. (Receipt first, the receipt was taken back when the event
      // failed; with the store down for that too, it stayed, effective and never audited: a probe.)
      await this.audit.append({
        type: 'CONSENT_RECORDED',
        customerId: input.customerId,
        actor: actorOf(actor),
        requestId: actor.requestId,
        details: { receiptId: receipt.id, version: receipt.version, scopes: scopes.join(' '), withdrawn: withdrawn.join(' ') },
      });
      try {
        await this.repository.insert(receipt);
      } catch (error) {
        // Taken by a writer without the lock (see above): its event stays, as said, and this one goes on top.
        if (isDuplicateKeyError(error)) continue;
        throw error;
      }
      await Promise.all(this.listeners.map((listener) => listener(input.customerId, withdrawn)));
      return receipt;
    }
    throw new Error('consent receipts for this customer are too contended');
  }

  /** Every receipt of each customer, in version order; with `newest`, a read of one customer holds its newest ones only. */
  async historyOf(ids: readonly string[], newest?: number): Promise<ConsentReceipt[][]> {
    return this.repository.findByCustomerIds(ids, newest);
  }

  /** Effective consent from a customer's receipts in version order: the latest receipt, unless it has expired. */
  stateOf(customerId: string, history: readonly ConsentReceipt[], now = new Date()): ConsentStateRecord {
    const latest = history.at(-1) ?? null;
    return { customerId, receipt: latest, scopes: latest ? effectiveScopes(latest, now) : [] };
  }

  findByIds(ids: readonly string[]): Promise<Array<ConsentReceipt | null>> {
    return this.repository.findByIds(ids);
  }
}

/** The latest receipt rules; once it has expired, nothing is consented until a new receipt is recorded. */
export function effectiveScopes(latest: ConsentReceipt, now: Date): ConsentScope[] {
  return latest.expiresAt && latest.expiresAt.getTime() <= now.getTime() ? [] : latest.scopes;
}

function validateScopes(scopes: readonly string[]): ConsentScope[] {
  const known = new Set<string>(CONSENT_SCOPES);
  for (const scope of scopes) {
    if (!known.has(scope)) {
      throw new BadUserInputError(`Unknown consent scope; accepted: ${CONSENT_SCOPES.join(', ')}`, { field: 'scopes' });
    }
  }
  return [...new Set(scopes)].sort() as ConsentScope[];
}

function validateSource(source: string): string {
  const trimmed = source.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_SOURCE_LENGTH || !/^[A-Za-z0-9 ._:/-]+$/.test(trimmed)) {
    throw new BadUserInputError(`source must be 1-${MAX_SOURCE_LENGTH} characters of letters, digits, space, . _ : / -`, { field: 'source' });
  }
  if (containsIdentifier(trimmed)) throw new BadUserInputError('source must not contain an email address or phone number', { field: 'source' });
  return trimmed;
}
