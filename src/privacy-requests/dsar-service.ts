import type { AuditLog } from '../audit/audit-log.js';
import type { AuditTrailService } from '../audit/audit-trail-service.js';
import type { ConsentService } from '../consent/consent-service.js';
import { actorOf, assertCustomerId, type Actor, type CustomerService } from '../customers/customer-service.js';
import { hashesOf, PII_FIELDS, type PiiField } from '../customers/customer-types.js';
import { BadUserInputError, NotFoundError } from '../errors.js';
import { unlessRedisIsDown } from '../http/infrastructure-errors.js';
import type { SupportSessionRecord } from '../context-snapshots/session-store.js';
import type { DataSubjectExportRecord } from './dsar-types.js';
import type { PiiAccessGrantRecord } from './grant-types.js';

/** Where support records come from (src/support-records/); absent, the export lists none. */
export interface SupportRecordsSource {
  exportFor(customerId: string): Promise<DataSubjectExportRecord['supportRecords']>;
}

/** What the export reads besides MongoDB: live sessions and grants (Redis), and anonymous lookups before registration. */
export interface DsarSources {
  supportRecords: SupportRecordsSource | null;
  liveSessionsOf(customerId: string): Promise<SupportSessionRecord[]>;
  grantsOf(customerId: string): Promise<PiiAccessGrantRecord[]>;
  anonymousLookupEventIds(identifierHashes: readonly string[]): Promise<string[]>;
}

export interface DsarRange {
  from?: Date | null;
  to?: Date | null;
}

/** How the export left the building, recorded in the DSAR_EXPORT event. */
export type DsarDelivery = 'graphql' | 'json_download';


const NO_SUPPORT_RECORDS: DataSubjectExportRecord['supportRecords'] = {
  tickets: [],
  subscriptions: [],
  transactions: [],
  interactions: [],
  deviceFingerprints: [],
};

/**
 * Data-subject access: everything held about one person. The DSAR_EXPORT
 * event is written first, before anything is decrypted or read: no event, no
 * export (fail closed). An erased customer can still be exported: status
 * ERASED, no attributes or identifiers, the consent receipts and the audit
 * trail that remain.
 */
export class DsarService {
  constructor(
    private readonly customers: CustomerService,
    private readonly consent: ConsentService,
    private readonly trail: AuditTrailService,
    private readonly audit: AuditLog,
    private readonly sources: DsarSources,
  ) {}

  async export(customerId: string, range: DsarRange, actor: Actor, delivery: DsarDelivery): Promise<DataSubjectExportRecord> {
    assertCustomerId(customerId);
    const from = range.from ?? null;
    const to = range.to ?? null;
    if (from && to && from.getTime() > to.getTime()) throw new BadUserInputError('from must not be after to', { field: 'from' });
    const [customer] = await this.customers.findByIds([customerId]);
    if (!customer) throw new NotFoundError('No customer has this id');

    const event = await this.audit.append({
      type: 'DSAR_EXPORT',
      customerId,
      actor: actorOf(actor),
      requestId: actor.requestId,
      details: { delivery, from: from?.toISOString() ?? null, to: to?.toISOString() ?? null, status: customer.status },
    });
    const parts = await Promise.all([
      this.customers.identifiersOf([customerId]),
      this.consent.historyOf([customerId]),
      this.sources.supportRecords ? this.sources.supportRecords.exportFor(customerId) : Promise.resolve(NO_SUPPORT_RECORDS),
      this.trail.eventsInRange(customerId, from, to),
      // Redis holds only what expires; while it is down the export still answers (legal deadlines), without those parts.
      unlessRedisIsDown(this.sources.liveSessionsOf(customerId), null),
      unlessRedisIsDown(this.sources.grantsOf(customerId), null),
    ]);
    // Lookups made, before the person registered, with an identifier they registered with. A number linked later
    // may have been someone else's when it was looked up (a recycled number's earlier owner), so its lookups are
    // left out, made before or after the registration. A registration files its identifiers at the customer's
    // creation time exactly; a window of a second after it also took a number linked 77 ms later (a probe). Releases
    // before 2026-11-30 filed them a few milliseconds later: their lookups are left out too, the safe side.
    const registeredWith = (parts[0][0] ?? []).filter((i) => i.linkedAt.getTime() === customer.createdAt.getTime());
    // With their hashes under older key versions: a lookup made before a rotation was filed under one of those. Read
    // before the status, as the parts are: an erasure deletes these too (a regression probe's export read them after
    // it, said ACTIVE and listed none).
    const lookupIds = await this.sources.anonymousLookupEventIds(registeredWith.flatMap(hashesOf));
    // Read again once the event is written, and decrypted with the key read along with it: an erasure that completed
    // between the first read and the event left an export of clear attributes after its receipt, and a DSAR_EXPORT
    // after its DATA_DELETION (a probe). The event keeps the status read first; the export shows what is held now.
    // Read after everything an erasure deletes: a status only ever becomes ERASED, so a customer ACTIVE now was ACTIVE
    // while they were read.
    const [now] = await this.customers.findByIds([customerId]);
    const held = now ?? { ...customer, status: 'ERASED' as const, encrypted: {}, dataKey: null };
    // A ciphertext or data key altered in the store fails its own fields, not the export (a probe: one flipped bit
    // made it an internal error, and the legal deadline does not wait for a repair).
    const decrypted = this.customers.decryptFields(held, PII_FIELDS);
    // An active customer's ciphertexts with no data key to open them (deleted by hand) are unreadable too: they read as
    // absent, and the export looked complete (a regression probe).
    // So is a masked value without its ciphertext (the ciphertexts damaged by hand): it looked like no attribute.
    const keyless = held.status === 'ACTIVE' && held.dataKey === null;
    const unreadable = PII_FIELDS.filter(
      (field) =>
        decrypted[field] instanceof Error ||
        (keyless && held.encrypted?.[field] !== undefined) ||
        (held.status === 'ACTIVE' && held.masked[field] !== null && held.encrypted?.[field] === undefined),
    );
    const attributes = Object.fromEntries(PII_FIELDS.map((field) => [field, decrypted[field] instanceof Error ? null : (decrypted[field] ?? null)])) as Record<PiiField, string | null>;
    // A customer marked ERASED has an erasure under way or done, which deletes its identifiers, the index of its
    // lookups, support records, sessions and grants after marking it (ErasureService, steps 3-5): an export racing
    // one listed identifiers under status ERASED (a probe, 9 of 84 racing exports). It shows what an erased
    // customer's export shows.
    const erased = held.status === 'ERASED';
    const [storedIdentifiers, receipts, storedSupportRecords, auditEvents, storedSessions, storedGrants] = parts;
    const identifiers = erased ? [] : storedIdentifiers;
    const supportRecords = erased ? NO_SUPPORT_RECORDS : storedSupportRecords;
    // Still null when Redis could not be read: the download names them incomplete.
    const supportSessions = erased && storedSessions ? [] : storedSessions;
    const piiAccessGrants = erased && storedGrants ? [] : storedGrants;
    const eventIds = erased ? [] : lookupIds;
    // In time order, as a reader of the export expects; the shared anonymous chain numbers concurrent lookups in the
    // order they were appended, which is not always the order they happened in.
    const anonymousLookups = (await this.trail.anonymousEventsInRange(eventIds, from, to))
      .filter((event) => event.occurredAt < customer.createdAt)
      .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.sequence - b.sequence);
    return {
      customerId,
      status: held.status,
      generatedAt: event.occurredAt,
      displayName: attributes.DISPLAY_NAME ?? null,
      email: attributes.EMAIL ?? null,
      phone: attributes.PHONE ?? null,
      country: held.country,
      preferredLanguage: held.preferredLanguage,
      createdAt: customer.createdAt,
      identifiers: identifiers[0] ?? [],
      consentReceipts: receipts[0] ?? [],
      supportRecords,
      auditEvents,
      anonymousLookups,
      supportSessions,
      piiAccessGrants,
      unreadable,
      auditEventId: event.id,
    };
  }
}

