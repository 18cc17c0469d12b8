import type { EncryptedValue, WrappedDataKey } from '../identity/pii-envelope.js';
import type { IdentifierKind } from '../identity/normalise-identifier.js';

export type CustomerStatus = 'ACTIVE' | 'ERASED';
export type PiiField = 'DISPLAY_NAME' | 'EMAIL' | 'PHONE';
export const PII_FIELDS: readonly PiiField[] = ['DISPLAY_NAME', 'EMAIL', 'PHONE'];

/** Masked forms are computed once, at write time, so an everyday read never decrypts. */
export type MaskedAttributes = Record<PiiField, string | null>;
export type EncryptedAttributes = Partial<Record<PiiField, EncryptedValue>>;

/** A customer as the service layer sees it. Clear-text values are never held here. */
export interface CustomerRecord {
  id: string;
  status: CustomerStatus;
  country: string | null;
  preferredLanguage: string | null;
  createdAt: Date;
  erasedAt: Date | null;
  masked: MaskedAttributes;
  /** null when the read left the ciphertexts out (a caller without `pii:read` can never see clear text). */
  encrypted: EncryptedAttributes | null;
  /** The data key the ciphertexts open with, wrapped by the master key: null when left out with them, or erased. */
  dataKey: WrappedDataKey | null;
  /**
   * Set from the insert until CUSTOMER_REGISTERED is written: a registration that failed half-way while the store
   * was down (its clean-up failing too) leaves it set, and the next registration of its identifiers completes it.
   */
  registrationPending?: boolean;
}

export interface IdentifierRecord {
  hash: string;
  kind: IdentifierKind;
  keyVersion: string;
  customerId: string;
  linkedAt: Date;
  /**
   * The same identifier's hashes under the older key versions that were configured when it was filed (and those
   * of the record it was re-keyed from). Never used to resolve anyone: they find what was filed under an older
   * version, such as the person's anonymous lookups before they registered (data-subject access, erasure).
   */
  priorHashes: string[];
  /**
   * Set while a link is under way (claimed, not yet filled and audited); absent once it is settled, and on records
   * of registrations and re-keying, which are whole when written.
   */
  pendingSince?: Date | null;
  /**
   * A CRM id's skeleton, keyed like the hash (HmacKeyring.skeletonHash, under the record's key version), and its
   * length: what the own-identifier screen looks for in free text. Absent on other kinds, on CRM ids too short to
   * screen, and on CRM ids filed before 2026-12-02 until they are next registered, linked or resolved.
   */
  skeleton?: { hash: string; length: number } | null;
}

/** Every hash an identifier record stands for: its own and its prior ones. */
export function hashesOf(identifier: IdentifierRecord): string[] {
  return [identifier.hash, ...identifier.priorHashes];
}

/**
 * The most identifiers one customer may hold (as listed: one per identifier, whatever its key versions). A person
 * has a few emails, phone numbers and CRM ids; without a bound, 200 CRM ids linked to one customer made
 * `Customer.identifiers` of 1,500 representations of it an 87 MB answer (a probe). `_entities` counts the list at this.
 */
export const MAX_IDENTIFIERS_PER_CUSTOMER = 50;

/** The longest display name a registration takes. */
export const MAX_DISPLAY_NAME_LENGTH = 200;
/** The longest interaction id a lookup takes (kept in its IDENTITY_RESOLUTION event). */
export const MAX_INTERACTION_ID_LENGTH = 128;

/**
 * A customer's identifiers as `Customer.identifiers` lists them: one per identifier. Records of one identifier
 * under several key versions (re-keying keeps the old ones until their version is retired) name each other in
 * `priorHashes`; of those, the one under `currentVersion` is listed, or else the one that names the most others
 * (the latest re-keyed).
 */
export function listedIdentifiers(records: readonly IdentifierRecord[], currentVersion: string): IdentifierRecord[] {
  const listed: IdentifierRecord[] = [];
  const rank = (r: IdentifierRecord) => (r.keyVersion === currentVersion ? Number.MAX_SAFE_INTEGER : r.priorHashes.length);
  for (const record of records) {
    const same = listed.findIndex((other) => other.priorHashes.includes(record.hash) || record.priorHashes.includes(other.hash));
    if (same < 0) listed.push(record);
    else if (rank(record) > rank(listed[same] as IdentifierRecord)) listed[same] = record;
  }
  return listed;
}

/** The encrypted attributes of a record read with them; reading them from a masked-only read is a programming error. */
export function ciphertextsOf(customer: CustomerRecord): EncryptedAttributes {
  if (customer.encrypted === null) throw new Error('this customer record was read without its encrypted attributes');
  return customer.encrypted;
}
