import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Binary, type Collection, type Filter } from 'mongodb';
import type { PiiEnvelope, WrappedDataKey } from '../identity/pii-envelope.js';
import { chunk, BATCHED_FIND, IN_CHUNK_SIZE } from '../storage/mongo.js';
import { ANONYMOUS_CHAIN } from './audit-chain.js';

/**
 * Seals the identifier hash of a customer's audit event under a key derived
 * from that customer's data key.
 *
 * Why: audit events are immutable and hash-chained, so an identifier hash
 * written in clear would link the identifier to the customer id for ever,
 * erasure included. Sealed, the link lives exactly as long as the data key:
 * crypto-shredding the key at erasure makes every sealed hash unreadable,
 * while the chain (which covers the sealed form) still verifies.
 */
export interface IdentifierHashSeal {
  /**
   * null when the customer has no data key any more (erased): the hash is then not recorded at all. `known` is the
   * key the writer read with the customer, if it did (else it is read here).
   */
  seal(customerId: string, eventId: string, identifierHash: string, known?: WrappedDataKey | null): Promise<string | null>;
  /** One data-key query for all items; null for a shredded key or a seal that does not open. */
  openAll(items: ReadonlyArray<{ customerId: string; eventId: string; sealed: string }>): Promise<Array<string | null>>;
}

/** Customer events and anonymous ones (customerId null) alike: what the audit log and its readers use. */
export interface AuditIdentifierSeals {
  /** `priorHashes`: an anonymous event's identifier under the other key versions, filed with its lookup key. */
  seal(customerId: string | null, eventId: string, identifierHash: string, known?: WrappedDataKey | null, priorHashes?: readonly string[]): Promise<string | null>;
  openAll(items: ReadonlyArray<{ customerId: string | null; eventId: string; sealed: string }>): Promise<Array<string | null>>;
}

const FORMAT = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_INFO = 'veil.audit.identifier-hash';

export type WrappedKeyFinder = (customerIds: readonly string[]) => Promise<Array<WrappedDataKey | null>>;

export class CustomerKeySeal implements IdentifierHashSeal {
  constructor(
    private readonly envelope: PiiEnvelope,
    private readonly findWrappedKeys: WrappedKeyFinder,
  ) {}

  async seal(customerId: string, eventId: string, identifierHash: string, known: WrappedDataKey | null = null): Promise<string | null> {
    const wrapped = known ?? (await this.findWrappedKeys([customerId]))[0];
    if (!wrapped) return null;
    const key = this.deriveKey(customerId, wrapped);
    try {
      return sealWith(key, buildAad(customerId, eventId), identifierHash);
    } finally {
      key.fill(0);
    }
  }

  async openAll(items: ReadonlyArray<{ customerId: string; eventId: string; sealed: string }>): Promise<Array<string | null>> {
    if (items.length === 0) return [];
    const ids = [...new Set(items.map((item) => item.customerId))];
    const wrapped = await this.findWrappedKeys(ids);
    const keys = new Map<string, Buffer>();
    ids.forEach((id, i) => {
      const w = wrapped[i];
      if (!w) return;
      // A data key that does not unwrap (altered in the store) opens none of that customer's events: each reads
      // without its hash, as an altered seal does. It failed the whole page, and every event of other customers
      // read in the same batch (a probe flipped one bit of a key).
      try {
        keys.set(id, this.deriveKey(id, w));
      } catch {
        // Left out: its events' hashes read null.
      }
    });
    const opened = items.map((item) => {
      const key = keys.get(item.customerId);
      return key ? openSeal(key, buildAad(item.customerId, item.eventId), item.sealed) : null;
    });
    for (const key of keys.values()) key.fill(0);
    return opened;
  }

  private deriveKey(customerId: string, wrapped: WrappedDataKey): Buffer {
    const dataKey = this.envelope.unwrapDataKey(customerId, wrapped);
    try {
      return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), HKDF_INFO, 32));
    } finally {
      dataKey.fill(0);
    }
  }
}

interface AnonymousLookupDoc {
  /** The event's id. */
  _id: string;
  identifierHash: string;
  /** The same identifier's hashes under the other key versions the lookup's replica knew (absent before 2026-12-02). */
  priorHashes?: string[];
  key: Binary;
  createdAt: Date;
}

/**
 * Seals the identifier hash of an anonymous event (a lookup that matched
 * nobody) under a random key of its own, kept in `anonymous_lookups` next to
 * the hash it opens to. An anonymous event names no customer, but the same
 * person may register later: erasing that customer then deletes the keys of
 * every anonymous lookup of their identifier hashes (`forget`), and those
 * events can no longer be tied to anyone who registers with the same
 * identifier again. The chain covers the sealed form, so it still verifies.
 */
export class AnonymousLookupSeal {
  constructor(private readonly lookups: Collection<AnonymousLookupDoc>) {}

  async seal(eventId: string, identifierHash: string, priorHashes: readonly string[] = []): Promise<string> {
    const key = randomBytes(32);
    try {
      await this.lookups.insertOne({
        _id: eventId,
        identifierHash,
        ...(priorHashes.length > 0 ? { priorHashes: [...priorHashes] } : {}),
        key: new Binary(key),
        createdAt: new Date(),
      });
      return sealWith(key, buildAad(ANONYMOUS_CHAIN, eventId), identifierHash);
    } finally {
      key.fill(0);
    }
  }

  async openAll(items: ReadonlyArray<{ eventId: string; sealed: string }>): Promise<Array<string | null>> {
    const keys = new Map<string, Buffer>();
    for (const part of chunk([...new Set(items.map((item) => item.eventId))], IN_CHUNK_SIZE)) {
      for (const doc of await this.lookups.find({ _id: { $in: part } }, BATCHED_FIND).toArray()) keys.set(doc._id, Buffer.from(doc.key.buffer));
    }
    const opened = items.map((item) => {
      const key = keys.get(item.eventId);
      return key ? openSeal(key, buildAad(ANONYMOUS_CHAIN, item.eventId), item.sealed) : null;
    });
    for (const key of keys.values()) key.fill(0);
    return opened;
  }

  /** The events of the anonymous lookups of these identifier hashes (data-subject access). */
  async eventIdsFor(identifierHashes: readonly string[]): Promise<string[]> {
    if (identifierHashes.length === 0) return [];
    const docs = await this.lookups.find(byAnyHash(identifierHashes), { ...BATCHED_FIND, projection: { _id: 1 } }).toArray();
    return docs.map((doc) => doc._id);
  }

  /** Erasure: the anonymous lookups of these identifier hashes can no longer be opened. Returns how many were. */
  async forget(identifierHashes: readonly string[]): Promise<number> {
    if (identifierHashes.length === 0) return 0;
    return (await this.lookups.deleteMany(byAnyHash(identifierHashes))).deletedCount;
  }
}

/** Lookups filed under any of these hashes, as their current one or under another key version. */
function byAnyHash(identifierHashes: readonly string[]): Filter<AnonymousLookupDoc> {
  const hashes = [...new Set(identifierHashes)];
  return { $or: [{ identifierHash: { $in: hashes } }, { priorHashes: { $in: hashes } }] };
}

/** Customer events under the customer's key, anonymous ones under their own. */
export class IdentifierSeals implements AuditIdentifierSeals {
  constructor(
    private readonly customers: IdentifierHashSeal,
    private readonly anonymous: AnonymousLookupSeal,
  ) {}

  seal(customerId: string | null, eventId: string, identifierHash: string, known: WrappedDataKey | null = null, priorHashes: readonly string[] = []): Promise<string | null> {
    return customerId === null ? this.anonymous.seal(eventId, identifierHash, priorHashes) : this.customers.seal(customerId, eventId, identifierHash, known);
  }

  async openAll(items: ReadonlyArray<{ customerId: string | null; eventId: string; sealed: string }>): Promise<Array<string | null>> {
    const ofCustomers = items.flatMap((item, i) => (item.customerId === null ? [] : [{ i, item: { ...item, customerId: item.customerId } }]));
    const ofAnonymous = items.flatMap((item, i) => (item.customerId === null ? [{ i, item }] : []));
    const [openedCustomers, openedAnonymous] = await Promise.all([
      ofCustomers.length > 0 ? this.customers.openAll(ofCustomers.map((c) => c.item)) : [],
      ofAnonymous.length > 0 ? this.anonymous.openAll(ofAnonymous.map((a) => a.item)) : [],
    ]);
    const opened: Array<string | null> = new Array(items.length).fill(null);
    ofCustomers.forEach((c, j) => (opened[c.i] = openedCustomers[j] ?? null));
    ofAnonymous.forEach((a, j) => (opened[a.i] = openedAnonymous[j] ?? null));
    return opened;
  }
}

// Bound to the chain and the event: a sealed value copied onto another event does not open.
function buildAad(chain: string, eventId: string): Buffer {
  return Buffer.from(`${HKDF_INFO}\0${chain}\0${eventId}`, 'utf8');
}

function sealWith(key: Buffer, aad: Buffer, value: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${FORMAT}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

function openSeal(key: Buffer, aad: Buffer, sealed: string): string | null {
  const [format, ivText, bodyText] = sealed.split('.');
  if (format !== FORMAT || !ivText || !bodyText) return null;
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || body.length <= TAG_BYTES) return null;
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch (error) {
    // An altered seal fails authentication. verifyAuditTrail reports the altered event; a reader gets no hash rather than a wrong one.
    if (error instanceof Error) return null;
    throw error;
  }
}
