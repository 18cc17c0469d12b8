import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { PiiEnvelope, WrappedDataKey } from '../identity/pii-envelope.js';

/**
 * Seals the identifier hash of a customer's audit event under a key derived
 * from that customer's data key.
 *
 * Why: audit events are immutable and hash-chained, so an identifier hash
 * written in clear would link the identifier to the customer id for ever,
 * erasure included. Sealed, the link lives exactly as long as the data key:
 * crypto-shredding the key at erasure makes every sealed hash unreadable,
 * while the chain (which covers the sealed form) still verifies.
 */
export interface IdentifierHashSeal {
  /** null when the customer has no data key any more (erased): the hash is then not recorded at all. */
  seal(customerId: string, eventId: string, identifierHash: string): Promise<string | null>;
  /** One data-key query for all items; null for a shredded key or a seal that does not open. */
  openAll(items: ReadonlyArray<{ customerId: string; eventId: string; sealed: string }>): Promise<Array<string | null>>;
}

const FORMAT = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HKDF_INFO = 'veil.audit.identifier-hash';

export type WrappedKeyFinder = (customerIds: readonly string[]) => Promise<Array<WrappedDataKey | null>>;

export class CustomerKeySeal implements IdentifierHashSeal {
  constructor(
    private readonly envelope: PiiEnvelope,
    private readonly findWrappedKeys: WrappedKeyFinder,
  ) {}

  async seal(customerId: string, eventId: string, identifierHash: string): Promise<string | null> {
    const [wrapped] = await this.findWrappedKeys([customerId]);
    if (!wrapped) return null;
    const key = this.deriveKey(customerId, wrapped);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(buildAad(customerId, eventId));
    const body = Buffer.concat([cipher.update(identifierHash, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    key.fill(0);
    return `${FORMAT}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  async openAll(items: ReadonlyArray<{ customerId: string; eventId: string; sealed: string }>): Promise<Array<string | null>> {
    if (items.length === 0) return [];
    const ids = [...new Set(items.map((item) => item.customerId))];
    const wrapped = await this.findWrappedKeys(ids);
    const keys = new Map<string, Buffer>();
    ids.forEach((id, i) => {
      const w = wrapped[i];
      if (w) keys.set(id, this.deriveKey(id, w));
    });
    const opened = items.map((item) => {
      const key = keys.get(item.customerId);
      return key ? openSeal(key, item.customerId, item.eventId, item.sealed) : null;
    });
    for (const key of keys.values()) key.fill(0);
    return opened;
  }

  private deriveKey(customerId: string, wrapped: WrappedDataKey): Buffer {
    const dataKey = this.envelope.unwrapDataKey(customerId, wrapped);
    try {
      return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), HKDF_INFO, 32));
    } finally {
      dataKey.fill(0);
    }
  }
}

// Bound to the customer and the event: a sealed value copied onto another event does not open.
function buildAad(customerId: string, eventId: string): Buffer {
  return Buffer.from(`${HKDF_INFO}\0${customerId}\0${eventId}`, 'utf8');
}

function openSeal(key: Buffer, customerId: string, eventId: string, sealed: string): string | null {
  const [format, ivText, bodyText] = sealed.split('.');
  if (format !== FORMAT || !ivText || !bodyText) return null;
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  if (iv.length !== IV_BYTES || body.length <= TAG_BYTES) return null;
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(buildAad(customerId, eventId));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch (error) {
    // An altered seal fails authentication. verifyAuditTrail reports the altered event; a reader gets no hash rather than a wrong one.
    if (error instanceof Error) return null;
    throw error;
  }
}
