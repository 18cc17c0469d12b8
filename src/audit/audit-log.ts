import { setTimeout as sleep } from 'node:timers/promises';
import { newPrefixedId } from '../identity/customer-id.js';
import { isDuplicateKeyError } from '../storage/mongo.js';
import { chainOf, computeEventHash, GENESIS_HASH, verifyChain, type ChainVerification } from './audit-chain.js';
import type { AuditRepository } from './audit-repository.js';
import type { AuditEventInput, AuditEventRecord } from './audit-types.js';

const MAX_ATTEMPTS = 200;
const HEAD_CACHE_LIMIT = 10_000;

/**
 * Appends events to per-customer hash chains. A chain position is claimed by
 * inserting (chain, sequence) behind a unique index, never by updating a
 * counter: concurrent writers retry on duplicate key, so the chain stays
 * gap-free and fork-free on MongoDB and FerretDB alike.
 */
export class AuditLog {
  /** Last head this process wrote or read per chain: a good guess that saves a read; a wrong one only costs a retry. */
  private readonly heads = new Map<string, { sequence: number; hash: string }>();

  constructor(
    private readonly repository: AuditRepository,
    private readonly onWriteFailure: (error: unknown) => void = () => undefined,
  ) {}

  async append(input: AuditEventInput): Promise<AuditEventRecord> {
    try {
      return await this.appendWithRetry(input);
    } catch (error) {
      this.onWriteFailure(error);
      throw error;
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

  private async appendWithRetry(input: AuditEventInput): Promise<AuditEventRecord> {
    const chain = chainOf(input.customerId);
    const id = newPrefixedId('aud');
    const occurredAt = new Date();
    let head = this.heads.get(chain) ?? null;
    let isHeadFresh = false;
    if (!head) {
      head = await this.repository.findHead(chain);
      isHeadFresh = true;
    }
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const body: Omit<AuditEventRecord, 'hash'> = {
        id,
        chain,
        type: input.type,
        occurredAt,
        customerId: input.customerId,
        actor: { kind: input.actor.kind, id: input.actor.id },
        channel: input.channel ?? null,
        interactionId: input.interactionId ?? null,
        resolutionSource: input.resolutionSource ?? null,
        identifierHash: input.identifierHash ?? null,
        fields: input.fields ?? null,
        justification: input.justification ?? null,
        requestId: input.requestId ?? null,
        details: input.details ?? {},
        sequence: (head?.sequence ?? 0) + 1,
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      const event: AuditEventRecord = { ...body, hash: computeEventHash(body) };
      try {
        await this.repository.insert(event);
        this.rememberHead(chain, { sequence: event.sequence, hash: event.hash });
        return event;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
        // Someone else took this position. Back off a little (more as contention grows) and re-read the head.
        if (isHeadFresh) await sleep(Math.random() * Math.min(50, attempt * 2));
        head = await this.repository.findHead(chain);
        isHeadFresh = true;
      }
    }
    throw new Error(`audit chain ${chain} is too contended: no position after ${MAX_ATTEMPTS} attempts`);
  }

  private rememberHead(chain: string, head: { sequence: number; hash: string }): void {
    this.heads.delete(chain);
    this.heads.set(chain, head);
    if (this.heads.size > HEAD_CACHE_LIMIT) {
      const oldest = this.heads.keys().next().value;
      if (oldest !== undefined) this.heads.delete(oldest);
    }
  }

  async verify(customerId: string): Promise<ChainVerification> {
    return verifyChain(await this.repository.findChain(chainOf(customerId)));
  }
}
