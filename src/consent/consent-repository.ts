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

  /**
   * Receipts of many customers with one `find` per 500 ids, each list in version order. With `newest`, a read of one
   * customer asks for that many of the newest receipts only: a chain only grows (an integration that sends consent
   * at every sync), and every read of the customer loaded all of it, 10,050 receipts in 2.1 s (a probe). A batch of
   * several customers still reads whole chains, as one `find` cannot bound each customer's share.
   */
  async findByCustomerIds(ids: readonly string[], newest?: number): Promise<ConsentReceipt[][]> {
    const distinct = [...new Set(ids)];
    if (newest !== undefined && distinct.length === 1) {
      const docs = await this.receipts.find({ customerId: distinct[0] }).sort({ version: -1 }).limit(newest).toArray();
      const list = docs.map(parseDoc).reverse();
      return ids.map(() => [...list]);
    }
    const byCustomer = new Map<string, ConsentReceipt[]>();
    for (const part of chunk(distinct, IN_CHUNK_SIZE)) {
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
