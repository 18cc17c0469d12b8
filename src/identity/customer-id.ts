import { randomFillSync } from 'node:crypto';

/** Crockford's base32: no I, L, O or U, so ids survive being read aloud or retyped. */
const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const ID_BODY_LENGTH = 26;

export type IdPrefix = 'con' | 'aud' | 'grt' | 'era' | 'ses';

const ID_PREFIXES: readonly IdPrefix[] = ['con', 'aud', 'grt', 'era', 'ses'];

const CUSTOMER_ID_PATTERN = /^cus_[0-9A-HJKMNP-TV-Z]{26}$/;
const ID_BODY_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * A new pseudonymous customer id: `cus_` and 26 Crockford base32 characters
 * carrying 130 random bits.
 *
 * Deliberately not a ULID: a ULID's first ten characters are its creation
 * time, and an id that shows when someone first contacted us is personal
 * data in its own right. Sortability is not needed; `createdAt` is stored.
 */
export function newCustomerId(): string {
  return `cus_${generateRandomBody()}`;
}

/** Tells whether a caller-supplied value has the exact shape of a customer id. */
export function isCustomerId(s: unknown): s is string {
  return typeof s === 'string' && CUSTOMER_ID_PATTERN.test(s);
}

/**
 * A new id for another kind of record (consent receipt, audit event, PII
 * grant, erasure receipt, support session), same shape as a customer id so
 * that one look tells what an id refers to.
 */
export function newPrefixedId(prefix: IdPrefix): string {
  assertKnownPrefix(prefix);
  return `${prefix}_${generateRandomBody()}`;
}

/** Tells whether a text holds an id of ours anywhere in it (`cus_`, `con_`, ... and 26 base32 characters). */
export function containsRecordId(text: string): boolean {
  return /(?:cus|con|aud|grt|era|ses)_[0-9A-HJKMNP-TV-Z]{26}/i.test(text);
}

/** Tells whether a value is an id with the given prefix. */
export function isPrefixedId(prefix: IdPrefix, s: unknown): s is string {
  assertKnownPrefix(prefix);
  return (
    typeof s === 'string' &&
    s.startsWith(`${prefix}_`) &&
    ID_BODY_PATTERN.test(s.slice(prefix.length + 1))
  );
}

/** Ids drawn per refill of the entropy pool: one CSPRNG call per 256 ids instead of one per id. */
const IDS_PER_REFILL = 256;
const entropy = Buffer.alloc(ID_BODY_LENGTH * IDS_PER_REFILL);
let entropyOffset = entropy.length;

/**
 * 26 characters of 5 random bits each. Masking a random byte to its low five
 * bits is uniform because 256 is a multiple of 32, so there is no modulo bias.
 * The bytes come from a pool refilled by the CSPRNG (as `crypto.randomUUID`
 * caches its entropy); every byte is used once. An audit-heavy request draws
 * hundreds of ids, and one `randomBytes` per id was 2% of its CPU.
 */
function generateRandomBody(): string {
  if (entropyOffset + ID_BODY_LENGTH > entropy.length) {
    randomFillSync(entropy);
    entropyOffset = 0;
  }
  let body = '';
  for (let i = entropyOffset; i < entropyOffset + ID_BODY_LENGTH; i++) {
    body += CROCKFORD_ALPHABET[(entropy[i] as number) & 0x1f];
  }
  entropy.fill(0, entropyOffset, entropyOffset + ID_BODY_LENGTH);
  entropyOffset += ID_BODY_LENGTH;
  return body;
}

function assertKnownPrefix(prefix: IdPrefix): void {
  // Guards JavaScript callers and casts: an arbitrary prefix would make ids
  // that no validator in the system recognises.
  if (!ID_PREFIXES.includes(prefix)) {
    throw new TypeError('unknown id prefix');
  }
}
