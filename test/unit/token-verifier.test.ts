import { describe, expect, it } from 'vitest';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type JWTVerifyGetKey } from 'jose';
import { TokenVerifier } from '../../src/auth/token-verifier.js';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'veil-test';

async function setup(verifiedCacheSeconds: number) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const local = createLocalJWKSet({ keys: [jwk] });
  let keyLookups = 0;
  const jwks: JWTVerifyGetKey = (header, token) => {
    keyLookups += 1;
    return local(header, token);
  };
  let clock = Date.now();
  const verifier = new TokenVerifier({ jwks, issuer: ISSUER, audience: AUDIENCE, clockToleranceSeconds: 0, verifiedCacheSeconds, now: () => clock });
  const mint = (sub: string, scopes: string, expiresInSeconds = 3600) =>
    new SignJWT({ scope: scopes })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(Math.floor(clock / 1000))
      .setExpirationTime(Math.floor(clock / 1000) + expiresInSeconds)
      .sign(privateKey);
  return {
    verifier,
    mint,
    lookups: () => keyLookups,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('TokenVerifier verified-token cache', () => {
  it('checks the signature of a repeated token once per window, and again after it', async () => {
    const t = await setup(60);
    const token = await t.mint('agent-1', 'customer:read pii:read');
    const first = await t.verifier.verifyAuthorization(`Bearer ${token}`);
    const second = await t.verifier.verifyAuthorization(`Bearer ${token}`);
    expect(t.lookups()).toBe(1);
    expect(second).toEqual(first);
    expect([...second.scopes].sort()).toEqual(['customer:read', 'pii:read']);
    expect(second.scopes).not.toBe(first.scopes);
    t.advance(61_000);
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    expect(t.lookups()).toBe(2);
  });

  it('verifies every request when the cache is off', async () => {
    const t = await setup(0);
    const token = await t.mint('agent-1', 'customer:read');
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    expect(t.lookups()).toBe(2);
  });

  it('never serves a token past its exp, even inside the window', async () => {
    const t = await setup(60);
    const token = await t.mint('agent-1', 'customer:read', 10);
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    t.advance(11_000);
    await expect(t.verifier.verifyAuthorization(`Bearer ${token}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(t.lookups()).toBe(2);
  });

  it('does not cache failures, and a tampered copy of a cached token is rejected', async () => {
    const t = await setup(60);
    const token = await t.mint('agent-1', 'customer:read');
    await t.verifier.verifyAuthorization(`Bearer ${token}`);
    const [h, p, sig] = token.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'customer:read audit:read' })).toString('base64url');
    const forged = `${h}.${forgedPayload}.${sig}`;
    for (let i = 0; i < 2; i++) {
      await expect(t.verifier.verifyAuthorization(`Bearer ${forged}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    }
    expect(t.lookups()).toBe(3);
  });
});

describe('TokenVerifier claims', () => {
  it('refuses a token issued in the future (beyond the clock tolerance)', async () => {
    const t = await setup(60);
    t.advance(120_000);
    const future = await t.mint('agent-1', 'customer:read');
    t.advance(-120_000);
    await expect(t.verifier.verifyAuthorization(`Bearer ${future}`)).rejects.toMatchObject({
      message: "The token's iat claim is not accepted",
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});
