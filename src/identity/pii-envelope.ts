import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { collectProblem, ConfigError } from '../errors.js';
import { decodeStrictBase64, looksRandom } from './strict-base64.js';
import { isCustomerId } from './customer-id.js';

const ENV_NAME = 'PII_MASTER_KEY';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
/** 96-bit IVs are GCM's native size; other lengths go through an extra GHASH step. */
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type PiiFieldName = 'DISPLAY_NAME' | 'EMAIL' | 'PHONE';

const PII_FIELD_NAMES: readonly PiiFieldName[] = ['DISPLAY_NAME', 'EMAIL', 'PHONE'];

export interface EncryptedValue {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export interface WrappedDataKey {
  /** Fingerprint of the master key that wrapped this data key (see `PiiEnvelope.masterKeyId`). */
  masterKeyId: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * Raised when stored ciphertext fails authentication or is malformed: it was
 * altered, or it belongs to another customer or field. Its message never
 * contains key material or plaintext.
 */
export class PiiIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PiiIntegrityError';
  }
}

/**
 * Envelope encryption for the personal attributes an agent may need in clear.
 *
 * Each customer has their own random data key; only its wrapped form (AES-
 * 256-GCM under the master key) is stored. Erasing a customer can therefore
 * destroy one small wrapped key instead of hunting every copy of their data,
 * and rotating the master key means re-wrapping keys, not re-encrypting
 * every attribute.
 *
 * Every ciphertext is bound through GCM's additional data to the customer id
 * (and, for attributes, the field), so a ciphertext copied onto another
 * customer or into another field fails to decrypt instead of revealing
 * someone else's data.
 */
export class PiiEnvelope {
  readonly #masterKey: KeyObject;
  /**
   * First 16 hex characters of SHA-256 of the master key. Stored with every
   * wrapped key so that a deployment started with the wrong `PII_MASTER_KEY`
   * says so plainly, instead of looking like corrupted data.
   */
  readonly masterKeyId: string;
  /** Not random bytes (see HmacKeyring.isWeak): refused for a database that holds no data under it yet. */
  readonly isWeakKey: boolean;
  /**
   * The master key being rotated away from (`PII_MASTER_KEY_PREVIOUS`), by fingerprint: data keys it wrapped still
   * unwrap; new ones are wrapped under the current key, and `npm run master-key:rotate` re-wraps the old ones.
   */
  readonly #previous = new Map<string, KeyObject>();

  constructor(masterKey: Uint8Array, previous: Uint8Array | null = null) {
    if (!(masterKey instanceof Uint8Array) || masterKey.length !== KEY_BYTES) {
      throw new ConfigError(`${ENV_NAME} must be exactly ${KEY_BYTES} bytes`);
    }
    this.isWeakKey = !looksRandom(masterKey);
    this.#masterKey = createSecretKey(masterKey);
    this.masterKeyId = fingerprint(masterKey);
    if (previous !== null) {
      if (!(previous instanceof Uint8Array) || previous.length !== KEY_BYTES) throw new ConfigError(`${PREVIOUS_ENV_NAME} must be exactly ${KEY_BYTES} bytes`);
      const previousId = fingerprint(previous);
      if (previousId === this.masterKeyId) throw new ConfigError(`${PREVIOUS_ENV_NAME}: is the same key as ${ENV_NAME}`);
      this.#previous.set(previousId, createSecretKey(previous));
    }
  }

  /** The fingerprints of the previous master keys this envelope still unwraps with. */
  get previousKeyIds(): string[] {
    return [...this.#previous.keys()];
  }

  /**
   * What is wrong with the `PII_MASTER_KEY` and `PII_MASTER_KEY_PREVIOUS` values, a line for each (fromBase64 throws
   * the first only, and a malformed previous key turned up only once the other was fixed: a probe).
   */
  static problemsWith(b64: string | null, previousB64: string | null = null): string[] {
    const problems: string[] = [];
    if (b64 !== null) collectProblem(problems, () => decodeKey(b64, ENV_NAME).fill(0));
    if (previousB64 !== null) collectProblem(problems, () => decodeKey(previousB64, PREVIOUS_ENV_NAME).fill(0));
    if (problems.length === 0 && b64 !== null) collectProblem(problems, () => PiiEnvelope.fromBase64(b64, previousB64));
    return problems;
  }

  /** Builds an envelope from the `PII_MASTER_KEY` value, and `PII_MASTER_KEY_PREVIOUS` when given: base64 of 32 bytes each. */
  static fromBase64(b64: string, previousB64: string | null = null): PiiEnvelope {
    const bytes = decodeKey(b64, ENV_NAME);
    const previous = previousB64 === null ? null : decodeKey(previousB64, PREVIOUS_ENV_NAME);
    try {
      return new PiiEnvelope(bytes, previous);
    } finally {
      // The KeyObject holds its own copy; do not leave ours on the heap.
      bytes.fill(0);
      previous?.fill(0);
    }
  }

  /** Makes a new data key for a customer and its wrapped form to store. */
  createDataKey(customerId: string): { dataKey: Buffer; wrapped: WrappedDataKey } {
    assertCustomerId(customerId);
    const dataKey = randomBytes(KEY_BYTES);
    const sealed = sealBytes(this.#masterKey, dataKey, buildDataKeyAad(customerId));
    return { dataKey, wrapped: { masterKeyId: this.masterKeyId, ...sealed } };
  }

  /**
   * The data key wrapped under the current master key, for one wrapped under a previous one; null when it is under
   * the current one already. The data key itself, and so every ciphertext and audit seal under it, stays the same.
   */
  rewrapDataKey(customerId: string, wrapped: WrappedDataKey): WrappedDataKey | null {
    if (wrapped.masterKeyId === this.masterKeyId) return null;
    const dataKey = this.unwrapDataKey(customerId, wrapped);
    try {
      return { masterKeyId: this.masterKeyId, ...sealBytes(this.#masterKey, dataKey, buildDataKeyAad(customerId)) };
    } finally {
      dataKey.fill(0);
    }
  }

  /** Recovers a customer's data key; fails if it was wrapped for another customer or key. */
  unwrapDataKey(customerId: string, wrapped: WrappedDataKey): Buffer {
    assertCustomerId(customerId);
    const previous = this.#previous.get(String(wrapped.masterKeyId));
    if (previous !== undefined) {
      const dataKey = openBytes(previous, wrapped, buildDataKeyAad(customerId), 'data key');
      if (dataKey.length !== KEY_BYTES) throw new PiiIntegrityError('The unwrapped data key has the wrong length');
      return dataKey;
    }
    if (wrapped.masterKeyId !== this.masterKeyId) {
      // Only a well-formed fingerprint is echoed, so stored junk cannot
      // break the one-line message.
      const storedId = /^[0-9a-f]{16}$/.test(String(wrapped.masterKeyId))
        ? String(wrapped.masterKeyId)
        : 'unknown';
      throw new ConfigError(
        `${ENV_NAME} does not match: this data key was wrapped under master key ${storedId}, the configured key is ${this.masterKeyId}`,
      );
    }
    const dataKey = openBytes(this.#masterKey, wrapped, buildDataKeyAad(customerId), 'data key');
    if (dataKey.length !== KEY_BYTES) {
      throw new PiiIntegrityError('The unwrapped data key has the wrong length');
    }
    return dataKey;
  }

  /** Encrypts one attribute of one customer under that customer's data key. */
  encryptField(
    dataKey: Buffer,
    customerId: string,
    field: PiiFieldName,
    plaintext: string,
  ): EncryptedValue {
    assertCustomerId(customerId);
    assertPiiField(field);
    if (typeof plaintext !== 'string') {
      throw new TypeError('encryptField: the plaintext must be a string');
    }
    const key = importDataKey(dataKey);
    return sealBytes(key, Buffer.from(plaintext, 'utf8'), buildFieldAad(customerId, field));
  }

  /** Decrypts one attribute; fails if it was altered or moved from another customer or field. */
  decryptField(
    dataKey: Buffer,
    customerId: string,
    field: PiiFieldName,
    value: EncryptedValue,
  ): string {
    assertCustomerId(customerId);
    assertPiiField(field);
    const key = importDataKey(dataKey);
    const bytes = openBytes(key, value, buildFieldAad(customerId, field), `${field} value`);
    return bytes.toString('utf8');
  }
}

const PREVIOUS_ENV_NAME = 'PII_MASTER_KEY_PREVIOUS';

function fingerprint(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function decodeKey(b64: string, name: string): Buffer {
  const trimmed = typeof b64 === 'string' ? b64.trim() : '';
  if (trimmed.length === 0) {
    throw new ConfigError(`${name} is empty; expected base64 of ${KEY_BYTES} random bytes`);
  }
  const bytes = decodeStrictBase64(trimmed);
  if (bytes === null) {
    throw new ConfigError(`${name} is not valid base64`);
  }
  if (bytes.length !== KEY_BYTES) {
    const length = bytes.length;
    bytes.fill(0);
    throw new ConfigError(`${name} decodes to ${length} bytes; exactly ${KEY_BYTES} are required`);
  }
  return bytes;
}

/** Makes a fresh `PII_MASTER_KEY` value for local development only. */
export function generateMasterKeyBase64(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

// The additional data starts with a purpose tag, so a wrapped data key can
// never be accepted as an attribute ciphertext or the other way round even
// if a data key were ever equal to the master key. Customer ids and field
// names contain no NUL, which keeps the concatenation unambiguous.
function buildDataKeyAad(customerId: string): Buffer {
  return Buffer.from(`veil.datakey\0${customerId}`, 'utf8');
}

function buildFieldAad(customerId: string, field: PiiFieldName): Buffer {
  return Buffer.from(`veil.pii\0${customerId}\0${field}`, 'utf8');
}

function sealBytes(key: KeyObject, plaintext: Buffer, aad: Buffer): EncryptedValue {
  // A fresh random IV per encryption: with GCM, reusing an IV under one key
  // leaks the XOR of plaintexts and allows forgeries. At 2^-96 per pair the
  // collision risk is negligible for the handful of values per data key.
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

function openBytes(key: KeyObject, sealed: EncryptedValue, aad: Buffer, what: string): Buffer {
  const iv = toBuffer(sealed?.iv);
  const ciphertext = toBuffer(sealed?.ciphertext);
  const tag = toBuffer(sealed?.tag);
  if (iv === null || ciphertext === null || tag === null) {
    throw new PiiIntegrityError(`The encrypted ${what} is malformed`);
  }
  // Insisting on a full 16-byte tag matters: Node would otherwise accept a
  // truncated tag, and a 4-byte tag can be forged by trial.
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new PiiIntegrityError(`The encrypted ${what} is malformed`);
  }
  const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new PiiIntegrityError(
      `The encrypted ${what} failed authentication: it was altered, or belongs to another customer or field`,
    );
  }
}

/**
 * Accepts the Buffers this module writes and the plain Uint8Arrays a
 * database driver may hand back, without copying either.
 */
function toBuffer(value: unknown): Buffer | null {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

function importDataKey(dataKey: Buffer): KeyObject {
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== KEY_BYTES) {
    throw new TypeError(`A PII data key must be exactly ${KEY_BYTES} bytes`);
  }
  return createSecretKey(dataKey);
}

function assertCustomerId(customerId: string): void {
  // Binding ciphertexts to anything but a well-formed customer id would make
  // the additional data meaningless (an empty id binds to nobody).
  if (!isCustomerId(customerId)) {
    throw new TypeError('PII envelope operations need a well-formed customer id');
  }
}

function assertPiiField(field: PiiFieldName): void {
  if (!PII_FIELD_NAMES.includes(field)) {
    throw new TypeError('unknown PII field');
  }
}
