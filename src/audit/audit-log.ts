import { setTimeout as sleep } from 'node:timers/promises';
import { GraphQLError } from 'graphql';
import { CustomerErasedError, ServiceUnavailableError } from '../errors.js';
import { newPrefixedId } from '../identity/customer-id.js';
import { isDuplicateKeyError } from '../storage/mongo.js';
import { recordableRequestId } from '../observability/request-scope.js';
import { chainOf, ChainVerifier, computeEventHash, GENESIS_HASH, type ChainVerification } from './audit-chain.js';
import type { AuditIdentifierSeals } from './audit-identifier-seal.js';
import type { AuditRepository } from './audit-repository.js';
import { EVENTS_AFTER_ERASURE, type AuditEventInput, type AuditEventRecord, type ChainHead } from './audit-types.js';

export interface AuditLogOptions {
  /**
   * Seals identifier hashes, on customer events (required before such an event can be written) and on anonymous
   * ones (without it, tests only, an anonymous event keeps its hash in clear).
   */
  seal?: AuditIdentifierSeals | null;
  /** Told about every event that could not be written (log line, metric). */
  onWriteFailure?: (error: unknown) => void;
}

const MAX_ATTEMPTS = 200;
const HEAD_CACHE_LIMIT = 10_000;
/** Appends of one chain that may wait behind each other in one process; beyond this they race (and retry) instead. */
const MAX_QUEUED_PER_CHAIN = 256;
/** A queued append stops waiting for the one before it after this long (a hung write must not hold the chain). */
const MAX_QUEUE_WAIT_MS = 5_000;

/**
 * Appends events to per-customer hash chains. A chain position is claimed by
 * inserting (chain, sequence) behind a unique index, never by updating a
 * counter: concurrent writers retry on duplicate key, so the chain stays
 * gap-free and fork-free on MongoDB and FerretDB alike.
 *
 * Within one process, appends to the same chain also queue behind each other:
 * the next one then starts from the head the previous one wrote, so it needs
 * no read and never loses a race to its own process. That matters for the
 * anonymous chain, which every unmatched resolution shares; 32 concurrent
 * operations on one customer through two instances took 14.5 s on FerretDB
 * without the queue (every writer retrying against every other). The queue is
 * an optimisation only: the unique index is what keeps the chain correct.
 */
export class AuditLog {
  /** Last head this process wrote or read per chain: a good guess that saves a read; a wrong one only costs a retry. */
  private readonly heads = new Map<string, ChainHead>();
  /** Per chain: the last queued append (settled or not) and how many are waiting. */
  private readonly queues = new Map<string, { tail: Promise<unknown>; depth: number }>();

  private readonly seal: AuditIdentifierSeals | null;
  private readonly onWriteFailure: (error: unknown) => void;

  constructor(
    private readonly repository: AuditRepository,
    options: AuditLogOptions = {},
  ) {
    this.seal = options.seal ?? null;
    this.onWriteFailure = options.onWriteFailure ?? (() => undefined);
  }

  /**
   * Writes one event or fails with SERVICE_UNAVAILABLE (code fixed, message
   * ours): callers refuse what they were about to do, or report that the
   * request could not be recorded. The original error goes to onWriteFailure.
   */
  async append(input: AuditEventInput): Promise<AuditEventRecord> {
    try {
      const id = newPrefixedId('aud');
      // Sealing reads the customer's data key: done before queueing, so it never holds the chain.
      const placement = await this.placeIdentifierHash(input, id);
      return await this.enqueue(chainOf(input.customerId), () => this.appendWithRetry(input, id, placement));
    } catch (error) {
      // A write refused because the customer was erased is an answer, not a failure of the trail.
      if (error instanceof CustomerErasedError) throw error;
      this.onWriteFailure(error);
      if (error instanceof GraphQLError) throw error;
      throw new ServiceUnavailableError('audit', 'The audit trail could not be written, so the request is refused; try again shortly');
    }
  }

  /** Appends to several chains at once (one event per chain position); order within one chain is kept. */
  async appendMany(inputs: readonly AuditEventInput[]): Promise<AuditEventRecord[]> {
    const byChain = new Map<string, Array<{ index: number; input: AuditEventInput }>>();
    inputs.forEach((input, index) => {
      const chain = chainOf(input.customerId);
      const list = byChain.get(chain) ?? [];
      list.push({ index, input });
      byChain.set(chain, list);
    });
    const results: AuditEventRecord[] = new Array(inputs.length);
    await Promise.all(
      [...byChain.values()].map(async (list) => {
        for (const { index, input } of list) results[index] = await this.append(input);
      }),
    );
    return results;
  }

  private enqueue<T>(chain: string, task: () => Promise<T>): Promise<T> {
    const queue = this.queues.get(chain);
    if (queue && queue.depth >= MAX_QUEUED_PER_CHAIN) return task();
    const entry = queue ?? { tail: Promise.resolve(), depth: 0 };
    // Runs after the previous append of this chain has settled, whether it succeeded or not, or has taken too long.
    const turn = queue ? Promise.race([entry.tail, sleep(MAX_QUEUE_WAIT_MS, undefined, { ref: false })]) : entry.tail;
    const run = turn.then(task, task);
    entry.depth += 1;
    entry.tail = run.then(
      () => this.dequeue(chain, entry),
      () => this.dequeue(chain, entry),
    );
    this.queues.set(chain, entry);
    return run;
  }

  private dequeue(chain: string, entry: { tail: Promise<unknown>; depth: number }): void {
    entry.depth -= 1;
    if (entry.depth === 0 && this.queues.get(chain) === entry) this.queues.delete(chain);
  }

  private async appendWithRetry(
    input: AuditEventInput,
    id: string,
    { identifierHash, sealedIdentifierHash }: { identifierHash: string | null; sealedIdentifierHash: string | null },
  ): Promise<AuditEventRecord> {
    const chain = chainOf(input.customerId);
    let head = this.heads.get(chain) ?? null;
    let isHeadFresh = false;
    if (!head && !input.expectsNewChain) {
      head = await this.repository.findHead(chain);
      isHeadFresh = true;
    }
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      // A head read from the store, or one this process wrote: if the insert below takes the next position, this is
      // really the event before it, so the check holds however stale the cache was.
      if (head?.type === 'DATA_DELETION' && input.customerId !== null && !EVENTS_AFTER_ERASURE.has(input.type)) throw new CustomerErasedError();
      if ((head?.sequence ?? 0) >= Number.MAX_SAFE_INTEGER) throw new ChainExhaustedError();
      const body: Omit<AuditEventRecord, 'hash'> = {
        id,
        chain,
        type: input.type,
        // Stamped when its position is claimed, at each attempt: stamped when append() began, before the chain's
        // queue and the retries, 2 of 33 events of a busy chain bore an earlier time than the event before them, and a
        // reader polling with `from` skipped them (a probe).
        occurredAt: new Date(),
        customerId: input.customerId,
        actor: { kind: input.actor.kind, id: input.actor.id },
        channel: input.channel ?? null,
        interactionId: input.interactionId ?? null,
        resolutionSource: input.resolutionSource ?? null,
        identifierHash,
        sealedIdentifierHash,
        fields: input.fields ?? null,
        justification: input.justification ?? null,
        requestId: input.requestId == null ? null : recordableRequestId(input.requestId),
        details: input.details ?? {},
        sequence: (head?.sequence ?? 0) + 1,
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      const event: AuditEventRecord = { ...body, hash: computeEventHash(body) };
      try {
        await this.repository.insert(event);
        this.rememberHead(chain, { sequence: event.sequence, hash: event.hash, type: event.type });
        return event;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        // Someone else took this position. Back off a little (more as contention grows) and re-read the head.
        if (isHeadFresh) await sleep(Math.random() * Math.min(50, attempt * 2));
        const taken = body.sequence;
        head = await this.repository.findHead(chain);
        isHeadFresh = true;
        // The head read from the store does not reach the position just found taken: an event sits where no number
        // can follow it (forged within one of 2^53). Retrying cannot help; it took 200 attempts and 6 s (a probe).
        if ((head?.sequence ?? 0) + 1 <= taken && taken >= Number.MAX_SAFE_INTEGER) throw new ChainExhaustedError();
        // Nobody holds the position: the refusal came from another unique index (one this service did not create; or
        // this event's own id, already stored). Retrying cannot help: it took 200 attempts, 6.5 s and a diagnosis of
        // contention (a probe). FerretDB's duplicate-key message names no index, so the head says which.
        if ((head?.sequence ?? 0) < taken) throw new Error('audit_events refused the event by a duplicate key, but its chain position is free: a unique index other than chain_sequence_unique?');
      }
    }
    throw new Error(`audit chain ${chain} is too contended: no position after ${MAX_ATTEMPTS} attempts`);
  }

  /** Every event seals its identifier hash: a customer's under their data key, an anonymous one under a key of its own. */
  private async placeIdentifierHash(input: AuditEventInput, eventId: string): Promise<{ identifierHash: string | null; sealedIdentifierHash: string | null }> {
    const hash = input.identifierHash ?? null;
    if (hash === null) return { identifierHash: null, sealedIdentifierHash: null };
    if (input.customerId === null && !this.seal) return { identifierHash: hash, sealedIdentifierHash: null };
    if (!this.seal) throw new Error('this audit log has no identifier seal: it cannot record an identifier hash on a customer event');
    return { identifierHash: null, sealedIdentifierHash: await this.seal.seal(input.customerId, eventId, hash, input.sealingKey ?? null, input.identifierPriorHashes ?? []) };
  }

  private rememberHead(chain: string, head: ChainHead): void {
    this.heads.delete(chain);
    this.heads.set(chain, head);
    if (this.heads.size > HEAD_CACHE_LIMIT) {
      const oldest = this.heads.keys().next().value;
      if (oldest !== undefined) this.heads.delete(oldest);
    }
  }

  /**
   * Whether a customer's chain holds an event of this type (with none of the `except` details), read from the store.
   * FerretDB filters it by scanning the events: for rare paths only.
   */
  hasEvent(customerId: string, type: AuditEventInput['type'], except: Record<string, string | number | boolean> = {}): Promise<boolean> {
    return this.repository.hasEvent(chainOf(customerId), type, except);
  }

  async verify(customerId: string): Promise<ChainVerification> {
    return this.verifyChain(chainOf(customerId));
  }

  /** Streams the chain through the verifier: memory stays flat however long the chain is. */
  async verifyChain(chain: string): Promise<ChainVerification> {
    const verifier = new ChainVerifier();
    for await (const event of this.repository.iterateChain(chain)) verifier.push(event);
    return verifier.result();
  }
}

/**
 * A chain whose highest position is the last safe integer (forged: no real chain comes near it) has no number left
 * for the next event. The write fails as when the trail is down; verifyAuditTrail reports the forged position.
 */
class ChainExhaustedError extends ServiceUnavailableError {
  constructor() {
    super('audit', 'The audit chain has an event at a position no event can follow; verifyAuditTrail names it');
  }
}
