import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Binary, type Collection, type Db } from 'mongodb';
import { ServiceUnavailableError } from '../errors.js';
import type { EncryptedValue, WrappedDataKey } from '../identity/pii-envelope.js';
import type { IdentifierKind } from '../identity/normalise-identifier.js';
import { BACKGROUND_COMMENT_PREFIX, chunk, COLLECTIONS, isDuplicateKeyError, BATCHED_FIND, IN_CHUNK_SIZE } from '../storage/mongo.js';
import type {
  CustomerRecord,
  CustomerStatus,
  EncryptedAttributes,
  IdentifierRecord,
  MaskedAttributes,
  PiiField,
} from './customer-types.js';
import { ciphertextsOf, PII_FIELDS } from './customer-types.js';


interface EncryptedDoc {
  iv: Binary;
  ct: Binary;
  tag: Binary;
}
interface CustomerDoc {
  _id: string;
  status: CustomerStatus;
  country: string | null;
  preferredLanguage: string | null;
  createdAt: Date;
  erasedAt: Date | null;
  masked: Partial<Record<PiiField, string | null>>;
  encrypted: Partial<Record<PiiField, EncryptedDoc>>;
  /** The customer's data key wrapped by the master key; absent once erased, and on customers stored before it moved here. */
  dataKey?: WrappedKeyDoc;
  registrationPending?: boolean;
}
interface WrappedKeyDoc {
  masterKeyId: string;
  iv: Binary;
  ct: Binary;
  tag: Binary;
}
interface IdentifierDoc {
  _id: string;
  customerId: string;
  kind: IdentifierKind;
  keyVersion: string;
  linkedAt: Date;
  /** Absent on records filed by the release of 2026-11-30 (d9fbfee) or before, and when no older key version was configured. */
  priorHashes?: string[];
  /** A link under way (see IdentifierRecord); absent on every record written before this release. */
  pendingSince?: Date;
  /** A CRM id's skeleton hash and length (see IdentifierRecord); absent on records filed before 2026-12-02 (7605b97). */
  skeletonHash?: string;
  skeletonLength?: number;
}
/** Where data keys were kept before 2026-11-30: still read for customers stored then, and deleted on erasure. */
interface CustomerKeyDoc extends WrappedKeyDoc {
  _id: string;
  createdAt: Date;
}

/** Held while one process updates a customer document or writes its next consent receipt (see withCustomerLock). */
interface CustomerLockDoc {
  _id: string;
  token: string;
  acquiredAt: Date;
}

/** A lock older than this was left by a process that died while holding it, and may be taken over. */
const LOCK_STALE_MS = 10_000;
/** How long an update waits for another one of the same customer before it gives up (SERVICE_UNAVAILABLE). */
const LOCK_WAIT_MS = 15_000;

export type ClaimResult = { claimed: true } | { claimed: false; ownerId: string; pendingSince: Date | null };

/**
 * MongoDB access for customers, their identifier hashes and their wrapped data keys.
 *
 * A customer's wrapped data key lives in the customer document, next to the ciphertexts it opens (envelope
 * encryption as usual): a read that may decrypt gets both in one `find`, and a masked read leaves both out.
 * Customers stored before 2026-11-30 have theirs in `customer_keys` only, read when the document has none.
 */
export class CustomerRepository {
  private readonly customers: Collection<CustomerDoc>;
  private readonly identifiers: Collection<IdentifierDoc>;
  private readonly keys: Collection<CustomerKeyDoc>;
  private readonly locks: Collection<CustomerLockDoc>;
  /** Per customer, the last writer of this process waiting for or holding the customer's lock (withCustomerLock). */
  private readonly localLockQueue = new Map<string, Promise<void>>();

  constructor(db: Db) {
    this.customers = db.collection<CustomerDoc>(COLLECTIONS.customers);
    this.identifiers = db.collection<IdentifierDoc>(COLLECTIONS.identifiers);
    this.keys = db.collection<CustomerKeyDoc>(COLLECTIONS.customerKeys);
    this.locks = db.collection<CustomerLockDoc>(COLLECTIONS.customerLocks);
  }

  /**
   * The key goes into the customer document, and for now into `customer_keys` as well: the release before this one
   * reads keys only from there, so a rolling upgrade (old replicas next to new ones) and a rollback keep decrypting
   * customers that new replicas register. Nothing reads that copy while the document has the key; erasure deletes
   * both. A later release stops writing it.
   */
  async insertCustomer(customer: CustomerRecord, wrappedKey: WrappedDataKey): Promise<void> {
    await this.keys.insertOne({ _id: customer.id, ...toWrappedKeyDoc(wrappedKey), createdAt: customer.createdAt });
    await this.customers.insertOne({ ...toCustomerDoc(customer), dataKey: toWrappedKeyDoc(wrappedKey) });
  }

  /** Active customers still pending registration that were stored before `before` (ids only, at most `limit`). */
  async findPendingRegistrations(before: Date, limit = 1000): Promise<string[]> {
    const filter = { registrationPending: true, status: 'ACTIVE' as const, createdAt: { $lt: before } };
    const docs = await this.customers.find(filter, { projection: { _id: 1 }, limit, comment: `${BACKGROUND_COMMENT_PREFIX}abandoned-registration sweep` }).toArray();
    return docs.map((doc) => doc._id);
  }

  /** Its CUSTOMER_REGISTERED is written: the registration is complete. */
  async settleRegistration(customerId: string): Promise<void> {
    await this.customers.updateOne({ _id: customerId }, { $unset: { registrationPending: '' } });
  }

  /** Removes a customer that lost a registration race before anyone could see it. */
  async deleteUnclaimedCustomer(customerId: string): Promise<void> {
    await this.customers.deleteOne({ _id: customerId });
    await this.keys.deleteOne({ _id: customerId });
  }

  /**
   * One `find` per chunk of 500 ids; results in key order, null for misses. Without `ciphertexts` the encrypted
   * attributes and the wrapped data key stay in the database (`encrypted` and `dataKey` are null): a masked read
   * never needs them, and they are the bulk of the document.
   */
  async findByIds(ids: readonly string[], { ciphertexts = true }: { ciphertexts?: boolean } = {}): Promise<Array<CustomerRecord | null>> {
    const byId = new Map<string, CustomerRecord>();
    const options = { ...BATCHED_FIND, ...(ciphertexts ? {} : { projection: MASKED_ONLY }) };
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      // One id as an equality: FerretDB reads that one document, while it filters an `$in` by scanning every
      // customer (a registration's or a consent's read of its own customer grew with the customer count).
      const docs = await this.customers.find(part.length === 1 ? { _id: part[0] as string } : { _id: { $in: part } }, options).toArray();
      for (const doc of docs) byId.set(doc._id, parseCustomerDoc(doc, ciphertexts));
    }
    if (ciphertexts) {
      const older = [...byId.values()].filter((c) => c.dataKey === null && c.status === 'ACTIVE').map((c) => c.id);
      const keys = older.length > 0 ? await this.findStoredApartKeys(older) : new Map<string, WrappedDataKey>();
      for (const [id, key] of keys) byId.set(id, { ...(byId.get(id) as CustomerRecord), dataKey: key });
    }
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** The wrapped data keys alone, in id order; null for an unknown or erased customer. */
  async findWrappedKeys(ids: readonly string[]): Promise<Array<WrappedDataKey | null>> {
    const byId = new Map<string, WrappedDataKey | null>();
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      const docs = await this.customers.find(byIds(part), { ...BATCHED_FIND, projection: { status: 1, dataKey: 1 } }).toArray();
      for (const doc of docs) byId.set(doc._id, doc.dataKey ? parseWrappedKeyDoc(doc.dataKey) : null);
      const older = docs.filter((doc) => !doc.dataKey && doc.status === 'ACTIVE').map((doc) => doc._id);
      if (older.length > 0) for (const [id, key] of await this.findStoredApartKeys(older)) byId.set(id, key);
    }
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** Keys of customers stored before the key moved into the customer document. */
  private async findStoredApartKeys(ids: readonly string[]): Promise<Map<string, WrappedDataKey>> {
    const docs = await this.keys.find(byIds(ids), BATCHED_FIND).toArray();
    return new Map(docs.map((doc) => [doc._id, parseWrappedKeyDoc(doc)]));
  }

  private readonly filingListeners = new Set<() => void>();

  /** Calls `listener` whenever this process files an identifier (registration, link): screens of text forget their verdicts. */
  onIdentifierFiling(listener: () => void): void {
    this.filingListeners.add(listener);
  }

  /**
   * Claims an identifier hash for a customer. The hash is the document's _id,
   * so of any number of racing claims exactly one wins.
   */
  async claimIdentifier(identifier: IdentifierRecord): Promise<ClaimResult> {
    // Told before the insert and after it (a listener that forgets what it screened must not miss one being filed).
    for (const listener of this.filingListeners) listener();
    try {
      await this.identifiers.insertOne({
        _id: identifier.hash,
        customerId: identifier.customerId,
        kind: identifier.kind,
        keyVersion: identifier.keyVersion,
        linkedAt: identifier.linkedAt,
        ...(identifier.priorHashes.length > 0 ? { priorHashes: identifier.priorHashes } : {}),
        ...(identifier.pendingSince ? { pendingSince: identifier.pendingSince } : {}),
        ...(identifier.skeleton ? { skeletonHash: identifier.skeleton.hash, skeletonLength: identifier.skeleton.length } : {}),
      });
      // And after it: a screen that ran between the call above and the insert found nothing and kept that (a probe).
      for (const listener of this.filingListeners) listener();
      return { claimed: true };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const owner = await this.identifiers.findOne({ _id: identifier.hash });
      if (!owner) return this.claimIdentifier(identifier);
      return { claimed: false, ownerId: owner.customerId, pendingSince: owner.pendingSince ?? null };
    }
  }

  /** Equality lookups on _id, one per hash: pushed down to the index on every backend. */
  async findIdentifiersByHashes(hashes: readonly string[]): Promise<IdentifierRecord[]> {
    const found = await Promise.all(hashes.map((hash) => this.identifiers.findOne({ _id: hash })));
    return found.filter((doc): doc is IdentifierDoc => doc !== null).map(parseIdentifierDoc);
  }

  /** Whether any identifier is filed under one of these hashes (one `find`; a `$in`, which FerretDB answers by scanning). */
  async hasAnyIdentifier(hashes: readonly string[]): Promise<boolean> {
    // Under a prior key version too (a record filed under the current one keeps the others in priorHashes), and a CRM
    // id's skeleton hash: an export shows both, and regression probes' digests of each were logged as request ids.
    const unique = [...new Set(hashes)];
    const filter = { $or: [{ _id: { $in: unique } }, { priorHashes: { $in: unique } }, { skeletonHash: { $in: unique } }] };
    return (await this.identifiers.findOne(filter, { projection: { _id: 1 } })) !== null;
  }

  /** Files a CRM id's skeleton on a record filed without one. Racing calls write the same value: a lost update loses nothing. */
  async fileSkeleton(hash: string, customerId: string, skeleton: { hash: string; length: number }): Promise<void> {
    await this.identifiers.updateOne({ _id: hash, customerId }, { $set: { skeletonHash: skeleton.hash, skeletonLength: skeleton.length } });
  }

  /** Adds hashes to a record's priorHashes. Racing calls add the same hashes, so a lost update loses nothing. */
  async addPriorHashes(hash: string, customerId: string, priorHashes: readonly string[]): Promise<void> {
    if (priorHashes.length === 0) return;
    await this.identifiers.updateOne({ _id: hash, customerId }, { $addToSet: { priorHashes: { $each: [...priorHashes] } } });
  }

  /**
   * Retiring an HMAC key version (`npm run identifiers:retire`): how many identifier records are filed under
   * `version`, and how many of those another record of the same customer, under another version, names as a prior
   * hash (re-keyed: the identifier stays findable without them). With `remove`, those are deleted; the others are
   * identifiers nobody has looked up since the rotation, which nothing can re-key without the identifier itself.
   */
  async retireKeyVersion(version: string, remove: boolean): Promise<{ records: number; superseded: number; removed: number }> {
    const docs = await this.identifiers.find({ keyVersion: version }, { projection: { _id: 1, customerId: 1 } }).toArray();
    const superseded: IdentifierDoc[] = [];
    for (const doc of docs) {
      const successor = await this.identifiers.findOne({ customerId: doc.customerId, priorHashes: doc._id, keyVersion: { $ne: version } }, { projection: { _id: 1 } });
      if (successor) superseded.push(doc);
    }
    let removed = 0;
    if (remove) for (const doc of superseded) removed += (await this.identifiers.deleteOne({ _id: doc._id, customerId: doc.customerId })).deletedCount;
    return { records: docs.length, superseded: superseded.length, removed };
  }

  async findIdentifiersByCustomerIds(ids: readonly string[]): Promise<IdentifierRecord[][]> {
    const byCustomer = new Map<string, IdentifierRecord[]>();
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      const docs = await this.identifiers.find({ customerId: { $in: part } }, BATCHED_FIND).toArray();
      for (const doc of docs) {
        const list = byCustomer.get(doc.customerId) ?? [];
        list.push(parseIdentifierDoc(doc));
        byCustomer.set(doc.customerId, list);
      }
    }
    return ids.map((id) => (byCustomer.get(id) ?? []).sort((a, b) => a.linkedAt.getTime() - b.linkedAt.getTime()));
  }

  /**
   * Fills an attribute that the customer does not have yet; never overwrites a value set concurrently. Only while
   * holding the customer's lock (withCustomerLock): FerretDB loses one of two concurrent updates of a document.
   */
  async setAttributeIfAbsentLocked(customerId: string, field: PiiField, encrypted: EncryptedValue, masked: string | null): Promise<void> {
    await this.customers.updateOne(
      { _id: customerId, status: 'ACTIVE', [`encrypted.${field}`]: { $exists: false } },
      { $set: { [`encrypted.${field}`]: toEncryptedDoc(encrypted), [`masked.${field}`]: masked } },
    );
  }

  /**
   * Ids of customers with a data key wrapped under this master key, in the document or (customers stored before
   * 2026-11-30) in `customer_keys`, in id order, `limit` at a time after `after` (rotateMasterKey).
   */
  async listWrappedUnder(masterKeyId: string, where: 'customers' | 'customer_keys', after: string | null, limit: number): Promise<string[]> {
    const page = { projection: { _id: 1 }, sort: { _id: 1 as const }, limit };
    const docs =
      where === 'customers'
        ? await this.customers.find({ 'dataKey.masterKeyId': masterKeyId, ...(after === null ? {} : { _id: { $gt: after } }) }, page).toArray()
        : await this.keys.find({ masterKeyId, ...(after === null ? {} : { _id: { $gt: after } }) }, page).toArray();
    return docs.map((doc) => doc._id);
  }

  /** How many wrapped data keys (document copies and `customer_keys` copies) this master key still wraps. */
  async countWrappedUnder(masterKeyId: string): Promise<number> {
    return (await this.customers.countDocuments({ 'dataKey.masterKeyId': masterKeyId })) + (await this.keys.countDocuments({ masterKeyId }));
  }

  /** How many wrapped data keys (both copies) no master key of these wraps. */
  async countWrappedUnderOther(masterKeyIds: readonly string[]): Promise<number> {
    return (
      (await this.customers.countDocuments({ dataKey: { $exists: true }, 'dataKey.masterKeyId': { $nin: [...masterKeyIds] } })) +
      (await this.keys.countDocuments({ masterKeyId: { $nin: [...masterKeyIds] } }))
    );
  }

  /** Every stored copy of a customer's wrapped data key: the document's, then the one in `customer_keys`. */
  async findWrappedKeyCopies(customerId: string): Promise<{ status: CustomerStatus | null; copies: WrappedDataKey[] }> {
    const doc = await this.customers.findOne({ _id: customerId }, { projection: { status: 1, dataKey: 1 } });
    const apart = await this.keys.findOne({ _id: customerId });
    const copies = [doc?.dataKey, apart].filter((copy): copy is WrappedKeyDoc => typeof copy === 'object' && copy !== null).map(parseWrappedKeyDoc);
    return { status: doc ? (doc.status === 'ERASED' ? 'ERASED' : 'ACTIVE') : null, copies };
  }

  /** A copy left in `customer_keys` of a customer erased (or gone): erasure deletes it; a crash between its steps may not have. */
  async deleteLeftoverKeyCopy(customerId: string): Promise<number> {
    return (await this.keys.deleteOne({ _id: customerId })).deletedCount;
  }

  /**
   * Replaces every copy of the customer's wrapped data key that is still wrapped under `previousMasterKeyId` with
   * `wrapped` (the same data key under the current master key). Only while holding the customer's lock.
   */
  async replaceWrappedKeyLocked(customerId: string, previousMasterKeyId: string, wrapped: WrappedDataKey): Promise<number> {
    const doc = toWrappedKeyDoc(wrapped);
    const inDocument = await this.customers.updateOne({ _id: customerId, status: 'ACTIVE', 'dataKey.masterKeyId': previousMasterKeyId }, { $set: { dataKey: doc } });
    const apart = await this.keys.updateOne({ _id: customerId, masterKeyId: previousMasterKeyId }, { $set: doc });
    return inDocument.modifiedCount + apart.modifiedCount;
  }

  /** Active customers' ids in id order, `limit` at a time after `after` (rewriteStoredMasks). */
  async listActiveCustomerIds(after: string | null, limit: number): Promise<string[]> {
    const docs = await this.customers
      .find(after === null ? { status: 'ACTIVE' } : { status: 'ACTIVE', _id: { $gt: after } }, { projection: { _id: 1 }, sort: { _id: 1 }, limit })
      .toArray();
    return docs.map((doc) => doc._id);
  }

  /**
   * Replaces masks, each only while it is still `expected` and the customer active. Only while holding the
   * customer's lock (withCustomerLock), as every update of a customer document.
   */
  async replaceMasksLocked(customerId: string, expected: Partial<MaskedAttributes>, next: Partial<MaskedAttributes>): Promise<boolean> {
    const filter: Record<string, unknown> = { _id: customerId, status: 'ACTIVE' };
    const update: Record<string, unknown> = {};
    for (const field of PII_FIELDS) {
      if (!(field in next)) continue;
      filter[`masked.${field}`] = expected[field] ?? null;
      update[`masked.${field}`] = next[field] ?? null;
    }
    if (Object.keys(update).length === 0) return false;
    return (await this.customers.updateOne(filter, { $set: update })).modifiedCount === 1;
  }

  /** A link is filled and audited: its identifier record is no longer pending. */
  async settleIdentifier(hash: string, customerId: string): Promise<void> {
    await this.identifiers.updateOne({ _id: hash, customerId }, { $unset: { pendingSince: '' } });
  }

  /**
   * Runs one update of a customer document at a time, across processes. MongoDB applies each update atomically,
   * but FerretDB 1.24 does not: of two concurrent updates of one document (an email and a phone linked at once)
   * one is lost. An insert behind a unique `_id` is atomic on both, so the lock is a document keyed by the
   * customer id, deleted when done; one left by a process that died is taken over after LOCK_STALE_MS.
   */
  async withCustomerLock<T>(customerId: string, update: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    // Writers of one customer in this process queue here first, so that only the head of the queue polls the store:
    // forty writers polling at once flooded FerretDB with inserts and deletes, slowed the holder, and most of them
    // gave up (a probe: 28 of 40 links and 31 of 40 consents on one customer across two replicas).
    const previous = this.localLockQueue.get(customerId) ?? Promise.resolve();
    let leave!: () => void;
    const queued = previous.then(() => new Promise<void>((resolve) => (leave = resolve)));
    this.localLockQueue.set(customerId, queued);
    try {
      await waitUntil(previous, deadline);
      return await this.withStoreLock(customerId, deadline, update);
    } finally {
      // Whoever gave up waiting still holds its place until the one before it is done: the queue stays ordered.
      void previous.then(() => leave());
      void queued.then(() => {
        if (this.localLockQueue.get(customerId) === queued) this.localLockQueue.delete(customerId);
      });
    }
  }

  private async withStoreLock<T>(customerId: string, deadline: number, update: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.locks.insertOne({ _id: customerId, token, acquiredAt: new Date() });
        break;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        await this.locks.deleteOne({ _id: customerId, acquiredAt: { $lt: new Date(Date.now() - LOCK_STALE_MS) } });
        if (Date.now() > deadline) throw new ServiceUnavailableError('mongodb', 'The customer record is being changed by another request; try again');
        await sleep(5 + Math.random() * 10 * Math.min(attempt, 10));
      }
    }
    try {
      return await update();
    } finally {
      await this.locks.deleteOne({ _id: customerId, token });
    }
  }

  async countIdentifiers(customerId: string): Promise<number> {
    return this.identifiers.countDocuments({ customerId });
  }

  /** Takes back a link that did not complete: only while its record is still pending and names this customer. */
  async deletePendingIdentifier(hash: string, customerId: string): Promise<void> {
    await this.identifiers.deleteOne({ _id: hash, customerId, pendingSince: { $exists: true } });
  }

  /** Removes one identifier, only if it still names this customer. */
  async deleteIdentifier(hash: string, customerId: string): Promise<void> {
    await this.identifiers.deleteOne({ _id: hash, customerId });
  }

  async deleteIdentifiers(customerId: string): Promise<number> {
    return (await this.identifiers.deleteMany({ customerId })).deletedCount;
  }

  /**
   * Marks erased and drops every personal attribute, clear or masked, and the data key (crypto-shredding), from the
   * document and from `customer_keys`. Counts what this call removed, from the document as it was just before its
   * update: one erasure at a time holds the customer's lock, so concurrent erasures count each attribute and the
   * key (one key, wherever its copies were) once.
   */
  async markErased(customerId: string): Promise<{ attributesRemoved: number; keysRemoved: number }> {
    return this.withCustomerLock(customerId, () => this.markErasedUnlocked(customerId));
  }

  /** `erasedAt` is when the customer was first marked, under the lock: from then on every write of theirs is refused. */
  private async markErasedUnlocked(customerId: string): Promise<{ attributesRemoved: number; keysRemoved: number }> {
    const erasedAt = new Date();
    const current = await this.customers.findOne({ _id: customerId }, { projection: { erasedAt: 1 } });
    if (!current) return { attributesRemoved: 0, keysRemoved: 0 };
    const before = await this.customers.findOneAndUpdate(
      { _id: customerId },
      {
        $set: {
          status: 'ERASED',
          erasedAt: current.erasedAt ?? erasedAt,
          masked: { DISPLAY_NAME: null, EMAIL: null, PHONE: null },
          encrypted: {},
          country: null,
          preferredLanguage: null,
        },
        $unset: { dataKey: '' },
      },
      // The whole document: FerretDB 1.24 does not take a projection on findAndModify.
      { returnDocument: 'before' },
    );
    const copies = (await this.keys.deleteOne({ _id: customerId })).deletedCount;
    if (!before) return { attributesRemoved: 0, keysRemoved: copies > 0 ? 1 : 0 };
    return { attributesRemoved: Object.keys(before.encrypted ?? {}).length, keysRemoved: before.dataKey || copies > 0 ? 1 : 0 };
  }
}

/** Waits for `step` until `deadline`; past it, SERVICE_UNAVAILABLE as for the store's lock. */
async function waitUntil(step: Promise<void>, deadline: number): Promise<void> {
  const abort = new AbortController();
  const timedOut = sleep(Math.max(0, deadline - Date.now()), 'timeout' as const, { signal: abort.signal }).catch(() => 'aborted' as const);
  try {
    if ((await Promise.race([step.then(() => 'ready' as const), timedOut])) === 'timeout') {
      throw new ServiceUnavailableError('mongodb', 'The customer record is being changed by another request; try again');
    }
  } finally {
    abort.abort();
  }
}

/** A Binary's backing array may be larger than its content: copy only `position` bytes. */
const isObject = <T>(value: T | null | undefined): value is T => typeof value === 'object' && value !== null;

/** A value that is no Binary (a document altered by hand) reads as empty: it then fails to decrypt, its field alone. */
function binaryToBuffer(binary: Binary): Buffer {
  return binary instanceof Binary ? Buffer.from(binary.buffer.subarray(0, binary.position)) : Buffer.alloc(0);
}

/** One id is an equality lookup (FerretDB never pushes `$in` down, and every audit seal reads one key); more, `$in`. */
function byIds(ids: readonly string[]): { _id: string | { $in: string[] } } {
  return ids.length === 1 ? { _id: ids[0] as string } : { _id: { $in: [...ids] } };
}

/** What a read that cannot decrypt leaves in the database. */
const MASKED_ONLY = { encrypted: 0, dataKey: 0 } as const;

function toWrappedKeyDoc(key: WrappedDataKey): WrappedKeyDoc {
  return { masterKeyId: key.masterKeyId, iv: new Binary(key.iv), ct: new Binary(key.ciphertext), tag: new Binary(key.tag) };
}

function parseWrappedKeyDoc(doc: WrappedKeyDoc): WrappedDataKey {
  return { masterKeyId: doc.masterKeyId, iv: binaryToBuffer(doc.iv), ciphertext: binaryToBuffer(doc.ct), tag: binaryToBuffer(doc.tag) };
}

function toEncryptedDoc(value: EncryptedValue): EncryptedDoc {
  return { iv: new Binary(value.iv), ct: new Binary(value.ciphertext), tag: new Binary(value.tag) };
}

function toCustomerDoc(customer: CustomerRecord): CustomerDoc {
  const encrypted: CustomerDoc['encrypted'] = {};
  for (const field of PII_FIELDS) {
    const value = ciphertextsOf(customer)[field];
    if (value) encrypted[field] = toEncryptedDoc(value);
  }
  return {
    _id: customer.id,
    status: customer.status,
    country: customer.country,
    preferredLanguage: customer.preferredLanguage,
    createdAt: customer.createdAt,
    erasedAt: customer.erasedAt,
    masked: { ...customer.masked },
    encrypted,
    ...(customer.registrationPending ? { registrationPending: true } : {}),
  };
}

function parseCustomerDoc(doc: CustomerDoc, hasCiphertexts: boolean): CustomerRecord {
  const masked: MaskedAttributes = { DISPLAY_NAME: null, EMAIL: null, PHONE: null };
  const encrypted: EncryptedAttributes | null = hasCiphertexts ? {} : null;
  for (const field of PII_FIELDS) {
    masked[field] = doc.masked?.[field] ?? null;
    const value = isObject(doc.encrypted) ? doc.encrypted[field] : undefined;
    if (value && encrypted) {
      encrypted[field] = {
        iv: binaryToBuffer(value.iv),
        ciphertext: binaryToBuffer(value.ct),
        tag: binaryToBuffer(value.tag),
      };
    }
  }
  return {
    id: doc._id,
    status: doc.status === 'ERASED' ? 'ERASED' : 'ACTIVE',
    country: doc.country ?? null,
    preferredLanguage: doc.preferredLanguage ?? null,
    createdAt: doc.createdAt,
    erasedAt: doc.erasedAt ?? null,
    masked,
    encrypted,
    dataKey: hasCiphertexts && isObject(doc.dataKey) ? parseWrappedKeyDoc(doc.dataKey) : null,
    ...(doc.registrationPending === true ? { registrationPending: true } : {}),
  };
}

function parseIdentifierDoc(doc: IdentifierDoc): IdentifierRecord {
  return {
    hash: doc._id,
    customerId: doc.customerId,
    kind: doc.kind,
    keyVersion: doc.keyVersion,
    linkedAt: doc.linkedAt,
    priorHashes: Array.isArray(doc.priorHashes) ? doc.priorHashes.filter((h): h is string => typeof h === 'string') : [],
    pendingSince: doc.pendingSince instanceof Date ? doc.pendingSince : null,
    skeleton: typeof doc.skeletonHash === 'string' && typeof doc.skeletonLength === 'number' ? { hash: doc.skeletonHash, length: doc.skeletonLength } : null,
  };
}
