import { MongoError } from 'mongodb';
import { ConfigError, ServiceUnavailableError } from '../errors.js';
import { maskShowsHeldIdentifier, namesAnEmailsLocalPart } from './customer-service.js';
import type { HmacKeyring } from '../identity/hmac-keyring.js';
import type { PiiEnvelope } from '../identity/pii-envelope.js';
import { maskDisplayName, maskEmail, maskPhone } from '../policy/masks.js';
import type { CustomerRepository } from './customer-repository.js';
import { PII_FIELDS, type MaskedAttributes, type PiiField } from './customer-types.js';

/** The masked forms of a customer's clear attributes, as a registration or a link stores them. */
export function maskAttributes(clear: Record<PiiField, string | null>): MaskedAttributes {
  return {
    DISPLAY_NAME: clear.DISPLAY_NAME === null ? null : maskDisplayName(clear.DISPLAY_NAME),
    EMAIL: clear.EMAIL === null ? null : maskEmail(clear.EMAIL),
    PHONE: clear.PHONE === null ? null : maskPhone(clear.PHONE),
  };
}

export interface MaskRewriteReport {
  /** Active customers looked at. */
  customers: number;
  /** Customers with at least one mask that differed from the mask of their clear value. */
  customersChanged: number;
  /** Masks that differed, per field (rewritten unless `dryRun`). */
  fields: Record<PiiField, number>;
  /** Customers whose data key or an attribute did not decrypt, or whose document is damaged: left as they are. */
  unreadable: number;
  /**
   * Display names whose new mask would show an identifier the customer holds (give back the email with the masked email,
   * or show a CRM id or another email linked under the old mask): old mask kept.
   */
  kept: number;
  /** Customers whose lock another writer held past the wait: left for another run. */
  busy: number;
}

/**
 * Recomputes the stored masks of every active customer from the clear values, for masks written under rules that
 * have changed since (the mask rules are fixed at write time: a release that corrects one leaves what was stored).
 * Each customer is read, decrypted in this process only and updated under its lock (FerretDB loses one of two
 * concurrent updates of a document, and an erasure marks the customer under the same lock), and only a mask that
 * is still the one read is replaced. Nothing clear leaves the process: the report holds counts only. A data key
 * wrapped under another master key stops the run (ConfigError): the configured `PII_MASTER_KEY` is not this
 * database's.
 */
export async function rewriteStoredMasks(
  repository: CustomerRepository,
  envelope: PiiEnvelope,
  /** Hashes what a new mask shows, to compare with the identifiers the customer holds (maskShowsHeldIdentifier). */
  keyring: HmacKeyring,
  { dryRun = false, pageSize = 200 }: { dryRun?: boolean; pageSize?: number } = {},
): Promise<MaskRewriteReport> {
  const report: MaskRewriteReport = { customers: 0, customersChanged: 0, fields: { DISPLAY_NAME: 0, EMAIL: 0, PHONE: 0 }, unreadable: 0, kept: 0, busy: 0 };
  for (let after: string | null = null; ; ) {
    const ids = await repository.listActiveCustomerIds(after, pageSize);
    if (ids.length === 0) return report;
    after = ids[ids.length - 1] as string;
    for (const id of ids) {
      try {
        await repository.withCustomerLock(id, () => rewriteOne(id));
      } catch (error) {
        // A document of the wrong shape (a ciphertext that is a string, an empty data key: a probe's stopped the run
        // half-way, reported as MongoDB unusable) is this customer's problem: counted, and the run goes on.
        if (error instanceof ConfigError || error instanceof MongoError) throw error;
        // Its lock held past the wait by another writer: not damaged, only busy (a regression probe counted it damaged).
        if (error instanceof ServiceUnavailableError) report.busy += 1;
        else report.unreadable += 1;
      }
    }
  }

  async function newNameMaskShowsAnIdentifier(id: string, name: string, mask: string | null, { email, phone }: { email: string | null; phone: string | null }): Promise<boolean> {
    if (email !== null && namesAnEmailsLocalPart(name, [email])) return true;
    if (mask === null) return false;
    const [held] = await repository.findIdentifiersByCustomerIds([id]);
    return maskShowsHeldIdentifier(mask, held ?? [], keyring, { email, phone });
  }

  async function rewriteOne(id: string): Promise<void> {
    const [customer] = await repository.findByIds([id]);
    if (!customer || customer.status !== 'ACTIVE' || customer.registrationPending) return;
    report.customers += 1;
    const clear: Record<PiiField, string | null> = { DISPLAY_NAME: null, EMAIL: null, PHONE: null };
    const encrypted = customer.encrypted ?? {};
    if (PII_FIELDS.some((field) => encrypted[field])) {
      // A fingerprint altered into something that is none is a damaged document, not another master key.
      if (!customer.dataKey || !/^[0-9a-f]{16}$/.test(String(customer.dataKey.masterKeyId))) {
        report.unreadable += 1;
        return;
      }
      try {
        const dataKey = envelope.unwrapDataKey(id, customer.dataKey);
        try {
          for (const field of PII_FIELDS) {
            const value = encrypted[field];
            if (value) clear[field] = envelope.decryptField(dataKey, id, field, value);
          }
        } finally {
          dataKey.fill(0);
        }
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        report.unreadable += 1;
        return;
      }
    }
    const masks = maskAttributes(clear);
    // A field without a ciphertext keeps what it has: its mask was written with it, or is null.
    let changed = PII_FIELDS.filter((field) => clear[field] !== null && masks[field] !== customer.masked[field]);
    // A name the registration would refuse today, as its new mask and the masked email together give back the
    // email (`Zaraquill #7` beside zaraquill7@: `Zaraquill 7.` and `z***@`; a probe): its old mask stays.
    // Nor one that shows an identifier linked while the old mask was stored, which the link was checked against (a
    // CRM id in `Smith, ACME-R5HVK3`, stored as `Smith, A.` by an earlier rule; a regression probe).
    if (changed.includes('DISPLAY_NAME') && clear.DISPLAY_NAME !== null && (await newNameMaskShowsAnIdentifier(id, clear.DISPLAY_NAME, masks.DISPLAY_NAME, { email: clear.EMAIL, phone: clear.PHONE }))) {
      changed = changed.filter((field) => field !== 'DISPLAY_NAME');
      report.kept += 1;
    }
    if (changed.length === 0) return;
    report.customersChanged += 1;
    for (const field of changed) report.fields[field] += 1;
    if (dryRun) return;
    const expected: Partial<MaskedAttributes> = {};
    const next: Partial<MaskedAttributes> = {};
    for (const field of changed) {
      expected[field] = customer.masked[field];
      next[field] = masks[field];
    }
    await repository.replaceMasksLocked(id, expected, next);
  }
}
