import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { newCustomerId } from '../../src/identity/customer-id.js';
import {
  PiiEnvelope,
  PiiIntegrityError,
  generateMasterKeyBase64,
  type EncryptedValue,
} from '../../src/identity/pii-envelope.js';

const MASTER_KEY = generateMasterKeyBase64();

/** Returns a copy of a buffer with one bit flipped at `index`. */
function flipBit(buffer: Buffer, index = 0): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

describe('PiiEnvelope.fromBase64', () => {
  it('accepts base64 of exactly 32 bytes and derives a 16-hex-digit master key id', () => {
    const envelope = PiiEnvelope.fromBase64(MASTER_KEY);
    expect(envelope.masterKeyId).toMatch(/^[0-9a-f]{16}$/);
    expect(PiiEnvelope.fromBase64(MASTER_KEY).masterKeyId).toBe(envelope.masterKeyId);
    expect(PiiEnvelope.fromBase64(generateMasterKeyBase64()).masterKeyId).not.toBe(envelope.masterKeyId);
  });

  it('tolerates surrounding whitespace and missing padding', () => {
    expect(PiiEnvelope.fromBase64(` ${MASTER_KEY.replace(/=+$/, '')}\n`).masterKeyId).toBe(
      PiiEnvelope.fromBase64(MASTER_KEY).masterKeyId,
    );
  });

  it.each([
    ['an empty value', ''],
    ['31 bytes', Buffer.alloc(31, 1).toString('base64')],
    ['33 bytes', Buffer.alloc(33, 1).toString('base64')],
    ['64 bytes', Buffer.alloc(64, 1).toString('base64')],
    ['characters outside base64', `${MASTER_KEY.slice(0, -2)}!=`],
    ['a space in the middle', `${MASTER_KEY.slice(0, 10)} ${MASTER_KEY.slice(10)}`],
    ['hex instead of base64', Buffer.alloc(32, 0xab).toString('hex')],
    ['misplaced padding', `=${MASTER_KEY.slice(1)}`],
  ])('refuses %s with an error naming PII_MASTER_KEY', (_label, value) => {
    try {
      PiiEnvelope.fromBase64(value);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('PII_MASTER_KEY');
      expect((error as Error).message).not.toContain(MASTER_KEY.slice(0, 12));
    }
  });

  it('marks a key of fewer than 8 distinct byte values as weak (refused for a database without data under it)', () => {
    expect(PiiEnvelope.fromBase64(Buffer.alloc(32).toString('base64')).isWeakKey).toBe(true);
    expect(PiiEnvelope.fromBase64(Buffer.alloc(32, 0x41).toString('base64')).isWeakKey).toBe(true);
    expect(PiiEnvelope.fromBase64(MASTER_KEY).isWeakKey).toBe(false);
  });

  it('does not reveal the master key when inspected or serialised', () => {
    const envelope = PiiEnvelope.fromBase64(MASTER_KEY);
    expect(inspect(envelope, { showHidden: true, depth: 5 })).not.toContain(MASTER_KEY);
    expect(JSON.stringify(envelope)).not.toContain(MASTER_KEY);
  });
});

describe('PiiEnvelope data keys', () => {
  const envelope = PiiEnvelope.fromBase64(MASTER_KEY);

  it('wraps a fresh 32-byte data key and unwraps it again for the same customer', () => {
    const customerId = newCustomerId();
    const { dataKey, wrapped } = envelope.createDataKey(customerId);
    expect(dataKey).toHaveLength(32);
    expect(wrapped.masterKeyId).toBe(envelope.masterKeyId);
    expect(wrapped.iv).toHaveLength(12);
    expect(wrapped.tag).toHaveLength(16);
    expect(wrapped.ciphertext.equals(dataKey)).toBe(false);
    expect(envelope.unwrapDataKey(customerId, wrapped).equals(dataKey)).toBe(true);
  });

  it('makes a different data key for every customer', () => {
    const a = envelope.createDataKey(newCustomerId()).dataKey;
    const b = envelope.createDataKey(newCustomerId()).dataKey;
    expect(a.equals(b)).toBe(false);
  });

  it('refuses to unwrap a data key for another customer', () => {
    const { wrapped } = envelope.createDataKey(newCustomerId());
    expect(() => envelope.unwrapDataKey(newCustomerId(), wrapped)).toThrow(PiiIntegrityError);
  });

  it('refuses a tampered wrapped key', () => {
    const customerId = newCustomerId();
    const { wrapped } = envelope.createDataKey(customerId);
    expect(() => envelope.unwrapDataKey(customerId, { ...wrapped, ciphertext: flipBit(wrapped.ciphertext) })).toThrow(
      PiiIntegrityError,
    );
    expect(() => envelope.unwrapDataKey(customerId, { ...wrapped, tag: flipBit(wrapped.tag, 15) })).toThrow(
      PiiIntegrityError,
    );
    expect(() => envelope.unwrapDataKey(customerId, { ...wrapped, iv: flipBit(wrapped.iv) })).toThrow(
      PiiIntegrityError,
    );
  });

  it('says plainly that PII_MASTER_KEY is wrong when another master key wrapped the data key', () => {
    const customerId = newCustomerId();
    const { wrapped } = envelope.createDataKey(customerId);
    const other = PiiEnvelope.fromBase64(generateMasterKeyBase64());
    expect(() => other.unwrapDataKey(customerId, wrapped)).toThrow(ConfigError);
    expect(() => other.unwrapDataKey(customerId, wrapped)).toThrow(
      new RegExp(`PII_MASTER_KEY does not match.*${envelope.masterKeyId}.*${other.masterKeyId}`),
    );
  });

  it('still refuses a data key whose master key id was forged to match', () => {
    const customerId = newCustomerId();
    const { wrapped } = envelope.createDataKey(customerId);
    const other = PiiEnvelope.fromBase64(generateMasterKeyBase64());
    expect(() => other.unwrapDataKey(customerId, { ...wrapped, masterKeyId: other.masterKeyId })).toThrow(
      PiiIntegrityError,
    );
  });

  it('refuses a truncated authentication tag', () => {
    const customerId = newCustomerId();
    const { wrapped } = envelope.createDataKey(customerId);
    expect(() => envelope.unwrapDataKey(customerId, { ...wrapped, tag: wrapped.tag.subarray(0, 4) })).toThrow(
      PiiIntegrityError,
    );
  });

  it('refuses ids that are not customer ids, since they would bind the key to nobody', () => {
    expect(() => envelope.createDataKey('')).toThrow(TypeError);
    expect(() => envelope.createDataKey('{"$ne": null}')).toThrow(TypeError);
  });
});

describe('PiiEnvelope attributes', () => {
  const envelope = PiiEnvelope.fromBase64(MASTER_KEY);
  const customerId = newCustomerId();
  const { dataKey } = envelope.createDataKey(customerId);

  it.each([
    ['DISPLAY_NAME', 'Jane Doe'],
    ['EMAIL', 'jane.doe@example.com'],
    ['PHONE', '+447700900123'],
    ['DISPLAY_NAME', 'Ōsaka Ümit 𝒜lice 👩‍👩‍👧'],
    ['DISPLAY_NAME', ''],
    ['DISPLAY_NAME', 'x'.repeat(10_000)],
    ['DISPLAY_NAME', 'line one\nline two\u0000'],
  ] as const)('round-trips a %s value', (field, plaintext) => {
    const encrypted = envelope.encryptField(dataKey, customerId, field, plaintext);
    expect(encrypted.iv).toHaveLength(12);
    expect(encrypted.tag).toHaveLength(16);
    if (plaintext.length > 0) {
      expect(encrypted.ciphertext.toString('utf8')).not.toContain(plaintext);
    }
    expect(envelope.decryptField(dataKey, customerId, field, encrypted)).toBe(plaintext);
  });

  it('uses a fresh IV for every encryption, so equal values do not look equal', () => {
    const a = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    const b = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('refuses a ciphertext with a flipped bit', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    const tampered: EncryptedValue = { ...encrypted, ciphertext: flipBit(encrypted.ciphertext, 3) };
    expect(() => envelope.decryptField(dataKey, customerId, 'EMAIL', tampered)).toThrow(PiiIntegrityError);
    expect(() =>
      envelope.decryptField(dataKey, customerId, 'EMAIL', { ...encrypted, tag: flipBit(encrypted.tag) }),
    ).toThrow(PiiIntegrityError);
  });

  it('refuses a ciphertext moved onto another customer, even with the right data key', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    expect(() => envelope.decryptField(dataKey, newCustomerId(), 'EMAIL', encrypted)).toThrow(PiiIntegrityError);
  });

  it('refuses a ciphertext moved into another field', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    expect(() => envelope.decryptField(dataKey, customerId, 'DISPLAY_NAME', encrypted)).toThrow(PiiIntegrityError);
  });

  it('refuses to decrypt under another customer\'s data key', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'PHONE', '+447700900123');
    const otherKey = envelope.createDataKey(customerId).dataKey;
    expect(() => envelope.decryptField(otherKey, customerId, 'PHONE', encrypted)).toThrow(PiiIntegrityError);
  });

  it('does not put the plaintext in its error messages', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    try {
      envelope.decryptField(dataKey, customerId, 'EMAIL', { ...encrypted, tag: flipBit(encrypted.tag) });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('jane');
    }
  });

  it('decrypts values read back as plain Uint8Arrays, as a database driver may return them', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    const fromDriver = {
      iv: new Uint8Array(encrypted.iv),
      ciphertext: new Uint8Array(encrypted.ciphertext),
      tag: new Uint8Array(encrypted.tag),
    } as unknown as EncryptedValue;
    expect(envelope.decryptField(dataKey, customerId, 'EMAIL', fromDriver)).toBe('jane@example.com');
  });

  it('refuses malformed stored values', () => {
    const encrypted = envelope.encryptField(dataKey, customerId, 'EMAIL', 'jane@example.com');
    expect(() =>
      envelope.decryptField(dataKey, customerId, 'EMAIL', { ...encrypted, iv: randomBytes(16) }),
    ).toThrow(PiiIntegrityError);
    expect(() =>
      envelope.decryptField(dataKey, customerId, 'EMAIL', { iv: 'x', ciphertext: 'y', tag: 'z' } as unknown as EncryptedValue),
    ).toThrow(PiiIntegrityError);
  });

  it('refuses a data key of the wrong size', () => {
    expect(() => envelope.encryptField(randomBytes(16), customerId, 'EMAIL', 'jane@example.com')).toThrow(TypeError);
  });
});
