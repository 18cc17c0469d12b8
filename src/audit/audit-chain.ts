import { createHash } from 'node:crypto';
import type { AuditEventRecord } from './audit-types.js';

/** The prevHash of the first event of every chain. */
export const GENESIS_HASH = '0'.repeat(64);
/** Events without a customer (anonymous resolutions) share this chain. */
export const ANONYMOUS_CHAIN = '_anonymous';

export function chainOf(customerId: string | null): string {
  return customerId ?? ANONYMOUS_CHAIN;
}

type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical };

/** JSON with sorted keys, dates as ISO strings and no undefined: the same bytes for the same event, everywhere. */
export function canonicalise(value: unknown): string {
  return JSON.stringify(toCanonical(value));
}

function toCanonical(value: unknown): Canonical {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toCanonical);
  if (typeof value === 'object') {
    // No prototype: a stored key `__proto__` (only tampering writes one) is an own key like any other. On a plain
    // object the assignment set the prototype instead, the key never reached the canonical text, and an event forged
    // that way still verified (a probe).
    const out: { [key: string]: Canonical } = Object.create(null) as { [key: string]: Canonical };
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = toCanonical(v);
    }
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new TypeError(`cannot canonicalise a ${typeof value}`);
}

/**
 * hash = SHA-256 over the canonical event (without its own hash) and prevHash.
 * `sealedIdentifierHash` came after the first events were written: it enters
 * the canonical form only when set, so those earlier events still verify.
 */
export function computeEventHash(event: Omit<AuditEventRecord, 'hash'>): string {
  const { prevHash, sealedIdentifierHash, ...rest } = event;
  const body = sealedIdentifierHash === null ? rest : { ...rest, sealedIdentifierHash };
  return createHash('sha256').update(canonicalise(body)).update('\n').update(prevHash).digest('hex');
}

export interface ChainVerification {
  valid: boolean;
  eventCount: number;
  firstBrokenSequence: number | null;
  /** The event at the highest position, as stored (null for an empty chain): what a deployment anchors elsewhere. */
  head: { sequence: number; hash: string } | null;
}

/**
 * Walks a chain in sequence order, one event at a time (a chain can be longer
 * than memory should hold): positions must be 1..n, each prevHash must be the
 * previous event's hash, and each hash must recompute.
 */
export class ChainVerifier {
  private prevHash = GENESIS_HASH;
  private count = 0;
  private firstBroken: number | null = null;
  private last: { sequence: number; hash: string } | null = null;

  push(event: AuditEventRecord): void {
    this.count += 1;
    // The head is the highest position, not the last event read: a tampered sequence (read as 0) that sorts last
    // was reported as the head to anchor (a probe).
    if (this.last === null || event.sequence >= this.last.sequence) this.last = { sequence: event.sequence, hash: event.hash };
    if (this.firstBroken !== null) return;
    const { hash, ...rest } = event;
    const isIntact = event.sequence === this.count && event.prevHash === this.prevHash && recomputes(rest, hash);
    if (!isIntact) this.firstBroken = this.count;
    this.prevHash = hash;
  }

  result(): ChainVerification {
    return { valid: this.firstBroken === null, eventCount: this.count, firstBrokenSequence: this.firstBroken, head: this.last };
  }
}

/** A value no event of the log can hold (only tampering stores one) cannot be canonicalised: that event is broken. */
function recomputes(event: Omit<AuditEventRecord, 'hash'>, hash: string): boolean {
  try {
    return computeEventHash(event) === hash;
  } catch {
    return false;
  }
}

export function verifyChain(events: readonly AuditEventRecord[]): ChainVerification {
  const verifier = new ChainVerifier();
  for (const event of events) verifier.push(event);
  return verifier.result();
}
