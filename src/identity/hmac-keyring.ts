import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { decodeStrictBase64, looksRandom } from './strict-base64.js';
import { IDENTIFIER_KINDS, type IdentifierKind } from './normalise-identifier.js';

const ENV_NAME = 'IDENTITY_HMAC_KEYS';

const VERSION_PATTERN = /^[A-Za-z0-9_-]{1,16}$/;

/** HMAC-SHA-256 keys shorter than the digest would be the weakest link. */
const MIN_KEY_BYTES = 32;

/** A full SHA-256 digest is 32 bytes, 43 characters of unpadded base64url. */
const HASH_PATTERN = /^([A-Za-z0-9_-]{1,16}):([A-Za-z0-9_-]{43})$/;

/**
 * Bumped only if the way identifiers are fed to the HMAC ever changes; it
 * keeps hashes made by this scheme apart from any other use of the same key.
 */
const DOMAIN_TAG = 'veil.identifier.v1';

/**
 * The versioned keys that turn normalised identifiers into the hashes stored
 * and looked up in MongoDB. Built from `IDENTITY_HMAC_KEYS`
 * (`v2:<base64>,v1:<base64>`): the first key hashes new identifiers, the
 * older ones are kept so that identifiers written before a rotation still
 * resolve (see `hashAll`).
 *
 * Key material lives only in `KeyObject`s, which never print their bytes,
 * so logging or inspecting a keyring cannot leak a key.
 */
/** Whether two keys give the same HMAC-SHA-256 (their digests of one fixed message, compared in constant time). */
function sameHmacKey(a: KeyObject, b: KeyObject): boolean {
  const probe = (key: KeyObject) => createHmac('sha256', key).update('veil: are these keys the same?').digest();
  return timingSafeEqual(probe(a), probe(b));
}

export class HmacKeyring {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly #current: string;

  readonly #weak: ReadonlySet<string>;

  private constructor(keys: ReadonlyMap<string, KeyObject>, current: string, weak: ReadonlySet<string>) {
    this.#keys = keys;
    this.#current = current;
    this.#weak = weak;
  }

  /**
   * Reads the `IDENTITY_HMAC_KEYS` format. Every failure is a `ConfigError`
   * naming the variable and the entry at fault, never the key itself.
   */
  static parse(spec: string): HmacKeyring {
    if (typeof spec !== 'string' || spec.trim().length === 0) {
      throw new ConfigError(`${ENV_NAME} is empty; expected comma-separated version:base64key entries`);
    }
    const keys = new Map<string, KeyObject>();
    const weak = new Set<string>();
    const entries = spec.split(',');
    entries.forEach((rawEntry, index) => {
      const position = `entry ${index + 1}`;
      const entry = rawEntry.trim();
      const colon = entry.indexOf(':');
      if (colon < 0) {
        throw new ConfigError(`${ENV_NAME} ${position} is not in the form version:base64key`);
      }
      const version = entry.slice(0, colon).trim();
      const encodedKey = entry.slice(colon + 1).trim();
      if (!VERSION_PATTERN.test(version)) {
        throw new ConfigError(
          `${ENV_NAME} ${position} has a key version that is not 1 to 16 of A-Z a-z 0-9 _ -`,
        );
      }
      // Entries are named by position, never by their text: an entry written the wrong way round (key:version) would
      // otherwise print the start of a key as its "version".
      if (keys.has(version)) {
        throw new ConfigError(`${ENV_NAME} ${position} repeats the key version of an earlier entry`);
      }
      if (encodedKey.includes(':')) {
        throw new ConfigError(`${ENV_NAME} ${position} has more than one ':'; a key version may not contain one`);
      }
      const keyBytes = decodeStrictBase64(encodedKey);
      if (keyBytes === null) {
        throw new ConfigError(`${ENV_NAME} ${position}'s key is not valid base64`);
      }
      if (keyBytes.length < MIN_KEY_BYTES) {
        keyBytes.fill(0);
        throw new ConfigError(
          `${ENV_NAME} ${position}'s key is ${keyBytes.length} bytes; at least ${MIN_KEY_BYTES} are required`,
        );
      }
      if (!looksRandom(keyBytes)) weak.add(version);
      const key = createSecretKey(keyBytes);
      // The same key under two versions: a "rotation" that pasted the old key under the new label went through, and
      // identifiers:retire then reported the old version's records re-keyed and deleted them (a probe). Compared by
      // what they hash, not their bytes: HMAC pads a key to 64 bytes with zeros and hashes a longer one, so a key
      // with zeros appended, or a long key and its SHA-256, hash alike (a regression probe).
      const same = [...keys.values()].findIndex((earlier) => sameHmacKey(earlier, key));
      if (same >= 0) {
        keyBytes.fill(0);
        throw new ConfigError(`${ENV_NAME} ${position} holds the same key as entry ${same + 1}; each version needs a key of its own`);
      }
      keys.set(version, key);
      // createSecretKey copies the bytes; wipe our copy so it does not linger
      // on the heap until the next collection.
      keyBytes.fill(0);
    });
    const current = keys.keys().next().value;
    if (current === undefined) {
      throw new ConfigError(`${ENV_NAME} holds no keys`);
    }
    return new HmacKeyring(keys, current, weak);
  }

  /**
   * Whether the key of `version` is not random bytes (fewer than 8 distinct values: all zero, one byte repeated). Such
   * a key is refused for a database that has not recorded it yet (src/identity/key-checks.ts); one already on record
   * is kept, with a warning, so that its data stays reachable while it is rotated away.
   */
  isWeak(version: string): boolean {
    return this.#weak.has(version);
  }

  /** The version that hashes every identifier written from now on. */
  get currentVersion(): string {
    return this.#current;
  }

  /** All versions, the current one first, then the older ones in configured order. */
  get versions(): string[] {
    return [...this.#keys.keys()];
  }

  /** Reports whether a hash made under `version` can be recomputed. */
  hasVersion(version: string): boolean {
    return this.#keys.has(version);
  }

  /**
   * Returns `<version>:<base64url HMAC-SHA-256>` of a normalised identifier.
   * The kind is part of the MAC input so that an email and a CRM id that
   * happen to be the same string never collide.
   */
  hash(kind: IdentifierKind, normalised: string, version: string = this.#current): string {
    if (!IDENTIFIER_KINDS.includes(kind)) {
      throw new TypeError('HmacKeyring.hash: unknown identifier kind');
    }
    if (typeof normalised !== 'string' || normalised.length === 0) {
      throw new TypeError('HmacKeyring.hash: the normalised identifier must be a non-empty string');
    }
    const key = this.#keys.get(version);
    if (key === undefined) {
      // Reaching here means stored data refers to a key that was removed from
      // configuration, which only an operator can fix.
      throw new ConfigError(`${ENV_NAME} has no key version "${version}"`);
    }
    // The kind never contains NUL, so `kind\0value` cannot be confused with
    // another (kind, value) pair whatever the value holds.
    const digest = createHmac('sha256', key)
      .update(`${DOMAIN_TAG}\0${kind}\0${normalised}`, 'utf8')
      .digest('base64url');
    return `${version}:${digest}`;
  }

  /**
   * A value that tells whether `version` is the same key another time: an HMAC of a fixed text (never of an
   * identifier), stored on first use and compared at every start (`key-checks.ts`).
   */
  checkValue(version: string): string {
    const key = this.#keys.get(version);
    if (key === undefined) throw new ConfigError(`${ENV_NAME} has no key version "${version}"`);
    return createHmac('sha256', key).update(`${DOMAIN_TAG}\0key-check\0${version}`, 'utf8').digest('base64url');
  }

  /**
   * `<version>:<base64url HMAC-SHA-256>` of a CRM id's skeleton (its letters and digits, lower-cased): what the
   * customer's own-identifier screen looks for in free text, whatever separates the id's pieces there (`ACME X1234`,
   * `ACME/X1234`, `acmex1234` for ACME-X1234). Its own MAC input, so it never equals an identifier's hash.
   */
  skeletonHash(skeleton: string, version: string = this.#current): string {
    const key = this.#keys.get(version);
    if (key === undefined) throw new ConfigError(`${ENV_NAME} has no key version "${version}"`);
    return `${version}:${createHmac('sha256', key).update(`${DOMAIN_TAG}\0crm-skeleton\0${skeleton}`, 'utf8').digest('base64url')}`;
  }

  /**
   * Hashes under every configured version, current first: the lookup set for
   * an identifier that may have been stored before the last key rotation.
   */
  hashAll(kind: IdentifierKind, normalised: string): string[] {
    return this.versions.map((version) => this.hash(kind, normalised, version));
  }

  /** Tells whether a string has the shape of a hash this keyring writes. */
  static isHash(value: unknown): value is string {
    return typeof value === 'string' && HASH_PATTERN.test(value);
  }

  /** Returns the key version a stored hash was made with. */
  static versionOf(hash: string): string {
    const match = typeof hash === 'string' ? HASH_PATTERN.exec(hash) : null;
    const version = match?.[1];
    if (version === undefined) {
      throw new TypeError('HmacKeyring.versionOf: not a <version>:<base64url digest> identifier hash');
    }
    return version;
  }
}

/**
 * Makes a fresh single-key `IDENTITY_HMAC_KEYS` value for local development.
 * Production keys come from the operator's secret store, never from here.
 */
export function generateHmacKeySpec(version = 'v1'): string {
  if (!VERSION_PATTERN.test(version)) {
    throw new TypeError('generateHmacKeySpec: the version must be 1 to 16 of A-Z a-z 0-9 _ -');
  }
  return `${version}:${randomBytes(32).toString('base64')}`;
}
