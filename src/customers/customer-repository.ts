import { Binary, type Collection, type Db } from 'mongodb';
import type { EncryptedValue, WrappedDataKey } from '../identity/pii-envelope.js';
import type { IdentifierKind } from '../identity/normalise-identifier.js';
import { chunk, COLLECTIONS, isDuplicateKeyError, BATCHED_FIND, IN_CHUNK_SIZE } from '../storage/mongo.js';
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
}
interface IdentifierDoc {
  _id: string;
  customerId: string;
  kind: IdentifierKind;
  keyVersion: string;
  linkedAt: Date;
}
interface CustomerKeyDoc {
  _id: string;
  masterKeyId: string;
  iv: Binary;
  ct: Binary;
  tag: Binary;
  createdAt: Date;
}

export type ClaimResult = { claimed: true } | { claimed: false; ownerId: string };

/** MongoDB access for customers, their identifier hashes and their wrapped data keys. */
export class CustomerRepository {
  private readonly customers: Collection<CustomerDoc>;
  private readonly identifiers: Collection<IdentifierDoc>;
  private readonly keys: Collection<CustomerKeyDoc>;

  constructor(db: Db) {
    this.customers = db.collection<CustomerDoc>(COLLECTIONS.customers);
    this.identifiers = db.collection<IdentifierDoc>(COLLECTIONS.identifiers);
    this.keys = db.collection<CustomerKeyDoc>(COLLECTIONS.customerKeys);
  }

  async insertCustomer(customer: CustomerRecord, wrappedKey: WrappedDataKey): Promise<void> {
    await this.keys.insertOne({
      _id: customer.id,
      masterKeyId: wrappedKey.masterKeyId,
      iv: new Binary(wrappedKey.iv),
      ct: new Binary(wrappedKey.ciphertext),
      tag: new Binary(wrappedKey.tag),
      createdAt: customer.createdAt,
    });
    await this.customers.insertOne(toCustomerDoc(customer));
  }

  /** Removes a customer that lost a registration race before anyone could see it. */
  async deleteUnclaimedCustomer(customerId: string): Promise<void> {
    await this.customers.deleteOne({ _id: customerId });
    await this.keys.deleteOne({ _id: customerId });
  }

  /**
   * One `find` per chunk of 500 ids; results in key order, null for misses. Without `ciphertexts` the encrypted
   * attributes stay in the database (`encrypted` is null): a masked read never needs them, and they are the
   * bulk of the document.
   */
  async findByIds(ids: readonly string[], { ciphertexts = true }: { ciphertexts?: boolean } = {}): Promise<Array<CustomerRecord | null>> {
    const byId = new Map<string, CustomerRecord>();
    const options = { ...BATCHED_FIND, ...(ciphertexts ? {} : { projection: { encrypted: 0 } }) };
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      const docs = await this.customers.find({ _id: { $in: part } }, options).toArray();
      for (const doc of docs) byId.set(doc._id, parseCustomerDoc(doc, ciphertexts));
    }
    return ids.map((id) => byId.get(id) ?? null);
  }

  async findWrappedKeys(ids: readonly string[]): Promise<Array<WrappedDataKey | null>> {
    const byId = new Map<string, WrappedDataKey>();
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      // One id (every audit event that seals an identifier hash) is an equality lookup: FerretDB never pushes `$in` down.
      const docs = await this.keys.find(part.length === 1 ? { _id: part[0] as string } : { _id: { $in: part } }, BATCHED_FIND).toArray();
      for (const doc of docs) {
        byId.set(doc._id, {
          masterKeyId: doc.masterKeyId,
          iv: binaryToBuffer(doc.iv),
          ciphertext: binaryToBuffer(doc.ct),
          tag: binaryToBuffer(doc.tag),
        });
      }
    }
    return ids.map((id) => byId.get(id) ?? null);
  }

  /**
   * Claims an identifier hash for a customer. The hash is the document's _id,
   * so of any number of racing claims exactly one wins.
   */
  async claimIdentifier(identifier: IdentifierRecord): Promise<ClaimResult> {
    try {
      await this.identifiers.insertOne({
        _id: identifier.hash,
        customerId: identifier.customerId,
        kind: identifier.kind,
        keyVersion: identifier.keyVersion,
        linkedAt: identifier.linkedAt,
      });
      return { claimed: true };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const owner = await this.identifiers.findOne({ _id: identifier.hash });
      if (!owner) return this.claimIdentifier(identifier);
      return { claimed: false, ownerId: owner.customerId };
    }
  }

  /** Equality lookups on _id, one per hash: pushed down to the index on every backend. */
  async findIdentifierByHashes(hashes: readonly string[]): Promise<IdentifierRecord | null> {
    const found = await Promise.all(hashes.map((hash) => this.identifiers.findOne({ _id: hash })));
    const first = found.find((doc): doc is IdentifierDoc => doc !== null);
    return first ? parseIdentifierDoc(first) : null;
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

  /** Fills an attribute that the customer does not have yet; never overwrites a value set concurrently. */
  async setAttributeIfAbsent(customerId: string, field: PiiField, encrypted: EncryptedValue, masked: string | null): Promise<void> {
    await this.customers.updateOne(
      { _id: customerId, status: 'ACTIVE', [`encrypted.${field}`]: { $exists: false } },
      { $set: { [`encrypted.${field}`]: toEncryptedDoc(encrypted), [`masked.${field}`]: masked } },
    );
  }

  async countIdentifiers(customerId: string): Promise<number> {
    return this.identifiers.countDocuments({ customerId });
  }

  /** Removes one identifier, only if it still names this customer. */
  async deleteIdentifier(hash: string, customerId: string): Promise<void> {
    await this.identifiers.deleteOne({ _id: hash, customerId });
  }

  async deleteIdentifiers(customerId: string): Promise<number> {
    return (await this.identifiers.deleteMany({ customerId })).deletedCount;
  }

  async deleteDataKey(customerId: string): Promise<number> {
    return (await this.keys.deleteOne({ _id: customerId })).deletedCount;
  }

  /** Marks erased and drops every personal attribute, clear or masked. */
  async markErased(customerId: string, erasedAt: Date): Promise<{ attributesRemoved: number }> {
    const before = await this.customers.findOne({ _id: customerId });
    if (!before) return { attributesRemoved: 0 };
    const attributesRemoved = Object.keys(before.encrypted ?? {}).length;
    await this.customers.updateOne(
      { _id: customerId },
      {
        $set: {
          status: 'ERASED',
          erasedAt: before.erasedAt ?? erasedAt,
          masked: { DISPLAY_NAME: null, EMAIL: null, PHONE: null },
          encrypted: {},
          country: null,
          preferredLanguage: null,
        },
      },
    );
    return { attributesRemoved };
  }
}

/** A Binary's backing array may be larger than its content: copy only `position` bytes. */
function binaryToBuffer(binary: Binary): Buffer {
  return Buffer.from(binary.buffer.subarray(0, binary.position));
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
  };
}

function parseCustomerDoc(doc: CustomerDoc, hasCiphertexts: boolean): CustomerRecord {
  const masked: MaskedAttributes = { DISPLAY_NAME: null, EMAIL: null, PHONE: null };
  const encrypted: EncryptedAttributes | null = hasCiphertexts ? {} : null;
  for (const field of PII_FIELDS) {
    masked[field] = doc.masked?.[field] ?? null;
    const value = doc.encrypted?.[field];
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
  };
}

function parseIdentifierDoc(doc: IdentifierDoc): IdentifierRecord {
  return {
    hash: doc._id,
    customerId: doc.customerId,
    kind: doc.kind,
    keyVersion: doc.keyVersion,
    linkedAt: doc.linkedAt,
  };
}
