import { MongoServerError, type Collection, type Db, type Filter } from 'mongodb';
import { ServiceUnavailableError } from '../errors.js';
import { classifyInfrastructureError } from '../http/infrastructure-errors.js';
import { COLLECTIONS, BATCHED_FIND, insertDocuments, requireUniqueIndex, type InsertRefusal } from '../storage/mongo.js';
import { CHANNELS } from '../context-snapshots/snapshot-types.js';
import { PII_FIELDS } from '../customers/customer-types.js';
import { AUDIT_EVENT_TYPES, type AuditEventRecord, type ChainHead } from './audit-types.js';

type AuditEventDoc = Omit<AuditEventRecord, 'id'> & { _id: string };

/**
 * An event's stored sequence when it is a number (a whole one but for tampering, which may store `2.5`); null for
 * any other kind of value, which only tampering stores and which sorts after every number.
 */
export type AuditPosition = number | null;

export interface AuditPageQuery {
  customerId: string;
  afterSequence: number | null;
  from: Date | null;
  to: Date | null;
  limit: number;
}

/** Insert and read only: the application never updates or deletes an audit event. */
interface PendingInsert {
  doc: AuditEventDoc;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class AuditRepository {
  private readonly events: Collection<AuditEventDoc>;
  private pending: PendingInsert[] = [];

  constructor(private readonly db: Db) {
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
    await requireUniqueIndex(this.db, COLLECTIONS.auditEvents, 'chain_sequence_unique');
  }

  /**
   * The event with the highest numeric sequence. Only tampering stores another kind of sequence: a string sorts
   * above every number, and taking it for the head made every later append write `"3" + 1 = "31"` (a probe). A
   * number that is not whole (a forged `4.5`) counts as its whole part, so appends stay whole numbers.
   */
  async findHead(chain: string): Promise<ChainHead | null> {
    // A number the next one can follow (`+ 1` changes it): a forged 1e20 was taken for the head, and 1e20 + 1 ===
    // 1e20 made every append a duplicate, refusing the customer's every audited write. Not capped at Int: capped, a
    // forged 2147483647 was the head for good while its successor existed (appends past Int read as sequence 0,
    // but go on).
    const doc = await this.events.find({ chain, sequence: { $type: NUMBER_TYPES, $lt: Number.MAX_SAFE_INTEGER } }).sort({ sequence: -1 }).limit(1).next();
    if (!doc) return null;
    const parsed = parseDoc(doc);
    return { sequence: Number.isFinite(doc.sequence) ? Math.max(0, Math.floor(doc.sequence)) : 0, hash: parsed.hash, type: parsed.type };
  }

  /**
   * Inserts issued in the same event-loop turn go to MongoDB as one unordered
   * insert command: reading 100 customers' context writes 100 events, and 100
   * round trips cost ten times the client CPU of one (measured in bench/).
   * Each event still succeeds or fails on its own: a duplicate (chain,
   * sequence) rejects only that event's promise, with code 11000, so the
   * chain's retry works exactly as with insertOne.
   */
  insert(event: AuditEventRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => void this.flush());
      this.pending.push({ doc: toDoc(event), resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 1) {
      const [only] = batch as [PendingInsert];
      await this.events.insertOne(only.doc).then(() => only.resolve(), only.reject);
      return;
    }
    let refusals: InsertRefusal[];
    try {
      refusals = await insertDocuments(this.db, COLLECTIONS.auditEvents, batch.map((p) => p.doc), false);
    } catch (error) {
      // The command failed as a whole (no connection, a write-concern failure): what was written is unknown, so no
      // event counts as written.
      for (const p of batch) p.reject(error);
      return;
    }
    const failed = new Map(refusals.map((r) => [r.index, r]));
    batch.forEach((p, index) => {
      const refusal = failed.get(index);
      if (!refusal) return p.resolve();
      p.reject(new MongoServerError({ message: refusal.errmsg, errmsg: refusal.errmsg, code: refusal.code }));
    });
  }

  async hasEvent(chain: string, type: AuditEventRecord['type'], except: Record<string, string | number | boolean> = {}): Promise<boolean> {
    const unless = Object.fromEntries(Object.entries(except).map(([key, value]) => [`details.${key}`, { $ne: value }]));
    return (await readingTrail(this.events.findOne({ chain, type, ...unless }, { projection: { _id: 1 } }))) !== null;
  }

  async findChain(chain: string): Promise<AuditEventRecord[]> {
    const docs = await readingTrail(this.events.find({ chain }).sort({ sequence: 1 }).toArray());
    return docs.map((doc) => parseDoc(doc));
  }

  /**
   * The chain in sequence order, fetched in batches, as stored (for verification): values outside this release's
   * enums are kept as they are, so that an event a newer release wrote (a type this one does not know) still
   * recomputes its hash, and only an altered one does not.
   */
  async *iterateChain(chain: string): AsyncGenerator<AuditEventRecord> {
    const cursor = this.events.find({ chain }).sort({ sequence: 1 }).batchSize(500);
    try {
      for (;;) {
        const doc = await readingTrail(cursor.next());
        if (doc === null) return;
        yield parseDoc(doc, { asStored: true });
      }
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }

  /** Every event of a chain that occurred in [from, to], in sequence order (data-subject access). */
  async findInRange(chain: string, from: Date | null, to: Date | null): Promise<AuditEventRecord[]> {
    const filter: Filter<AuditEventDoc> = { chain };
    if (from || to) filter.occurredAt = { ...(from ? { $gte: from } : {}), ...(to ? { $lte: to } : {}) };
    const docs = await readingTrail(this.events.find(filter).sort({ sequence: 1 }).toArray());
    return docs.map((doc) => parseDoc(doc));
  }

  /** With each event, where it stands in its chain as stored: what the next page starts after (see AuditPosition). */
  async findPage(query: AuditPageQuery): Promise<Array<{ event: AuditEventRecord; position: AuditPosition }>> {
    const filter: Filter<AuditEventDoc> = { chain: query.customerId };
    if (query.afterSequence !== null) filter.sequence = { $gt: query.afterSequence };
    if (query.from || query.to) {
      filter.occurredAt = {
        ...(query.from ? { $gte: query.from } : {}),
        ...(query.to ? { $lte: query.to } : {}),
      };
    }
    const docs = await readingTrail(this.events.find(filter).sort({ sequence: 1 }).limit(query.limit).toArray());
    return docs.map((doc) => ({ event: parseDoc(doc), position: Number.isFinite(doc.sequence) ? doc.sequence : null }));
  }

  async findByIds(ids: readonly string[]): Promise<Array<AuditEventRecord | null>> {
    const docs = await readingTrail(this.events.find({ _id: { $in: [...new Set(ids)] } }, BATCHED_FIND).toArray());
    const byId = new Map(docs.map((d) => [d._id, parseDoc(d)]));
    return ids.map((id) => byId.get(id) ?? null);
  }
}

/**
 * A read of the trail that finds its store unreachable answers SERVICE_UNAVAILABLE naming the audit trail, as a
 * failed write does: it may live in a MongoDB of its own (AUDIT_MONGODB_URL), and that is where to look.
 */
async function readingTrail<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (error) {
    if (classifyInfrastructureError(error) === 'mongodb') throw new ServiceUnavailableError('audit', 'The audit trail could not be read; try again shortly');
    throw error;
  }
}

function toDoc(event: AuditEventRecord): AuditEventDoc {
  const { id, ...rest } = event;
  return { _id: id, ...rest };
}

/**
 * The log writes every field; only tampering stores a document without them (a forged event with no actor, a
 * sequence that is not a number). Such a document is read with placeholders instead of failing every reader of
 * the trail (audit pages, exports, verification): its hash then no longer recomputes, so verifyAuditTrail reports
 * it as the first broken position, and it is shown for what it is.
 */
function parseDoc(doc: AuditEventDoc, { asStored = false }: { asStored?: boolean } = {}): AuditEventRecord {
  const actor: Partial<AuditEventDoc['actor']> = typeof doc.actor === 'object' && doc.actor !== null ? doc.actor : {};
  // A value outside an enum failed the whole page or export it was in, not just the event (a probe set `type:
  // 'BOGUS'` and the GraphQL export came back null): every field is read as what the schema can show. Verification
  // reads every value as stored (`asStored`), of whatever type, so that a newer release's values still recompute and
  // an altered one does not: read as the placeholder, a number written over a null channel or `fields` (or a missing
  // actor kind of a SYSTEM event) recomputed the original hash (probes, 2026-12-01).
  const known = <T>(values: readonly T[], value: unknown, otherwise: T): T =>
    asStored ? ((value ?? null) as T) : values.includes(value as T) ? (value as T) : otherwise;
  // An `_id` that is no string (`2.5`) and a date the API cannot answer (invalid, or past year 9999: `+020000-…`, a
  // form the scalar refuses as input) failed whole pages and exports too (a probe).
  const occurredAt = doc.occurredAt as unknown;
  // Text fields likewise (`interactionId: 12345` over a null went unnoticed); a field an older event lacks reads as null.
  const text = (value: unknown): string | null => (asStored ? ((value ?? null) as string | null) : textOrNull(value));
  return {
    id: asStored || typeof doc._id === 'string' ? doc._id : String(doc._id),
    chain: doc.chain,
    type: known<AuditEventRecord['type']>(AUDIT_EVENT_TYPES, doc.type, 'UNKNOWN'),
    occurredAt: occurredAt instanceof Date && (asStored || isAnswerableDate(occurredAt)) ? occurredAt : new Date(0),
    customerId: text(doc.customerId),
    actor: {
      kind: known<AuditEventRecord['actor']['kind']>(['AGENT', 'SERVICE', 'SYSTEM'], actor.kind, 'SYSTEM'),
      id: asStored ? ((actor.id ?? null) as string) : typeof actor.id === 'string' ? actor.id : MISSING,
    },
    channel: known<AuditEventRecord['channel']>(CHANNELS, doc.channel, null),
    interactionId: text(doc.interactionId),
    resolutionSource: text(doc.resolutionSource),
    identifierHash: text(doc.identifierHash),
    sealedIdentifierHash: text(doc.sealedIdentifierHash),
    fields: asStored ? ((doc.fields ?? null) as AuditEventRecord['fields']) : Array.isArray(doc.fields) ? doc.fields.filter((f) => PII_FIELDS.includes(f)) : null,
    justification: text(doc.justification),
    requestId: text(doc.requestId),
    details: asStored && doc.details !== undefined ? doc.details : typeof doc.details === 'object' && doc.details !== null && !Array.isArray(doc.details) ? doc.details : {},
    // GraphQL's Int is 32 bits: a forged 2^31 failed the whole page and export as `type` did.
    sequence: Number.isInteger(doc.sequence) && Math.abs(doc.sequence) <= MAX_SEQUENCE ? doc.sequence : 0,
    prevHash: typeof doc.prevHash === 'string' ? doc.prevHash : MISSING,
    hash: typeof doc.hash === 'string' ? doc.hash : MISSING,
  };
}

/** A date the DateTime scalar answers in a form it also takes: a valid time in years 0000 to 9999. */
function isAnswerableDate(date: Date): boolean {
  const year = date.getUTCFullYear();
  return Number.isFinite(date.getTime()) && year >= 0 && year <= 9999;
}

function textOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The highest position the log writes, and GraphQL's Int holds. */
const MAX_SEQUENCE = 2_147_483_647;

/** BSON's number types, for `$type` (MongoDB's alias, which FerretDB knows too; the driver's typings do not). */
const NUMBER_TYPES = 'number' as unknown as 'double';

/** What a tampered document shows where the log always writes a value. */
const MISSING = '(missing)';
