import type { Collection, Db } from 'mongodb';
import { chunk, COLLECTIONS, BATCHED_FIND, IN_CHUNK_SIZE } from '../storage/mongo.js';
import type { ConsentReceipt } from './consent-types.js';

type ConsentDoc = Omit<ConsentReceipt, 'id'> & { _id: string };

/** Receipts are inserted, never updated; (customerId, version) is unique. */
export class ConsentRepository {
  private readonly receipts: Collection<ConsentDoc>;

  constructor(db: Db) {
    this.receipts = db.collection<ConsentDoc>(COLLECTIONS.consents);
  }

  async insert(receipt: ConsentReceipt): Promise<void> {
    const { id, ...rest } = receipt;
    await this.receipts.insertOne({ _id: id, ...rest });
  }

  async findLatest(customerId: string): Promise<ConsentReceipt | null> {
    const doc = await this.receipts.find({ customerId }).sort({ version: -1 }).limit(1).next();
    return doc ? parseDoc(doc) : null;
  }

  /** All receipts of many customers with one `find` per 500 ids, each list in version order. */
  async findByCustomerIds(ids: readonly string[]): Promise<ConsentReceipt[][]> {
    const byCustomer = new Map<string, ConsentReceipt[]>();
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      const docs = await this.receipts.find({ customerId: { $in: part } }, BATCHED_FIND).toArray();
      for (const doc of docs) {
        const list = byCustomer.get(doc.customerId) ?? [];
        list.push(parseDoc(doc));
        byCustomer.set(doc.customerId, list);
      }
    }
    return ids.map((id) => (byCustomer.get(id) ?? []).sort((a, b) => a.version - b.version));
  }

  async findByIds(ids: readonly string[]): Promise<Array<ConsentReceipt | null>> {
    const docs = await this.receipts.find({ _id: { $in: [...new Set(ids)] } }, BATCHED_FIND).toArray();
    const byId = new Map(docs.map((d) => [d._id, parseDoc(d)]));
    return ids.map((id) => byId.get(id) ?? null);
  }
}

function parseDoc(doc: ConsentDoc): ConsentReceipt {
  return {
    id: doc._id,
    customerId: doc.customerId,
    version: doc.version,
    scopes: [...doc.scopes],
    grantedAt: doc.grantedAt,
    expiresAt: doc.expiresAt ?? null,
    source: doc.source,
    supersedes: doc.supersedes ?? null,
    recordedBy: doc.recordedBy,
  };
}
