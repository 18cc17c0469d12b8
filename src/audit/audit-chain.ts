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
    const out: { [key: string]: Canonical } = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = toCanonical(v);
    }
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new TypeError(`cannot canonicalise a ${typeof value}`);
}

/** hash = SHA-256 over the canonical event (without its own hash) and prevHash. */
export function computeEventHash(event: Omit<AuditEventRecord, 'hash'>): string {
  const { prevHash, ...body } = event;
  return createHash('sha256').update(canonicalise(body)).update('\n').update(prevHash).digest('hex');
}

export interface ChainVerification {
  valid: boolean;
  eventCount: number;
  firstBrokenSequence: number | null;
}

/** Walks a chain in sequence order: positions must be 1..n, links must match, hashes must recompute. */
export function verifyChain(events: readonly AuditEventRecord[]): ChainVerification {
  let prevHash = GENESIS_HASH;
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as AuditEventRecord;
    const { hash, ...rest } = event;
    const isIntact = event.sequence === i + 1 && event.prevHash === prevHash && computeEventHash(rest) === hash;
    if (!isIntact) return { valid: false, eventCount: events.length, firstBrokenSequence: i + 1 };
    prevHash = hash;
  }
  return { valid: true, eventCount: events.length, firstBrokenSequence: null };
}
