import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { ConfigError, describeCause, UnauthenticatedError } from '../errors.js';
import { classifyCaller, type Caller } from './caller.js';

/** Asymmetric algorithms only: an HS256 token signed with a public key as secret must never verify. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const MAX_TOKEN_LENGTH = 8192;
const MAX_KEY_SET_FILE_BYTES = 1_048_576;
export const MAX_SUBJECT_LENGTH = 256;
/** Verified tokens remembered at most; the oldest entry goes first. */
const VERIFIED_CACHE_ENTRIES = 10_000;

export interface TokenVerifierOptions {
  jwks: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
  /** Reuse a verified token's caller for this long (never past its `exp`); 0 verifies every request. */
  verifiedCacheSeconds?: number;
  now?: () => number;
}

interface VerifiedEntry {
  caller: Caller;
  /** Epoch ms after which the entry is not used: min(exp, verified + verifiedCacheSeconds). */
  until: number;
}

/**
 * Verifies bearer JWTs against the JWKS. A token that verified is remembered (by its SHA-256, never the token
 * itself) for `verifiedCacheSeconds` but never past its own `exp`, so a caller that sends the same token on every
 * request pays one signature check a minute instead of one per request. Failures are never cached. A key removed
 * from the JWKS stops being trusted for new tokens at once and for already-verified ones within that window.
 */
export class TokenVerifier {
  private readonly verified = new Map<string, VerifiedEntry>();
  private readonly now: () => number;

  constructor(private readonly options: TokenVerifierOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A key set given inline or as AUTH_JWKS_FILE is checked at start-up (see
   * checkKeySet); a bad one stops start-up naming the variable. AUTH_JWKS_URL
   * is fetched once at start-up too: a key set it serves that fails the check
   * stops start-up, but an identity provider that cannot be reached does not
   * (it may be down for a moment): `onKeySetUnavailable` hears of that, and of
   * every later fetch that fails, while tokens are refused.
   */
  static async fromSource(source: {
    jwksUrl: string | null;
    jwksFile: string | null;
    jwks?: JSONWebKeySet;
    issuer: string;
    audience: string;
    clockToleranceSeconds: number;
    verifiedCacheSeconds?: number;
    onKeySetUnavailable?: (cause: unknown) => void;
  }): Promise<TokenVerifier> {
    let jwks: JWTVerifyGetKey;
    if (source.jwks) jwks = createLocalJWKSet(checkKeySet(source.jwks, 'the dev key set'));
    else if (source.jwksUrl) jwks = await remoteKeySet(source.jwksUrl, source.onKeySetUnavailable ?? (() => undefined));
    else if (source.jwksFile) jwks = createLocalJWKSet(checkKeySet(await readKeySetFile(source.jwksFile), 'AUTH_JWKS_FILE'));
    else throw new Error('no JWKS source configured');
    return new TokenVerifier({
      jwks,
      issuer: source.issuer,
      audience: source.audience,
      clockToleranceSeconds: source.clockToleranceSeconds,
      verifiedCacheSeconds: source.verifiedCacheSeconds ?? 0,
    });
  }

  /** Verifies an Authorization header value. Every failure is the same UNAUTHENTICATED error to the caller. */
  async verifyAuthorization(header: string | undefined): Promise<Caller> {
    const token = extractBearer(header);
    const cacheSeconds = this.options.verifiedCacheSeconds ?? 0;
    if (cacheSeconds <= 0) return (await this.verifyTokenWithExpiry(token)).caller;
    const key = createHash('sha256').update(token).digest('base64url');
    const now = this.now();
    const hit = this.verified.get(key);
    if (hit) {
      if (hit.until > now) return copyCaller(hit.caller);
      this.verified.delete(key);
    }
    const { caller, exp } = await this.verifyTokenWithExpiry(token);
    const until = Math.min(exp * 1000, now + cacheSeconds * 1000);
    if (until > now) {
      if (this.verified.size >= VERIFIED_CACHE_ENTRIES) this.evict(now);
      this.verified.set(key, { caller: copyCaller(caller), until });
    }
    return caller;
  }

  /** Drops expired entries, then the oldest ones, until there is room. */
  private evict(now: number): void {
    for (const [key, entry] of this.verified) if (entry.until <= now) this.verified.delete(key);
    for (const key of this.verified.keys()) {
      if (this.verified.size < VERIFIED_CACHE_ENTRIES) break;
      this.verified.delete(key);
    }
  }

  private async verifyTokenWithExpiry(token: string): Promise<{ caller: Caller; exp: number }> {
    // One spelling per token: jose decodes base64url leniently, so `==` appended or other unused low bits in a last
    // character verified too (a probe). Harmless here (nothing is keyed by a token's text but the cache, which only
    // holds what verified), but a denylist in front keyed on the string could be walked around.
    if (!isCanonicalCompactJws(token)) throw new UnauthenticatedError('The token is invalid', 'invalid_token');
    let payload: JWTPayload;
    try {
      payload = await verifyAgainstKeySet(token, this.options.jwks, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: ACCEPTED_ALGORITHMS,
        clockTolerance: this.options.clockToleranceSeconds,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp'],
      });
    } catch (error) {
      // The key set out of reach is no fault of the token: `invalid_token` would send OAuth clients to refresh tokens
      // again and again through an outage of ours (a regression probe).
      if (error instanceof KeySetUnavailableError) throw new UnauthenticatedError('The keys to verify the token could not be fetched', null);
      throw new UnauthenticatedError(describeJoseFailure(error), error instanceof joseErrors.JWKSTimeout ? null : 'invalid_token');
    }
    if (typeof payload.sub !== 'string' || !isUsableSubject(payload.sub)) {
      throw new UnauthenticatedError('The token has no usable subject', 'invalid_token');
    }
    // Times a clock can hold: jose took `"exp": 1e999` (JSON reads Infinity) and `1e300` for a token that never expires,
    // and `"iat": -1e999` (a probe). Seconds from 1970 to the end of 9999, as the DateTime scalar takes.
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const value = payload[claim];
      if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_CLAIM_SECONDS)) {
        throw new UnauthenticatedError(`The token's ${claim} claim is not accepted`, 'invalid_token');
      }
    }
    // jose checks iat only with maxTokenAge: a token that claims to be issued in the future is refused here.
    if (typeof payload.iat === 'number' && payload.iat * 1000 > this.now() + this.options.clockToleranceSeconds * 1000) {
      throw new UnauthenticatedError("The token's iat claim is not accepted", 'invalid_token');
    }
    const scopes = readScopes(payload);
    // requiredClaims makes jose reject a token without a numeric exp.
    return { caller: { id: payload.sub, kind: classifyCaller(scopes), scopes }, exp: payload.exp as number };
  }
}

/**
 * The keys one token is tried against when several fit it: a rotation publishes two or three, a key listed twice is
 * two. A token without a `kid` fits every key of its type, those with a `kid` too, so a set of more than this many
 * such keys verifies kid-less tokens of its first ones only, and says so (a probe got "The token signature is
 * invalid" for the fifth key of a set whose keys all had a kid).
 */
const MAX_KEYS_TRIED = 4;

/** More keys fit the token than are tried, and none of those tried verified it. */
class TooManyFittingKeysError extends Error {}

/** Failures of the token itself, whichever key it is checked with: its form, its algorithm, or a claim. */
const TOKEN_FAULTS = [joseErrors.JWTClaimValidationFailed, joseErrors.JWTExpired, joseErrors.JWTInvalid, joseErrors.JWSInvalid, joseErrors.JOSEAlgNotAllowed];

/**
 * jwtVerify against the key set, trying each key when several fit the token: keys without a `kid` (RFC 7517 makes it
 * optional; an old and a new key during a rotation) or one listed twice. jose refuses the token then
 * (JWKSMultipleMatchingKeys) and leaves it to the caller to try them, and every such token was refused as invalid by a
 * server that had started and reported ready (a probe). A key that does not verify the signature, or cannot be used at
 * all (an RSA key under 2048 bits, which a key set fetched again after start may hold: it stopped the search before
 * the good key; a regression probe), is passed over; a claim that fails (an expired token, a wrong audience) is checked
 * after the signature verified, so it is the token's, whichever key verified it.
 */
async function verifyAgainstKeySet(token: string, jwks: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, jwks, options)).payload;
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
    let tried = 0;
    for await (const key of error as joseErrors.JWKSMultipleMatchingKeys & AsyncIterable<CryptoKey>) {
      // Bounded: each try is a signature check, and a token signed by none of 50 keys cost 50 of them (44 ms with
      // ES512) on every request, which 20 requests a second without credentials could keep up (a regression probe).
      if (++tried > MAX_KEYS_TRIED) throw new TooManyFittingKeysError();
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (TOKEN_FAULTS.some((fault) => inner instanceof fault)) throw inner;
        continue;
      }
    }
    throw new joseErrors.JWSSignatureVerificationFailed();
  }
}

// Controls, unpaired surrogates, private-use and unassigned code points, every space but the ASCII one, the
// default-ignorable code points (zero-width characters, variation selectors, the combining grapheme joiner, Hangul
// fillers, Khmer and Mongolian invisibles, tags: drawn as nothing) and the braille blank. Probes approved their own
// grants as `agent-7\u3164` and then as `agent-7\u034f`.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000\u2800]/u;

/**
 * A subject is compared exactly (the two-person rule, grants, the audit actor): one that is blank, padded, carries
 * invisible characters, or is not in Unicode's composed form (NFC: `jose\u0301` beside `josé`) would be a second
 * identity that looks like the first, so it is refused.
 */
function isUsableSubject(sub: string): boolean {
  return (
    sub.length > 0 && sub.length <= MAX_SUBJECT_LENGTH && sub.trim() === sub && !INVISIBLE.test(sub) && sub.normalize('NFC') === sub
  );
}

const PRIVATE_KEY_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ASYMMETRIC_KEY_TYPES = ['RSA', 'EC', 'OKP'];

/**
 * A key set this server may trust: at least one key, every key public and
 * asymmetric (a symmetric `oct` key could only verify HS* tokens, which are
 * refused anyway), and any `alg` one of the accepted algorithms. A key set
 * holding private key material is refused: whoever published it has leaked
 * the signing key. Messages name the key by position, never its content.
 * Encryption keys (`"use": "enc"`, or `key_ops` without `verify`), which some
 * providers publish beside their signing keys, are never used to verify and are
 * not looked at further; at least one signing key must be left, and each must
 * fit its `alg` (a P-256 key labelled ES512 verifies nothing).
 */
export function checkKeySet(value: unknown, variable: string): JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys)) throw new ConfigError(`${variable}: is not a JSON Web Key Set (an object with a "keys" array)`);
  if (keys.length === 0) throw new ConfigError(`${variable}: the key set has no keys`);
  let signingKeys = 0;
  keys.forEach((key: unknown, i) => {
    if (typeof key !== 'object' || key === null) throw new ConfigError(`${variable}: key ${i} is not an object`);
    const { kty, alg, use, key_ops: keyOps } = key as { kty?: unknown; alg?: unknown; use?: unknown; key_ops?: unknown };
    if (PRIVATE_KEY_MEMBERS.some((member) => member in key)) {
      throw new ConfigError(`${variable}: key ${i} holds private or secret key material; publish public keys only`);
    }
    if (use !== undefined && typeof use !== 'string') throw new ConfigError(`${variable}: key ${i} has a "use" that is not a string`);
    // As jose reads them, which refuses such a key for every token (a regression probe).
    if (keyOps !== undefined && (!Array.isArray(keyOps) || !keyOps.every((op) => typeof op === 'string') || new Set(keyOps).size !== keyOps.length)) {
      throw new ConfigError(`${variable}: key ${i} has "key_ops" that are not a list of distinct strings`);
    }
    const { ext } = key as { ext?: unknown };
    if (ext !== undefined && typeof ext !== 'boolean') throw new ConfigError(`${variable}: key ${i} has an "ext" that is not true or false`);
    // jose never picks such a key to verify with (a probe's set of one "use": "enc" key started, reported ready and
    // refused every token); Keycloak publishes an RSA-OAEP key beside its signing keys.
    if ((use !== undefined && use !== 'sig') || (keyOps !== undefined && !(keyOps as string[]).includes('verify'))) return;
    if (typeof kty !== 'string' || !ASYMMETRIC_KEY_TYPES.includes(kty)) {
      throw new ConfigError(`${variable}: key ${i} is not an asymmetric key (kty must be RSA, EC or OKP)`);
    }
    if (alg !== undefined && (typeof alg !== 'string' || !ACCEPTED_ALGORITHMS.includes(alg))) {
      throw new ConfigError(`${variable}: key ${i} has an algorithm that is not accepted (${ACCEPTED_ALGORITHMS.join(', ')})`);
    }
    // A key that cannot be imported (an EC key without coordinates, a point off the curve, a toy RSA modulus)
    // would start a server that refuses every token: refuse it here instead.
    const publicKey = usablePublicKey(key);
    if (!publicKey) throw new ConfigError(`${variable}: key ${i} is not a usable public key (missing or invalid key material, or RSA under 2048 bits)`);
    // A key labelled with an algorithm of another key type or curve (a P-256 key as ES512; a probe), or with no label
    // on a curve no accepted algorithm uses (secp256k1), verifies no token.
    const fits = ACCEPTED_ALGORITHMS.filter((accepted) => fitsAlgorithm(publicKey, accepted));
    // An unlabelled key of another kind (X25519, secp256k1) beside the signing keys is passed over, as jose does.
    if (alg === undefined && fits.length === 0) return;
    if (alg !== undefined && !fits.includes(alg as string)) {
      throw new ConfigError(`${variable}: key ${i} cannot verify ${String(alg)} (its key type or curve fits ${fits.join(', ') || 'none of them'})`);
    }
    signingKeys += 1;
  });
  if (signingKeys === 0) throw new ConfigError(`${variable}: the key set has no key that can verify tokens (every key is for encryption, or of a kind no accepted algorithm uses)`);
  return value as JSONWebKeySet;
}

function usablePublicKey(jwk: object): KeyObject | null {
  try {
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    return key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? key : null;
  } catch {
    return null;
  }
}

const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

function fitsAlgorithm(key: KeyObject, alg: string): boolean {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa';
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss';
  // jose 6 verifies EdDSA with Ed25519 keys only (an Ed448 key passed and verified nothing; a regression probe).
  if (alg === 'EdDSA') return type === 'ed25519';
  return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === EC_CURVES[alg];
}

async function readKeySetFile(file: string): Promise<unknown> {
  let text: string;
  try {
    // A regular file of a key set's size: a FIFO held start-up (and then the stop: the blocked read holds a thread
    // process.exit waits for) until something wrote to it, and /dev/zero grew to 700 MB before failing (a probe).
    const found = await stat(file);
    if (!found.isFile()) throw new ConfigError('AUTH_JWKS_FILE: is not a regular file');
    if (found.size > MAX_KEY_SET_FILE_BYTES) throw new ConfigError(`AUTH_JWKS_FILE: the file is larger than ${MAX_KEY_SET_FILE_BYTES} bytes, which no key set needs`);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`AUTH_JWKS_FILE: cannot read the file (${describeCause(error)})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // JSON.parse's message quotes the file's content.
    throw new ConfigError('AUTH_JWKS_FILE: the file is not valid JSON');
  }
}

/**
 * jose's remote key set (cached, refetched on an unknown kid), fetched once
 * now; failures to fetch it are reported at most every 30 s, however many
 * requests hit them.
 */
async function remoteKeySet(url: string, report: (cause: unknown) => void): Promise<JWTVerifyGetKey> {
  const remote = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  let lastReport = -Infinity;
  const onUnavailable = (cause: unknown) => {
    if (Date.now() - lastReport < 30_000) return;
    lastReport = Date.now();
    report(cause);
  };
  try {
    await remote.reload();
    if (remote.jwks()) checkKeySet(remote.jwks(), 'AUTH_JWKS_URL');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // The URL answered 200 with something that is no key set: the issuer's discovery document, `{}`, an HTML page. A
    // mistake in the configuration, not an outage: the replica started, reported ready and refused every token,
    // with a warning that blamed reachability (a probe pointed it at `/.well-known/openid-configuration`).
    if (isNotAKeySet(error)) {
      throw new ConfigError('AUTH_JWKS_URL: the URL answers with something other than a JSON Web Key Set (is it the issuer or discovery address instead of its jwks_uri?)');
    }
    onUnavailable(error);
  }
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      // An unknown kid or a bad signature is the token's fault; anything else means the key set is out of reach.
      if (!(error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys || error instanceof joseErrors.JOSEAlgNotAllowed)) {
        onUnavailable(error);
        throw new KeySetUnavailableError();
      }
      throw error;
    }
  };
}

/** The remote key set could not be fetched (an outage, a timeout, an answer cut short): the token is not at fault. */
class KeySetUnavailableError extends Error {}

/**
 * jose's answer to a 200 response that is not a key set: JWKSInvalid for JSON of another shape, and a plain JOSEError
 * (no class of its own; its message, checked by test/unit/token-verifier.test.ts) whose cause is a SyntaxError for a
 * body that is not JSON. A body cut off by the network fails that parse too, with another cause: an outage (a
 * regression probe).
 */
function isNotAKeySet(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSInvalid) return true;
  return (
    error instanceof joseErrors.JOSEError &&
    error.message.startsWith('Failed to parse the JSON Web Key Set HTTP response as JSON') &&
    (error as { cause?: unknown }).cause instanceof SyntaxError
  );
}

/** Three base64url segments, each exactly as base64url encodes its bytes (no padding, no stray low bits). */
function isCanonicalCompactJws(token: string): boolean {
  const segments = token.split('.');
  return segments.length === 3 && segments.every((segment) => segment.length > 0 && Buffer.from(segment, 'base64url').toString('base64url') === segment);
}

/** Each request gets its own copy: nothing a request does to its caller reaches the next one. */
function copyCaller(caller: Caller): Caller {
  return { id: caller.id, kind: caller.kind, scopes: new Set(caller.scopes) };
}

function extractBearer(header: string | undefined): string {
  if (!header) throw new UnauthenticatedError('An Authorization: Bearer token is required');
  const match = /^Bearer[ \t]+([A-Za-z0-9_\-.]+)$/i.exec(header.trim());
  // Another scheme (`Basic`) carries no error code (RFC 6750 §3.1: the client used a method this server does not take);
  // a Bearer header that holds no token is a malformed request.
  // No quotes in the message: it goes into the challenge's error_description, which leaves out one holding a `"` (an
  // empty `Bearer` got invalid_request without its reason; a probe).
  if (!match?.[1]) throw new UnauthenticatedError('The Authorization header must be Bearer followed by a JWT', /^Bearer(?:[ \t]|$)/i.test(header.trim()) ? 'invalid_request' : null);
  if (match[1].length > MAX_TOKEN_LENGTH) throw new UnauthenticatedError(`The token is longer than ${MAX_TOKEN_LENGTH} characters`, 'invalid_request');
  return match[1];
}

/** 9999-12-31T23:59:59Z in seconds: the latest time claim a token may carry. */
const MAX_CLAIM_SECONDS = 253_402_300_799;

/**
 * `scope` (RFC 8693: a space-separated string) and `scp` (an array in many providers, a space-separated string in
 * Microsoft Entra ID's access tokens): either claim, in either shape. Anything else in them grants nothing.
 */
function readScopes(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  for (const claim of [payload['scope'], payload['scp']]) {
    // Spaces only (RFC 6749 §3.3 `%x20`), as the Router splits it: a tab granted `customer:read` in `foo\tcustomer:read`
    // here, which the Router reads as one unknown scope (a probe).
    const values = typeof claim === 'string' ? claim.split(/ +/) : Array.isArray(claim) ? claim : [];
    for (const s of values) if (typeof s === 'string' && s) scopes.add(s);
  }
  return scopes;
}

/** A short, fixed description: what failed, never the token's content. */
function describeJoseFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `The token's ${error.claim} claim is not accepted`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The token algorithm is not accepted';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'The token was not signed by a trusted key';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  if (error instanceof TooManyFittingKeysError) {
    return `The token was not verified by the first ${MAX_KEYS_TRIED} keys of the set that fit it, and no more are tried: its issuer should name the key in a kid, one per key`;
  }
  if (error instanceof joseErrors.JWKSTimeout) return 'The key set could not be fetched in time';
  return 'The token is invalid';
}
