import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { generateHmacKeySpec } from '../identity/hmac-keyring.js';
import { generateMasterKeyBase64 } from '../identity/pii-envelope.js';

export const DEV_ISSUER = 'https://veil.dev.local/';
export const DEV_AUDIENCE = 'veil-subgraph';

/** Development secrets. Kept under .data/ (never committed) so a restart can still read what the last run wrote. */
export interface DevKeys {
  identityHmacKeys: string;
  piiMasterKey: string;
  signingKey: { kid: string; privateJwk: JWK; publicJwk: JWK };
}

export async function generateDevKeys(): Promise<DevKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `dev-${Date.now().toString(36)}`;
  return {
    identityHmacKeys: generateHmacKeySpec('v1'),
    piiMasterKey: generateMasterKeyBase64(),
    signingKey: {
      kid,
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    },
  };
}

export async function loadOrCreateDevKeys(dataDir: string): Promise<{ keys: DevKeys; isNew: boolean }> {
  const file = join(dataDir, 'dev-keys.json');
  if (existsSync(file)) {
    let keys: unknown;
    try {
      keys = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw error instanceof SyntaxError ? new SyntaxError('dev-keys.json is not JSON') : error;
    }
    // `{}` or `null` started the dev services and then failed on a missing property, naming nothing (a probe).
    if (!isDevKeys(keys)) throw new SyntaxError('dev-keys.json is not a development key file');
    return { keys, isNew: false };
  }
  const keys = await generateDevKeys();
  await mkdir(dataDir, { recursive: true });
  await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  await chmod(file, 0o600);
  return { keys, isNew: true };
}

function isDevKeys(value: unknown): value is DevKeys {
  const keys = value as Partial<DevKeys> | null;
  const signing = keys?.signingKey;
  return (
    typeof keys?.identityHmacKeys === 'string' &&
    typeof keys.piiMasterKey === 'string' &&
    typeof signing?.kid === 'string' &&
    typeof signing.privateJwk === 'object' &&
    signing.privateJwk !== null &&
    typeof signing.publicJwk === 'object' &&
    signing.publicJwk !== null
  );
}

export function devJwks(keys: DevKeys): JSONWebKeySet {
  return { keys: [keys.signingKey.publicJwk] };
}

export interface TokenRequest {
  sub: string;
  scopes: readonly string[];
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
}

/** Signs a token with the dev key: what an identity provider would issue to an agent or a service. */
export async function mintToken(keys: DevKeys, request: TokenRequest): Promise<string> {
  const key = await importJWK(keys.signingKey.privateJwk, 'ES256');
  return new SignJWT({ scope: request.scopes.join(' ') })
    .setProtectedHeader({ alg: 'ES256', kid: keys.signingKey.kid, typ: 'JWT' })
    .setSubject(request.sub)
    .setIssuer(request.issuer ?? DEV_ISSUER)
    .setAudience(request.audience ?? DEV_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${request.ttlSeconds ?? 3600}s`)
    .sign(key);
}

/** Demo roles printed by `npm start`. */
export const DEMO_ROLES: ReadonlyArray<{ name: string; sub: string; scopes: string[]; what: string }> = [
  { name: 'agent', sub: 'agent-alex', scopes: ['customer:read', 'context:read', 'consent:read'], what: 'front-line agent: masked PII, context' },
  {
    name: 'senior-agent',
    sub: 'agent-sam',
    scopes: ['customer:read', 'context:read', 'consent:read', 'pii:read', 'fraud:read'],
    what: 'may request PII access grants and see device fingerprints',
  },
  { name: 'supervisor', sub: 'supervisor-kim', scopes: ['customer:read', 'pii:approve', 'audit:read'], what: 'approves PII access, reads audit trails' },
  { name: 'dpo', sub: 'dpo-riley', scopes: ['dsar:process', 'audit:read', 'customer:read'], what: 'data-subject exports and erasure' },
  {
    name: 'crm-service',
    sub: 'svc-crm',
    scopes: ['identity:resolve', 'identity:write', 'consent:write', 'context:write'],
    what: 'CRM integration: registers, resolves, pushes consent and support activity',
  },
];
