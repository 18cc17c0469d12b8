import { MongoServerError, ObjectId, type Collection, type Db } from 'mongodb';
import { CHANNELS } from '../context-snapshots/snapshot-types.js';
import { readInteraction, readSubscription, readTicket, readTransaction, type FieldReaders } from '../context-snapshots/summary-readers.js';
import { chunk, COLLECTIONS, BATCHED_FIND, IN_CHUNK_SIZE, insertDocuments } from '../storage/mongo.js';
import type { SupportActivity, SupportRecordKind, SupportRecordVersion } from './support-record-types.js';

type Scalar = string | number | Date | null;

interface SupportRecordDoc {
  _id: ObjectId;
  customerId: string;
  kind: SupportRecordKind;
  /** The CRM's id of the record; for a device, the fingerprint itself. */
  recordId: string;
  receivedAt: Date;
  data: Record<string, Scalar>;
}

const KINDS: readonly SupportRecordKind[] = ['ticket', 'subscription', 'transaction', 'interaction', 'device'];

/**
 * Support records keyed by the pseudonymous customer id. Every push inserts
 * new documents and nothing is ever updated: two integrations pushing the same
 * ticket at once cannot lose each other's write (FerretDB loses concurrent
 * updates of one document), and readers take the latest version per record id.
 */
export class SupportRecordRepository {
  private readonly records: Collection<SupportRecordDoc>;

  constructor(private readonly db: Db) {
    this.records = db.collection<SupportRecordDoc>(COLLECTIONS.supportRecords);
  }

  /** One insert command for one or more pushes; returns how many documents were written. */
  async insertActivities(activities: readonly SupportActivity[], receivedAt: Date = new Date()): Promise<number> {
    const docs = activities.flatMap((activity) => convertToDocs(activity, receivedAt));
    if (docs.length === 0) return 0;
    const [refused] = await insertDocuments(this.db, COLLECTIONS.supportRecords, docs, true);
    if (refused) throw new MongoServerError({ message: refused.errmsg, errmsg: refused.errmsg, code: refused.code });
    return docs.length;
  }

  /** Every stored version for many customers: one `$in` find per 500 customers, each list in the order received. */
  async findByCustomerIds(ids: readonly string[]): Promise<SupportRecordVersion[][]> {
    const byCustomer = new Map<string, SupportRecordVersion[]>();
    for (const part of chunk([...new Set(ids)], IN_CHUNK_SIZE)) {
      const docs = await this.records.find({ customerId: { $in: part } }, BATCHED_FIND).toArray();
      for (const doc of docs) {
        const parsed = parseDoc(doc);
        if (!parsed) continue;
        const list = byCustomer.get(doc.customerId) ?? [];
        list.push(parsed);
        byCustomer.set(doc.customerId, list);
      }
    }
    return ids.map((id) => (byCustomer.get(id) ?? []).sort(compareReceived));
  }

  /**
   * Retention: keeps at most `keep` versions of each of these kinds of one customer's records (one find over them,
   * one delete when there is anything to drop). Earlier versions of a record go first, oldest first, so a record
   * pushed once is not dropped for another pushed many times; only then the latest versions of the records
   * received longest ago.
   */
  async pruneCustomer(customerId: string, kinds: readonly SupportRecordKind[], keep: number): Promise<number> {
    if (kinds.length === 0) return 0;
    const docs = await this.records
      .find({ customerId, kind: { $in: [...kinds] } }, { projection: { _id: 1, kind: 1, recordId: 1, receivedAt: 1 } })
      .toArray();
    const stale: ObjectId[] = [];
    for (const kind of kinds) {
      const ofKind = docs.filter((doc) => doc.kind === kind);
      if (ofKind.length <= keep) continue;
      // Newest first; versions received in the same millisecond by insertion order (the ObjectId).
      ofKind.sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime() || b._id.toHexString().localeCompare(a._id.toHexString()));
      const seen = new Set<string>();
      const latest = ofKind.filter((doc) => !seen.has(doc.recordId) && seen.add(doc.recordId));
      const isLatest = new Set(latest);
      const earlier = ofKind.filter((doc) => !isLatest.has(doc));
      const excess = ofKind.length - keep;
      const dropped = earlier.slice(-excess);
      stale.push(...dropped.map((doc) => doc._id), ...latest.slice(latest.length - (excess - dropped.length)).map((doc) => doc._id));
    }
    let deleted = 0;
    for (const part of chunk(stale, IN_CHUNK_SIZE)) deleted += (await this.records.deleteMany({ _id: { $in: part } })).deletedCount;
    return deleted;
  }

  /** Deletes every support record of a customer (erasure); returns how many documents went. */
  async purgeCustomer(customerId: string): Promise<number> {
    const result = await this.records.deleteMany({ customerId });
    return result.deletedCount;
  }
}

function convertToDocs(activity: SupportActivity, receivedAt: Date): SupportRecordDoc[] {
  const { customerId } = activity;
  const doc = (kind: SupportRecordKind, recordId: string, data: Record<string, Scalar>): SupportRecordDoc => ({
    _id: new ObjectId(),
    customerId,
    kind,
    recordId,
    receivedAt,
    data,
  });
  return [
    ...activity.tickets.map((t) => doc('ticket', t.id, { ...t })),
    ...activity.subscriptions.map((s) => doc('subscription', s.id, { ...s })),
    ...activity.transactions.map((t) => doc('transaction', t.id, { ...t })),
    ...activity.interactions.map((x) => doc('interaction', x.id, { ...x })),
    ...(activity.deviceFingerprint ? [doc('device', activity.deviceFingerprint, { fingerprint: activity.deviceFingerprint })] : []),
  ];
}

/** Oldest first. Versions received in the same millisecond fall back to insertion order (ObjectId counter). */
export function compareReceived(a: SupportRecordVersion, b: SupportRecordVersion): number {
  const byTime = a.receivedAt.getTime() - b.receivedAt.getTime();
  if (byTime !== 0) return byTime;
  return a.order < b.order ? -1 : a.order > b.order ? 1 : 0;
}

function parseDoc(doc: SupportRecordDoc): SupportRecordVersion | null {
  if (!KINDS.includes(doc.kind)) return null;
  const d = doc.data;
  const base = { recordId: doc.recordId, receivedAt: doc.receivedAt, order: doc._id.toHexString() };
  switch (doc.kind) {
    case 'ticket':
      return { ...base, kind: 'ticket', data: readTicket(STORED, d) };
    case 'subscription':
      return { ...base, kind: 'subscription', data: readSubscription(STORED, d) };
    case 'transaction':
      return { ...base, kind: 'transaction', data: readTransaction(STORED, d) };
    case 'interaction':
      return { ...base, kind: 'interaction', data: readInteraction(STORED, d) };
    case 'device':
      return { ...base, kind: 'device', data: { fingerprint: STORED.text(d['fingerprint']) } };
  }
}

/** Stored records were validated on the way in: read leniently (a field missing reads as empty or null). */
const STORED: FieldReaders = {
  text: (v) => (typeof v === 'string' ? v : String(v ?? '')),
  textOrNull: (v) => (typeof v === 'string' ? v : null),
  date: (v) => (v instanceof Date ? v : new Date(String(v))),
  dateOrNull: (v) => (v instanceof Date ? v : null),
  integer: (v) => Number(v),
  channel: (v) => CHANNELS.find((c) => c === v) ?? 'API',
};
