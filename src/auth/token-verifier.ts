import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { UnauthenticatedError } from '../errors.js';
import { classifyCaller, type Caller } from './caller.js';

/** Asymmetric algorithms only: an HS256 token signed with a public key as secret must never verify. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const MAX_TOKEN_LENGTH = 8192;
const MAX_SUBJECT_LENGTH = 256;

export interface TokenVerifierOptions {
  jwks: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
}

export class TokenVerifier {
  constructor(private readonly options: TokenVerifierOptions) {}

  static async fromSource(source: {
    jwksUrl: string | null;
    jwksFile: string | null;
    jwks?: JSONWebKeySet;
    issuer: string;
    audience: string;
    clockToleranceSeconds: number;
  }): Promise<TokenVerifier> {
    let jwks: JWTVerifyGetKey;
    if (source.jwks) jwks = createLocalJWKSet(source.jwks);
    else if (source.jwksUrl) jwks = createRemoteJWKSet(new URL(source.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    else if (source.jwksFile) jwks = createLocalJWKSet(JSON.parse(await readFile(source.jwksFile, 'utf8')) as JSONWebKeySet);
    else throw new Error('no JWKS source configured');
    return new TokenVerifier({ jwks, issuer: source.issuer, audience: source.audience, clockToleranceSeconds: source.clockToleranceSeconds });
  }

  /** Verifies an Authorization header value. Every failure is the same UNAUTHENTICATED error to the caller. */
  async verifyAuthorization(header: string | undefined): Promise<Caller> {
    const token = extractBearer(header);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.options.jwks, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: ACCEPTED_ALGORITHMS,
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw new UnauthenticatedError(describeJoseFailure(error));
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > MAX_SUBJECT_LENGTH) {
      throw new UnauthenticatedError('The token has no usable subject');
    }
    const scopes = readScopes(payload);
    return { id: payload.sub, kind: classifyCaller(scopes), scopes };
  }
}

function extractBearer(header: string | undefined): string {
  if (!header) throw new UnauthenticatedError('An Authorization: Bearer token is required');
  const match = /^Bearer ([A-Za-z0-9_\-.=]+)$/i.exec(header.trim());
  if (!match?.[1] || match[1].length > MAX_TOKEN_LENGTH) {
    throw new UnauthenticatedError('The Authorization header must be "Bearer <JWT>"');
  }
  return match[1];
}

function readScopes(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  if (typeof payload.scope === 'string') for (const s of payload.scope.split(' ')) if (s) scopes.add(s);
  if (Array.isArray(payload.scp)) for (const s of payload.scp) if (typeof s === 'string' && s) scopes.add(s);
  return scopes;
}

/** A short, fixed description: what failed, never the token's content. */
function describeJoseFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `The token's ${error.claim} claim is not accepted`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The token algorithm is not accepted';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'The token was not signed by a trusted key';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  if (error instanceof joseErrors.JWKSTimeout) return 'The key set could not be fetched in time';
  return 'The token is invalid';
}
