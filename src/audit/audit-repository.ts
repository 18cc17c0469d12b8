import type { Collection, Db, Filter } from 'mongodb';
import { COLLECTIONS } from '../storage/mongo.js';
import type { AuditEventRecord } from './audit-types.js';

type AuditEventDoc = Omit<AuditEventRecord, 'id'> & { _id: string };

export interface AuditPageQuery {
  customerId: string;
  afterSequence: number | null;
  from: Date | null;
  to: Date | null;
  limit: number;
}

/** Insert and read only: the application never updates or deletes an audit event. */
export class AuditRepository {
  private readonly events: Collection<AuditEventDoc>;

  constructor(db: Db) {
    this.events = db.collection<AuditEventDoc>(COLLECTIONS.auditEvents);
  }

  /**
   * The indexes the chain relies on, in whichever database holds the trail
   * (AUDIT_MONGODB_URL may point at a server of its own). The unique
   * (chain, sequence) index is what keeps concurrent writers fork-free.
   */
  async ensureIndexes(): Promise<void> {
    await this.events.createIndex({ chain: 1, sequence: 1 }, { name: 'chain_sequence_unique', unique: true });
    await this.events.createIndex({ customerId: 1, occurredAt: 1 }, { name: 'by_customer_time' });
  }

  async findHead(chain: string): Promise<{ sequence: number; hash: string } | null> {
    const doc = await this.events.find({ chain }).sort({ sequence: -1 }).limit(1).next();
    return doc ? { sequence: doc.sequence, hash: doc.hash } : null;
  }

  async insert(event: AuditEventRecord): Promise<void> {
    await this.events.insertOne(toDoc(event));
  }

  async findChain(chain: string): Promise<AuditEventRecord[]> {
    const docs = await this.events.find({ chain }).sort({ sequence: 1 }).toArray();
    return docs.map(parseDoc);
  }

  /** The chain in sequence order, fetched in batches. */
  async *iterateChain(chain: string): AsyncGenerator<AuditEventRecord> {
    const cursor = this.events.find({ chain }).sort({ sequence: 1 }).batchSize(500);
    try {
      for await (const doc of cursor) yield parseDoc(doc);
    } finally {
      await cursor.close();
    }
  }

  /** Every event of a chain that occurred in [from, to], in sequence order (data-subject access). */
  async findInRange(chain: string, from: Date | null, to: Date | null): Promise<AuditEventRecord[]> {
    const filter: Filter<AuditEventDoc> = { chain };
    if (from || to) filter.occurredAt = { ...(from ? { $gte: from } : {}), ...(to ? { $lte: to } : {}) };
    const docs = await this.events.find(filter).sort({ sequence: 1 }).toArray();
    return docs.map(parseDoc);
  }

  async findPage(query: AuditPageQuery): Promise<AuditEventRecord[]> {
    const filter: Filter<AuditEventDoc> = { chain: query.customerId };
    if (query.afterSequence !== null) filter.sequence = { $gt: query.afterSequence };
    if (query.from || query.to) {
      filter.occurredAt = {
        ...(query.from ? { $gte: query.from } : {}),
        ...(query.to ? { $lte: query.to } : {}),
      };
    }
    const docs = await this.events.find(filter).sort({ sequence: 1 }).limit(query.limit).toArray();
    return docs.map(parseDoc);
  }

  async findByIds(ids: readonly string[]): Promise<Array<AuditEventRecord | null>> {
    const docs = await this.events.find({ _id: { $in: [...new Set(ids)] } }).toArray();
    const byId = new Map(docs.map((d) => [d._id, parseDoc(d)]));
    return ids.map((id) => byId.get(id) ?? null);
  }
}

function toDoc(event: AuditEventRecord): AuditEventDoc {
  const { id, ...rest } = event;
  return { _id: id, ...rest };
}

function parseDoc(doc: AuditEventDoc): AuditEventRecord {
  return {
    id: doc._id,
    chain: doc.chain,
    type: doc.type,
    occurredAt: doc.occurredAt,
    customerId: doc.customerId ?? null,
    actor: { kind: doc.actor.kind, id: doc.actor.id },
    channel: doc.channel ?? null,
    interactionId: doc.interactionId ?? null,
    resolutionSource: doc.resolutionSource ?? null,
    identifierHash: doc.identifierHash ?? null,
    sealedIdentifierHash: doc.sealedIdentifierHash ?? null,
    fields: doc.fields ?? null,
    justification: doc.justification ?? null,
    requestId: doc.requestId ?? null,
    details: doc.details ?? {},
    sequence: doc.sequence,
    prevHash: doc.prevHash,
    hash: doc.hash,
  };
}
