import { assertCustomerId } from '../customers/customer-service.js';
import { BadUserInputError, NotFoundError } from '../errors.js';
import { ConcurrencyGate } from '../hardening/concurrency-gate.js';
import { ANONYMOUS_CHAIN, chainOf } from './audit-chain.js';
import type { AuditIdentifierSeals } from './audit-identifier-seal.js';
import type { AuditLog } from './audit-log.js';
import type { AuditRepository } from './audit-repository.js';
import type { AuditEventRecord } from './audit-types.js';

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;

export interface AuditPageArgs {
  first?: number | null;
  after?: string | null;
  from?: Date | null;
  to?: Date | null;
}

export interface AuditPage {
  edges: Array<{ cursor: string; node: AuditEventRecord }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export interface AuditVerificationResult {
  customerId: string;
  valid: boolean;
  eventCount: number;
  firstBrokenSequence: number | null;
  headSequence: number | null;
  headHash: string | null;
}

/**
 * A verification reads its whole chain, so its cost grows with the chain (the anonymous one grows with every lookup of
 * an unknown identifier): two run at once in a process, the rest wait their turn.
 */
export const VERIFICATIONS_AT_ONCE = 2;

/**
 * The read side of the audit trail: pages, lookups by id, ranges for
 * data-subject access, and verification. Events come back with their
 * identifier hash opened (while the customer's data key exists).
 */
export class AuditTrailService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly log: AuditLog,
    private readonly seal: AuditIdentifierSeals | null,
    private readonly customerExists: (customerId: string) => Promise<boolean>,
    /** Chain verifications running at once in this process; the rest wait (ConcurrencyGate). */
    private readonly verifications = new ConcurrencyGate(VERIFICATIONS_AT_ONCE),
  ) {}

  async page(customerId: string, args: AuditPageArgs): Promise<AuditPage> {
    const first = args.first ?? AUDIT_PAGE_DEFAULT;
    if (!Number.isInteger(first) || first < 1 || first > AUDIT_PAGE_MAX) {
      throw new BadUserInputError(`first must be between 1 and ${AUDIT_PAGE_MAX}`, { field: 'first' });
    }
    const afterSequence = args.after == null ? null : decodeAuditCursor(args.after);
    const range = validateRange(args.from ?? null, args.to ?? null);
    const found = await this.repository.findPage({ customerId, afterSequence, ...range, limit: first + 1 });
    const page = found.slice(0, first);
    const events = await this.reveal(page.map((f) => f.event));
    // A position that is not a number (only tampering stores one) is not something `$gt` can start after: its cursor
    // is the last number before it, so the walk goes on with the numbers after that.
    let position = afterSequence ?? -1;
    const edges = events.map((node, i) => {
      position = page[i]?.position ?? position;
      return { cursor: encodeAuditCursor(position), node };
    });
    // Relay's PageInfo in full (a Relay-style subgraph's shared PageInfo did not compose with two fields; a probe). Paging
    // forward, hasPreviousPage may be false when it cannot be told cheaply: here it is true after a cursor, whose event
    // comes before this page (a tampered position's too: `after >= 1` said false after `seq:0.5`; a regression probe),
    // unless `from` may have left the earlier events out of the range. A cursor made by hand is taken at its word.
    const hasPreviousPage = afterSequence !== null && range.from === null;
    return { edges, pageInfo: { hasNextPage: found.length > first, hasPreviousPage, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null } };
  }

  async findByIds(ids: readonly string[]): Promise<Array<AuditEventRecord | null>> {
    const found = await this.repository.findByIds(ids);
    const revealed = await this.reveal(found.filter((e): e is AuditEventRecord => e !== null));
    const byId = new Map(revealed.map((e) => [e.id, e]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  /** Events of the anonymous chain by id, in [from, to], in sequence order, their identifier hashes opened. */
  async anonymousEventsInRange(ids: readonly string[], from: Date | null, to: Date | null): Promise<AuditEventRecord[]> {
    const range = validateRange(from, to);
    if (ids.length === 0) return [];
    const found = (await this.repository.findByIds(ids)).filter(
      (e): e is AuditEventRecord =>
        e !== null && e.customerId === null && (!range.from || e.occurredAt >= range.from) && (!range.to || e.occurredAt <= range.to),
    );
    return this.reveal(found.sort((a, b) => a.sequence - b.sequence));
  }

  async eventsInRange(customerId: string, from: Date | null, to: Date | null): Promise<AuditEventRecord[]> {
    const range = validateRange(from, to);
    return this.reveal(await this.repository.findInRange(chainOf(customerId), range.from, range.to));
  }

  /** A customer's chain, or the anonymous chain when asked for `_anonymous`. */
  async verify(customerId: string): Promise<AuditVerificationResult> {
    if (customerId !== ANONYMOUS_CHAIN) assertCustomerId(customerId);
    const result = await this.verifications.run(() => this.log.verifyChain(customerId));
    // An empty chain for an id nobody has is a typo or a probe, not a verified trail.
    if (result.eventCount === 0 && customerId !== ANONYMOUS_CHAIN && !(await this.customerExists(customerId))) {
      throw new NotFoundError('No customer has this id');
    }
    return {
      customerId,
      valid: result.valid,
      eventCount: result.eventCount,
      firstBrokenSequence: result.firstBrokenSequence,
      headSequence: result.head?.sequence ?? null,
      headHash: result.head?.hash ?? null,
    };
  }

  private async reveal(events: readonly AuditEventRecord[]): Promise<AuditEventRecord[]> {
    const sealed = events.filter((e) => e.sealedIdentifierHash !== null);
    if (sealed.length === 0 || !this.seal) return [...events];
    const opened = await this.seal.openAll(sealed.map((e) => ({ customerId: e.customerId, eventId: e.id, sealed: e.sealedIdentifierHash as string })));
    const byId = new Map(sealed.map((e, i) => [e.id, opened[i] ?? null]));
    return events.map((e) => (byId.has(e.id) ? { ...e, identifierHash: byId.get(e.id) ?? null } : e));
  }
}

const CURSOR_PREFIX = 'seq:';

/**
 * Opaque to callers: base64url over the event's position in its chain. A position that only tampering stores (a
 * forged `2.5`, or a negative) is written as stored, so that the walk goes on past it: as `0` (what the event reads
 * as) it was a cursor the trail refused, and no page after it could be reached (a probe). A sequence that is not a
 * number at all has the cursor of the number before it (see page()).
 */
export function encodeAuditCursor(position: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${position}`, 'utf8').toString('base64url');
}

export function decodeAuditCursor(cursor: string): number {
  const invalid = () => new BadUserInputError("after is not an audit trail cursor (pass endCursor or an edge's cursor as it came)", { field: 'after' });
  if (cursor.length > 64 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^seq:(-?\d+(?:\.\d+)?(?:e[+-]\d+)?)$/.exec(text);
  const sequence = match ? Number(match[1]) : NaN;
  // Written as encodeAuditCursor writes it (`seq:1e3`, `seq:01`, `seq:-0` and `seq:1.0` are not): a whole number, or
  // the position of a tampered event (0, a fraction, a negative, a number past Int, `1.2345e-7`) or before one (-1).
  // Any such position is only where `$gt` starts: one past the end gives an empty page.
  if (!match || String(sequence) !== match[1] || !Number.isFinite(sequence)) throw invalid();
  return sequence;
}

function validateRange(from: Date | null, to: Date | null): { from: Date | null; to: Date | null } {
  if (from && to && from.getTime() > to.getTime()) throw new BadUserInputError('from must not be after to', { field: 'from' });
  return { from, to };
}
